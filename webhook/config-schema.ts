/**
 * The options of `realip webhook` and `realip inject`: flag, REALIP_* variable, default and help,
 * in one place (the chart passes the variables; docs/webhook.md lists them).
 */
import { Defaults, Env, SIDECAR_UID } from '../common/contract.ts';
import type { OptionSpec } from '../common/option-schema.ts';
import { version } from '../common/version.ts';

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
export const INJECTION_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'sidecar-image',
    env: 'REALIP_SIDECAR_IMAGE',
    default: DEFAULT_SIDECAR_IMAGE,
    help: 'image of the sidecar and init containers',
  },
  {
    flag: 'sidecar-image-pull-policy',
    env: 'REALIP_SIDECAR_IMAGE_PULL_POLICY',
    help: 'Always | IfNotPresent | Never (unset: the cluster default)',
  },
  {
    flag: 'trusted-cidrs',
    env: Env.trustedCidrs,
    default: '',
    help: 'comma-separated CIDRs whose PROXY headers the sidecar honours (the edge, the nodes)',
  },
  {
    flag: 'proxy',
    env: Env.proxy,
    default: Defaults.proxy,
    help: 'required | optional: may a trusted source omit the PROXY header',
  },
  {
    flag: 'steering',
    env: 'REALIP_STEERING',
    default: 'redirect',
    help: 'redirect (iptables, init container) | port (Service targets the sidecar port)',
  },
  {
    flag: 'redirect-from',
    env: Env.redirectFrom,
    default: '',
    help: 'comma-separated source CIDRs steered into the sidecar (empty: the trusted CIDRs; every source: 0.0.0.0/0,::/0)',
  },
  {
    flag: 'listener-port-base',
    env: 'REALIP_LISTENER_PORT_BASE',
    default: String(Defaults.sidecarPortBase),
    help: 'first sidecar listener port; ports the pod declares are stepped over',
  },
  {
    flag: 'sidecar-admin-port',
    env: 'REALIP_SIDECAR_ADMIN_PORT',
    default: String(Defaults.adminPort),
    help: "the sidecar's admin port (probes, /metrics); moved up past ports the pod declares",
  },
  {
    flag: 'sidecar-uid',
    env: 'REALIP_SIDECAR_UID',
    default: String(SIDECAR_UID),
    help: 'uid and gid of the non-root sidecar; moved up past uids the pod declares',
  },
  {
    flag: 'native-sidecar',
    env: 'REALIP_NATIVE_SIDECAR',
    default: 'auto',
    help: 'auto (API server >= 1.29) | on | off',
  },
  {
    flag: 'sidecar-cpu-request',
    env: 'REALIP_SIDECAR_CPU_REQUEST',
    default: DEFAULT_SIDECAR_RESOURCES.cpuRequest,
    help: 'sidecar CPU request ("none": unset)',
  },
  {
    flag: 'sidecar-memory-request',
    env: 'REALIP_SIDECAR_MEMORY_REQUEST',
    default: DEFAULT_SIDECAR_RESOURCES.memoryRequest,
    help: 'sidecar memory request ("none": unset)',
  },
  {
    flag: 'sidecar-cpu-limit',
    env: 'REALIP_SIDECAR_CPU_LIMIT',
    default: DEFAULT_SIDECAR_RESOURCES.cpuLimit,
    help: 'sidecar CPU limit ("none": unset)',
  },
  {
    flag: 'sidecar-memory-limit',
    env: 'REALIP_SIDECAR_MEMORY_LIMIT',
    default: DEFAULT_SIDECAR_RESOURCES.memoryLimit,
    help: 'sidecar memory limit ("none": unset)',
  },
  {
    flag: 'config-file',
    env: 'REALIP_CONFIG_FILE',
    help: 'YAML/JSON file of these options keyed by flag name; flags and variables win',
  },
];

export const TLS_MODES = ['files', 'self-managed'] as const;
export type TlsMode = (typeof TLS_MODES)[number];

export const WEBHOOK_OPTIONS: readonly OptionSpec[] = [
  { flag: 'port', env: 'REALIP_WEBHOOK_PORT', default: '8443', help: 'HTTPS port serving POST /mutate' },
  {
    flag: 'host',
    env: 'REALIP_WEBHOOK_HOST',
    default: '0.0.0.0',
    help: 'address to listen on (:: for IPv6/dual stack)',
  },
  {
    flag: 'metrics-port',
    env: 'REALIP_METRICS_PORT',
    default: '9090',
    help: 'plain HTTP port: /healthz /readyz /metrics',
  },
  {
    flag: 'tls-mode',
    env: 'REALIP_TLS_MODE',
    help: 'files (default when cert/key files are given) | self-managed',
  },
  {
    flag: 'tls-cert-file',
    env: 'REALIP_TLS_CERT_FILE',
    help: 'serving certificate (PEM), reloaded when it changes',
  },
  { flag: 'tls-key-file', env: 'REALIP_TLS_KEY_FILE', help: 'serving key (PEM), reloaded when it changes' },
  {
    flag: 'tls-secret-name',
    env: 'REALIP_TLS_SECRET_NAME',
    help: 'self-managed: Secret holding CA, cert and key',
  },
  { flag: 'namespace', env: 'REALIP_WEBHOOK_NAMESPACE', help: "self-managed: the webhook's namespace" },
  {
    flag: 'service-name',
    env: 'REALIP_WEBHOOK_SERVICE_NAME',
    help: "self-managed: the webhook's Service (certificate SANs)",
  },
  {
    flag: 'webhook-config-name',
    env: 'REALIP_WEBHOOK_CONFIG_NAME',
    help: 'self-managed: MutatingWebhookConfiguration whose caBundle is patched',
  },
  {
    flag: 'tls-extra-sans',
    env: 'REALIP_TLS_EXTRA_SANS',
    default: '',
    help: 'self-managed: extra DNS names / IPs for the certificate',
  },
  {
    flag: 'tls-poll-interval-ms',
    env: 'REALIP_TLS_POLL_INTERVAL_MS',
    default: '5000',
    help: 'files: how often the files are checked besides fs.watch',
  },
  {
    flag: 'shutdown-delay-ms',
    env: 'REALIP_SHUTDOWN_DELAY_MS',
    default: '0',
    help: 'after SIGTERM, keep serving this long with /readyz failing, so the endpoint is removed first',
  },
  { flag: 'log-level', env: Env.logLevel, default: 'info', help: 'fatal|error|warn|info|debug|trace|silent' },
  ...INJECTION_OPTIONS,
];

export const INJECT_CLI_OPTIONS: readonly OptionSpec[] = [
  { flag: 'filename', env: 'REALIP_INJECT_FILE', short: 'f', help: 'YAML file to inject, "-" for stdin' },
  ...INJECTION_OPTIONS,
];

/** Injection defaults before `auto` is resolved against the API server. */
