/**
 * The options of `realip webhook` and `realip inject`: flag, REALIP_* variable, default and help,
 * in one place (the chart passes the variables; docs/webhook.md lists them).
 */
import { Defaults, Env } from '../common/contract.ts';
import type { OptionSpec } from '../common/options.ts';
import { version } from '../common/version.ts';

export const DEFAULT_SIDECAR_IMAGE = `realip/sidecar:${version()}`;

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
    help: 'comma-separated source CIDRs to redirect (empty: every source outside the pod)',
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
    default: '10m',
    help: 'sidecar CPU request ("none": unset)',
  },
  {
    flag: 'sidecar-memory-request',
    env: 'REALIP_SIDECAR_MEMORY_REQUEST',
    default: '32Mi',
    help: 'sidecar memory request ("none": unset)',
  },
  {
    flag: 'sidecar-cpu-limit',
    env: 'REALIP_SIDECAR_CPU_LIMIT',
    default: 'none',
    help: 'sidecar CPU limit ("none": unset)',
  },
  {
    flag: 'sidecar-memory-limit',
    env: 'REALIP_SIDECAR_MEMORY_LIMIT',
    default: '128Mi',
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
