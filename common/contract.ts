/**
 * The contract between the webhook (which writes it into pod specs), the sidecar and `realip init`
 * (which read it). Defined once here; both sides import it so the names cannot drift.
 */

/** Namespace label that opts a namespace in. */
export const INJECT_LABEL = 'realip.dev/inject';
export const INJECT_LABEL_VALUE = 'enabled';

/** Pod annotations, all under realip.dev/. */
export const ANNOTATION_PREFIX = 'realip.dev/';
export const Annotations = Object.freeze({
  /** "false" opts a pod out. */
  inject: 'realip.dev/inject',
  /** Ports and modes, e.g. "8080=http,5432=tcp,6379=transparent". */
  ports: 'realip.dev/ports',
  trustedCidrs: 'realip.dev/trusted-cidrs',
  proxy: 'realip.dev/proxy',
  steering: 'realip.dev/steering',
  redirectFrom: 'realip.dev/redirect-from',
  emit: 'realip.dev/emit',
  cpuRequest: 'realip.dev/sidecar-cpu-request',
  memoryRequest: 'realip.dev/sidecar-memory-request',
  cpuLimit: 'realip.dev/sidecar-cpu-limit',
  memoryLimit: 'realip.dev/sidecar-memory-limit',
  /** Written by the webhook: what was injected (JSON). */
  status: 'realip.dev/status',
});

/** Environment variables read by the sidecar and `realip init`, written by the webhook. */
export const Env = Object.freeze({
  listeners: 'REALIP_LISTENERS',
  appHost: 'REALIP_APP_HOST',
  trustedCidrs: 'REALIP_TRUSTED_CIDRS',
  proxy: 'REALIP_PROXY',
  headerTimeoutMs: 'REALIP_HEADER_TIMEOUT_MS',
  adminPort: 'REALIP_ADMIN_PORT',
  emit: 'REALIP_EMIT',
  redirectFrom: 'REALIP_REDIRECT_FROM',
  logLevel: 'REALIP_LOG_LEVEL',
  /** JSON: /app-health/<container>/<livez|readyz|startupz> -> original probe (common/app-probes.ts). */
  appProbes: 'REALIP_APP_PROBES',
});

/**
 * Listener modes. `http2` is a superset of `http`: HTTP/2 prior knowledge (h2c, gRPC) goes to the
 * HTTP/2 hop, anything else to the HTTP/1.1 hop.
 */
export const LISTENER_MODES = ['http', 'http2', 'tcp', 'transparent'] as const;
export type ListenerMode = (typeof LISTENER_MODES)[number];

export const PROXY_MODES = ['required', 'optional'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

/** PROXY protocol versions the tcp hop emits to the app (REALIP_EMIT, realip.dev/emit). */
export const EMIT_VERSIONS = ['v1', 'v2'] as const;
export type EmitVersion = (typeof EMIT_VERSIONS)[number];

export const STEERING_MODES = ['redirect', 'port'] as const;
export type SteeringMode = (typeof STEERING_MODES)[number];

export const Defaults = Object.freeze({
  adminPort: 15021,
  appHost: '127.0.0.1',
  headerTimeoutMs: 5000,
  proxy: 'required' as ProxyMode,
  /** Safe default: nobody is trusted until the operator says who the edge is. */
  trustedCidrs: [] as readonly string[],
  /** First port the webhook assigns to sidecar listeners (one per intercepted app port). */
  sidecarPortBase: 15001,
  /**
   * Policy-routing table for transparent listeners (go-mmproxy's recipe): replies from the app on
   * loopback to a non-local client address are routed back into the pod's own stack.
   *   ip rule add from 127.0.0.1/8 iif lo table 15100 ; ip route add local 0.0.0.0/0 dev lo table 15100
   *   ip -6 rule add from ::1/128 iif lo table 15100  ; ip -6 route add local ::/0 dev lo table 15100
   */
  transparentRouteTable: 15100,
  /** iptables chain that `realip init` owns (nat table), jumped to from PREROUTING. */
  iptablesChain: 'REALIP_PREROUTING',
});

/**
 * `--proxy`, as the webhook takes it (its injection default) and the sidecar reads it (the value the
 * webhook wrote): the option schemas spread this and add their own help.
 */
export const PROXY_OPTION = Object.freeze({
  flag: 'proxy',
  env: Env.proxy,
  kind: 'enum',
  values: PROXY_MODES,
  default: Defaults.proxy,
} as const);

/** Names of what the webhook injects. */
export const SIDECAR_CONTAINER = 'realip-sidecar';
export const INIT_CONTAINER = 'realip-init';

/** One listener: MODE:LISTEN_PORT:APP_PORT. */
export interface ListenerSpec {
  readonly mode: ListenerMode;
  readonly listenPort: number;
  readonly appPort: number;
}

export function formatListener(l: ListenerSpec): string {
  return `${l.mode}:${l.listenPort}:${l.appPort}`;
}

/** Parses one MODE:LISTEN_PORT:APP_PORT; returns a problem string instead of throwing. */
export function parseListener(text: string): ListenerSpec | string {
  const parts = text.trim().split(':');
  if (parts.length !== 3) return `listener "${text}": expected MODE:LISTEN_PORT:APP_PORT`;
  const [mode, listen, app] = parts as [string, string, string];
  if (!(LISTENER_MODES as readonly string[]).includes(mode)) {
    return `listener "${text}": mode "${mode}" is not one of ${LISTENER_MODES.join(', ')}`;
  }
  const listenPort = parsePort(listen);
  const appPort = parsePort(app);
  if (listenPort === undefined) return `listener "${text}": listen port "${listen}" is not a port 1-65535`;
  if (appPort === undefined) return `listener "${text}": app port "${app}" is not a port 1-65535`;
  return { mode: mode as ListenerMode, listenPort, appPort };
}

export function parsePort(text: string): number | undefined {
  if (!/^[1-9][0-9]{0,4}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/**
 * Health checks in redirect mode (Istio's design): probes on intercepted ports are pointed at the
 * sidecar's admin port, which performs the original probes it received in REALIP_APP_PROBES.
 * Paths, JSON shape and validation: common/app-probes.ts.
 */
export {
  APP_HEALTH_PREFIX,
  APP_PROBE_SUFFIXES,
  type AppProbe,
  type AppProbeKind,
  type AppProbeMap,
  type AppProbesJson,
  appHealthPath,
  checkAppProbe,
  parseAppProbes,
} from './app-probes.ts';

/** The sidecar's admin endpoints on REALIP_ADMIN_PORT (the webhook points the sidecar's probes here). */
export const SidecarAdminPaths = Object.freeze({
  healthz: '/healthz',
  readyz: '/readyz',
  metrics: '/metrics',
});

/** The injected sidecar runs as this non-root user and group (Istio's choice of 1337). */
export const SIDECAR_UID = 1337;

/**
 * Without native sidecars, the sidecar is the first regular container and its postStart hook runs
 * this (the image's entrypoint is `realip`): it returns once the admin port answers /readyz, so the
 * kubelet starts the app containers only after the sidecar is listening.
 */
export const SIDECAR_WAIT_COMMAND = Object.freeze(['realip', 'sidecar-wait'] as const);

/** Variables read only by `realip init` (set by hand; the webhook writes listeners and redirect-from). */
export const InitEnv = Object.freeze({
  iptablesBackend: 'REALIP_IPTABLES_BACKEND',
  dryRun: 'REALIP_DRY_RUN',
  cleanup: 'REALIP_CLEANUP',
});
