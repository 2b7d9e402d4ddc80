/**
 * The options of `realip webhook` and `realip inject`, each declared once: flag, REALIP_* variable,
 * kind, default, bounds and help (the chart passes the variables; docs/webhook.md's table comes
 * from here, `npm run docs:options`).
 */
import { Defaults, Env, PROXY_OPTION, SIDECAR_UID, STEERING_MODES } from '../common/contract.ts';
import { LOG_LEVEL_OPTION } from '../common/logger.ts';
import { type OptionSchema, optionList } from '../common/option-schema.ts';
import { version } from '../common/version.ts';
import { NATIVE_SIDECAR_MODES, PULL_POLICIES } from './admission/decide.ts';

/** The chart's default (injection.sidecar.image: repository, tag = appVersion = package version). */
export const DEFAULT_SIDECAR_IMAGE = `ghcr.io/realip/realip-sidecar:${version()}`;

/**
 * Sidecar resources, from `npm run bench:http` (compiled dist/, --max-semi-space-size=1 as in the
 * image; 2-core machine): RSS 62 MB idle, 118 MB at 1,000 keep-alive connections (earlier runs:
 * 85-166 MB; docs/decisions.md), about 0.4 core at 8,000 req/s over those connections;
 * `npm run bench:tcp`: 62 MB idle, 86 MB at 1,000 tcp connections. Request:
 * idle plus headroom, so a node is not overcommitted by quiet sidecars; limit: the highest
 * measured peak plus ~50%, so a busy sidecar is not OOM-killed. No CPU limit (throttling adds
 * latency to every request).
 */
export const DEFAULT_SIDECAR_RESOURCES = Object.freeze({
  cpuRequest: '50m',
  memoryRequest: '96Mi',
  cpuLimit: 'none',
  memoryLimit: '256Mi',
});

/** The injection defaults: taken by both `realip webhook` and `realip inject`. */
export const INJECTION_SCHEMA = {
  sidecarImage: {
    flag: 'sidecar-image',
    env: 'REALIP_SIDECAR_IMAGE',
    kind: 'string',
    default: DEFAULT_SIDECAR_IMAGE,
    help: 'image of the sidecar and init containers',
    docDefault: '`ghcr.io/realip/realip-sidecar:<version>`',
    doc: "image for `realip-sidecar` and `realip-init`; the default is the chart's",
  },
  sidecarImagePullPolicy: {
    flag: 'sidecar-image-pull-policy',
    env: 'REALIP_SIDECAR_IMAGE_PULL_POLICY',
    kind: 'enum',
    values: PULL_POLICIES,
    help: 'Always | IfNotPresent | Never (unset: the cluster default)',
    docDefault: 'unset',
    doc: 'Always, IfNotPresent or Never',
  },
  trustedCidrs: {
    flag: 'trusted-cidrs',
    env: Env.trustedCidrs,
    kind: 'list',
    default: '',
    help: 'comma-separated CIDRs whose PROXY headers the sidecar honours (the edge, the nodes)',
    docDefault: 'empty (trust nobody)',
    doc: 'sources whose PROXY headers the sidecar accepts (the edge, the nodes)',
  },
  proxy: {
    ...PROXY_OPTION,
    help: 'required | optional: may a trusted source omit the PROXY header',
    doc: '`required` or `optional` (a trusted source may leave out the header)',
  },
  steering: {
    flag: 'steering',
    env: 'REALIP_STEERING',
    kind: 'enum',
    values: STEERING_MODES,
    default: 'redirect',
    help: 'redirect (iptables, init container) | port (Service targets the sidecar port)',
    doc: '`redirect` (iptables, init container) or `port` (the Service targets the sidecar)',
  },
  redirectFrom: {
    flag: 'redirect-from',
    env: Env.redirectFrom,
    kind: 'list',
    default: '',
    help: 'comma-separated source CIDRs steered into the sidecar (empty: the trusted CIDRs; every source: 0.0.0.0/0,::/0)',
    docDefault: 'empty: the trusted CIDRs',
    doc: 'redirect mode: only these sources are steered into the sidecar (passed to `realip init`); every source: `0.0.0.0/0,::/0`',
  },
  listenerPortBase: {
    flag: 'listener-port-base',
    env: 'REALIP_LISTENER_PORT_BASE',
    kind: 'port',
    default: Defaults.sidecarPortBase,
    help: 'first sidecar listener port; ports the pod declares are stepped over',
  },
  sidecarAdminPort: {
    flag: 'sidecar-admin-port',
    env: 'REALIP_SIDECAR_ADMIN_PORT',
    kind: 'port',
    default: Defaults.adminPort,
    help: "the sidecar's admin port (probes, /metrics); moved up past ports the pod declares",
    doc: "the sidecar's admin port; moved up past ports the pod declares",
  },
  sidecarUid: {
    flag: 'sidecar-uid',
    env: 'REALIP_SIDECAR_UID',
    kind: 'int',
    default: SIDECAR_UID,
    help: 'uid and gid of the non-root sidecar; moved up past uids the pod declares',
    doc: 'uid/gid of the non-root sidecar; moved up past uids the pod declares; not 0',
  },
  nativeSidecar: {
    flag: 'native-sidecar',
    env: 'REALIP_NATIVE_SIDECAR',
    kind: 'enum',
    values: NATIVE_SIDECAR_MODES,
    default: 'auto',
    help: 'auto (API server >= 1.29) | on | off',
    doc: '`auto`, `on` or `off`; see [Native sidecars](#native-sidecars)',
  },
  sidecarCpuRequest: {
    flag: 'sidecar-cpu-request',
    env: 'REALIP_SIDECAR_CPU_REQUEST',
    kind: 'string',
    default: DEFAULT_SIDECAR_RESOURCES.cpuRequest,
    help: 'sidecar CPU request ("none": unset)',
    doc: '`none` leaves it unset',
  },
  sidecarMemoryRequest: {
    flag: 'sidecar-memory-request',
    env: 'REALIP_SIDECAR_MEMORY_REQUEST',
    kind: 'string',
    default: DEFAULT_SIDECAR_RESOURCES.memoryRequest,
    help: 'sidecar memory request ("none": unset)',
    doc: 'idle RSS (62 MB) plus headroom; `none` leaves it unset',
  },
  sidecarCpuLimit: {
    flag: 'sidecar-cpu-limit',
    env: 'REALIP_SIDECAR_CPU_LIMIT',
    kind: 'string',
    default: DEFAULT_SIDECAR_RESOURCES.cpuLimit,
    help: 'sidecar CPU limit ("none": unset)',
    doc: '',
  },
  sidecarMemoryLimit: {
    flag: 'sidecar-memory-limit',
    env: 'REALIP_SIDECAR_MEMORY_LIMIT',
    kind: 'string',
    default: DEFAULT_SIDECAR_RESOURCES.memoryLimit,
    help: 'sidecar memory limit ("none": unset)',
    doc: 'highest RSS measured at 1,000 connections (166 MB) plus ~50% (`npm run bench:http`, `bench:tcp`)',
  },
  configFile: {
    flag: 'config-file',
    env: 'REALIP_CONFIG_FILE',
    kind: 'string',
    help: 'YAML/JSON file of these options keyed by flag name; flags and variables win',
    doc: 'YAML or JSON file with the keys above',
  },
} as const satisfies OptionSchema;
export const INJECTION_OPTIONS = optionList(INJECTION_SCHEMA);

export const TLS_MODES = ['files', 'self-managed'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const WEBHOOK_SCHEMA = {
  port: {
    flag: 'port',
    env: 'REALIP_WEBHOOK_PORT',
    kind: 'port',
    default: 8443,
    help: 'HTTPS port serving POST /mutate',
    doc: 'HTTPS port for `POST /mutate`',
  },
  host: {
    flag: 'host',
    env: 'REALIP_WEBHOOK_HOST',
    kind: 'string',
    default: '0.0.0.0',
    help: 'address to listen on (:: for IPv6/dual stack)',
    doc: 'listen address for both ports (`::` for IPv6 or dual stack)',
  },
  metricsPort: {
    flag: 'metrics-port',
    env: 'REALIP_METRICS_PORT',
    kind: 'port',
    default: 9090,
    help: 'plain HTTP port: /healthz /readyz /metrics',
    doc: 'plain HTTP: `GET /healthz`, `GET /readyz`, `GET /metrics`',
  },
  tlsMode: {
    flag: 'tls-mode',
    env: 'REALIP_TLS_MODE',
    kind: 'enum',
    values: TLS_MODES,
    help: 'files (default when cert/key files are given) | self-managed',
    docDefault: '`files` if a cert or key file is given',
    doc: '`files` or `self-managed`',
  },
  tlsCertFile: {
    flag: 'tls-cert-file',
    env: 'REALIP_TLS_CERT_FILE',
    kind: 'string',
    help: 'serving certificate (PEM), reloaded when it changes',
  },
  tlsKeyFile: {
    flag: 'tls-key-file',
    env: 'REALIP_TLS_KEY_FILE',
    kind: 'string',
    help: 'serving key (PEM), reloaded when it changes',
  },
  tlsSecretName: {
    flag: 'tls-secret-name',
    env: 'REALIP_TLS_SECRET_NAME',
    kind: 'string',
    help: 'self-managed: Secret holding CA, cert and key',
    doc: 'self-managed: the Secret that holds `tls.crt`, `tls.key` and `ca.crt`',
  },
  namespace: {
    flag: 'namespace',
    env: 'REALIP_WEBHOOK_NAMESPACE',
    kind: 'string',
    help: "self-managed: the webhook's namespace",
    doc: "self-managed: the webhook's namespace (where the Secret lives)",
  },
  serviceName: {
    flag: 'service-name',
    env: 'REALIP_WEBHOOK_SERVICE_NAME',
    kind: 'string',
    help: "self-managed: the webhook's Service (certificate SANs)",
  },
  webhookConfigName: {
    flag: 'webhook-config-name',
    env: 'REALIP_WEBHOOK_CONFIG_NAME',
    kind: 'string',
    help: 'self-managed: MutatingWebhookConfiguration whose caBundle is patched',
    doc: 'self-managed: the MutatingWebhookConfiguration whose `caBundle` it patches',
  },
  tlsExtraSans: {
    flag: 'tls-extra-sans',
    env: 'REALIP_TLS_EXTRA_SANS',
    kind: 'list',
    default: '',
    help: 'self-managed: extra DNS names / IPs for the certificate',
    doc: 'self-managed: extra DNS names or IPs, comma-separated',
  },
  tlsPollIntervalMs: {
    flag: 'tls-poll-interval-ms',
    env: 'REALIP_TLS_POLL_INTERVAL_MS',
    kind: 'int',
    default: 5000,
    help: 'files: how often the files are checked besides fs.watch',
    doc: 'files mode: how often the files are checked, in addition to `fs.watch`',
  },
  shutdownDelayMs: {
    flag: 'shutdown-delay-ms',
    env: 'REALIP_SHUTDOWN_DELAY_MS',
    kind: 'int',
    default: 0,
    help: 'after SIGTERM, keep serving this long with /readyz failing, so the endpoint is removed first',
    doc: 'after SIGTERM, `/readyz` fails at once but admissions are served this long before the listener closes. Set it to a few seconds (and `terminationGracePeriodSeconds` above it) so the endpoint is removed before the webhook stops accepting connections.',
  },
  logLevel: { ...LOG_LEVEL_OPTION, doc: 'fatal, error, warn, info, debug, trace, silent' },
  ...INJECTION_SCHEMA,
} as const satisfies OptionSchema;
export const WEBHOOK_OPTIONS = optionList(WEBHOOK_SCHEMA);

export const INJECT_CLI_SCHEMA = {
  filename: {
    flag: 'filename',
    env: 'REALIP_INJECT_FILE',
    kind: 'string',
    short: 'f',
    help: 'YAML file to inject, "-" for stdin',
  },
  ...INJECTION_SCHEMA,
} as const satisfies OptionSchema;
export const INJECT_CLI_OPTIONS = optionList(INJECT_CLI_SCHEMA);
