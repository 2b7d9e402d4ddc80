{{/* Chart name. */}}
{{- define "realip.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full resource name prefix: the release name, plus the chart name unless it already contains it. */}}
{{- define "realip.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "realip.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "realip.selectorLabels" -}}
app.kubernetes.io/name: {{ include "realip.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "realip.labels" -}}
helm.sh/chart: {{ include "realip.chart" . }}
{{ include "realip.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "realip.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "realip.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the serving certificate (written by the webhook in self-managed mode). */}}
{{- define "realip.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "realip.fullname" .)) .Values.tls.secretName }}
{{- end }}

{{/* The MutatingWebhookConfiguration (cluster-scoped, so it carries the release namespace unless the
fullname is overridden: two releases in two namespaces must not collide). */}}
{{- define "realip.webhookConfigName" -}}
{{- include "realip.fullname" . }}
{{- end }}

{{- define "realip.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) }}
{{- end }}

{{- define "realip.webhookImage" -}}
{{- include "realip.image" (dict "repository" .Values.image.repository "tag" .Values.image.tag "appVersion" .Chart.AppVersion) }}
{{- end }}

{{- define "realip.sidecarImage" -}}
{{- $i := .Values.injection.sidecar.image }}
{{- include "realip.image" (dict "repository" $i.repository "tag" $i.tag "appVersion" .Chart.AppVersion) }}
{{- end }}

{{/* Cross-field checks that JSON Schema cannot phrase clearly. */}}
{{- define "realip.validate" -}}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.secretName) }}
{{- fail "tls.mode=secret needs tls.secretName: the name of an existing kubernetes.io/tls Secret in the release namespace" }}
{{- end }}
{{- if and (eq .Values.tls.mode "secret") (not .Values.tls.caBundle) }}
{{- fail "tls.mode=secret needs tls.caBundle: the PEM CA certificate that signed the Secret's certificate" }}
{{- end }}
{{- if and .Values.tls.caBundle (ne .Values.tls.mode "secret") }}
{{- fail (printf "tls.caBundle is only used with tls.mode=secret (tls.mode is %q): the caBundle is managed for you in that mode" .Values.tls.mode) }}
{{- end }}
{{- end }}
