import type { Family } from './spec.ts';

/** `realip check`: the code on each line that is not `[ok]`, and the verdict. */
export const CHECK_ERRORS = {
  CHK_API_UNREACHABLE: {
    level: 'fail',
    meaning:
      'The Kubernetes API server did not answer `/version` with this kubeconfig: connection refused (down, wrong address), timeout, name not resolved, reset.',
    action: 'Check `--kubeconfig` / `--context`; is the API server up?',
  },
  CHK_API_TLS: {
    level: 'fail',
    meaning:
      "TLS failure: the API server's certificate does not verify against the kubeconfig's `certificate-authority` (wrong CA, wrong server).",
    action: "Use the cluster's CA in the kubeconfig.",
  },
  CHK_API_UNAUTHORIZED: {
    level: 'fail',
    meaning:
      "HTTP 401: the API server does not accept the kubeconfig's credentials (expired or foreign token).",
    action: 'Refresh the credentials.',
  },
  CHK_API_ERROR: {
    level: 'fail',
    meaning: '`/version` answered another HTTP error; the detail has the status and message.',
    action: 'See the detail.',
  },
  CHK_FORBIDDEN: {
    level: 'fail',
    meaning:
      'HTTP 403 on a read the check needs (the webhook configuration, namespaces, the Secret, the dry-run pod); the message names the user, verb and resource.',
    action:
      'Run `realip check` as a user who may read those (cluster-admin, or `get` on mutatingwebhookconfigurations, `list` namespaces, services and pods, `create` pods with dry run).',
  },
  CHK_KUBECONFIG_INVALID: {
    exit: 2,
    meaning:
      'The kubeconfig cannot be loaded, or has no current cluster (printed as `realip check: CHK_KUBECONFIG_INVALID: ...`).',
    action: 'Fix the file or `--context`.',
  },
  CHK_FAILED: {
    exit: 1,
    meaning: 'The verdict line: how many checks failed and their codes.',
    action: 'See the failing lines.',
  },
  CHK_CONFIG_MISSING: {
    level: 'fail',
    meaning: 'No MutatingWebhookConfiguration named `--config-name` (or it has no webhooks).',
    action: "`helm install`; pass the release's full name as `--config-name`.",
  },
  CHK_CA_BUNDLE_MISSING: {
    level: 'fail',
    meaning:
      "The webhook's `caBundle` is empty or not PEM certificates: the API server cannot trust the webhook.",
    action:
      'Self-managed: is the webhook running (it patches the caBundle at start)? cert-manager: is cainjector running?',
  },
  CHK_CERT_UNAVAILABLE: {
    level: 'fail',
    meaning:
      "The serving certificate could not be read: no TLS handshake at the webhook's URL, or no `tls.crt` in its Secret.",
    action: 'See the detail; `--webhook-url` (after `kubectl port-forward`) or `--tls-secret-name`.',
  },
  CHK_CA_MISMATCH: {
    level: 'fail',
    meaning:
      'The serving certificate is not signed by a CA in the caBundle, or is not valid for the name the API server dials.',
    action: 'Restart the webhook (self-managed), or fix `tls.caBundle` / the Secret (mode `secret`).',
  },
  CHK_CERT_EXPIRING: {
    level: 'fail',
    meaning: 'The serving certificate expires within `--min-validity-days` (default 30), or has expired.',
    action:
      'Self-managed rotates 30 days before expiry: is the webhook running? cert-manager: check the Certificate.',
  },
  CHK_WEBHOOK_UNREACHABLE: {
    level: 'fail',
    meaning:
      "An AdmissionReview sent to the webhook (at its URL, or through the API server's service proxy) got no valid answer.",
    action: "Check the webhook pods, their readiness and the Service's endpoints.",
  },
  CHK_NO_LABELLED_NAMESPACE: {
    level: 'warn',
    meaning: 'No namespace carries `realip.dev/inject=enabled`, so nothing is injected.',
    action: '`kubectl label namespace NAME realip.dev/inject=enabled`.',
  },
  CHK_NAMESPACE_EXCLUDED: {
    level: 'warn',
    meaning:
      "A labelled namespace is excluded by the webhook's namespaceSelector (kube-system, the release namespace, `excludedNamespaces`).",
    action: 'Expected for those; otherwise remove it from `webhook.excludedNamespaces`.',
  },
  CHK_POD_SECURITY_PORT_MODE: {
    level: 'warn',
    meaning:
      'A labelled namespace enforces Pod Security `baseline` or `restricted` (or an unknown level): the webhook injects in port mode there (no NET_ADMIN init container, no transparent listeners).',
    action: "The edge Service must target the sidecar's port (see `CHK_SERVICE_BYPASSES_SIDECAR`).",
  },
  CHK_NAMESPACES_UNREADABLE: {
    level: 'fail',
    meaning: 'Namespaces could not be listed with this kubeconfig.',
    action: 'Use a kubeconfig allowed to list namespaces.',
  },
  CHK_NOT_INJECTED: {
    level: 'fail',
    meaning:
      'A server-side dry-run pod in a labelled namespace came back without exactly one `realip-sidecar` container.',
    action:
      'The webhook was not called or skipped the pod: see its logs; with failurePolicy Ignore, a down webhook shows so.',
  },
  CHK_SERVICE_BYPASSES_SIDECAR: {
    level: 'warn',
    meaning:
      "An edge Service (LoadBalancer, NodePort) in an injected namespace targets the app's port of a pod injected in port mode: its connections bypass the sidecar and the app receives the PROXY header.",
    action:
      "Set the Service's `targetPort` to the sidecar's named port (`realip-<name>`; the line names it).",
  },
  CHK_SERVICES_UNREADABLE: {
    level: 'warn',
    meaning: 'The Services or pods of an injected namespace could not be listed.',
    action: 'Use a kubeconfig allowed to list them.',
  },
  CHK_DRY_RUN_FAILED: {
    level: 'fail',
    meaning:
      'The server-side dry-run pod was refused (with failurePolicy Fail, a webhook that cannot be called refuses pods).',
    action: 'See the detail.',
  },
} as const satisfies Family<'CHK'>;
