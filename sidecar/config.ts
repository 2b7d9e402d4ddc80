/**
 * The sidecar's configuration: parsed once from flags and REALIP_* variables into a frozen object.
 * Every problem is reported at once; the process exits before listening.
 */
import { type AppProbeMap, parseAppProbes } from '../common/app-probes.ts';
import { CidrSet } from '../common/cidr.ts';
import {
  Defaults,
  Env,
  type ListenerSpec,
  PROXY_MODES,
  type ProxyMode,
  parseListener,
} from '../common/contract.ts';
import { ConfigError } from '../common/errors.ts';
import { isLogLevel, type LogLevel } from '../common/logger.ts';
import { attempt, collectOptions, type OptionSpec, reader, renderHelp } from '../common/option-schema.ts';
import { LOG_CONNECTIONS_SYNTAX, type LogConnections, parseLogConnections } from './log-gate.ts';
import { DEFAULT_MAX_V2_LENGTH } from './proxy-protocol/types.ts';

export const FORWARDED_POLICIES = ['replace', 'append'] as const;
export type ForwardedPolicy = (typeof FORWARDED_POLICIES)[number];
export const EMIT_VERSIONS = ['v1', 'v2'] as const;
export type EmitVersion = (typeof EMIT_VERSIONS)[number];
/** splice: join the sockets in the kernel (native helper; the stream relay when it is missing). */
export const TCP_RELAYS = ['splice', 'js'] as const;
export type TcpRelay = (typeof TCP_RELAYS)[number];

export interface SidecarConfig {
  readonly listeners: readonly ListenerSpec[];
  readonly appHost: string;
  readonly trusted: CidrSet;
  readonly proxy: ProxyMode;
  readonly headerTimeoutMs: number;
  readonly maxHeaderBytes: number;
  readonly adminPort: number;
  /** Interface the admin server binds (all by default: kubelet probes come from the node). */
  readonly adminHost: string;
  readonly drainTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** How many `connection closed` lines to write (info level): all, none, a sample, a rate. */
  readonly logConnections: LogConnections;
  /** HTTP hop: one `request` line per request (info level). Off by default. */
  readonly accessLog: boolean;
  /** HTTP hop: what to do with client-supplied X-Forwarded-For / X-Real-IP / Forwarded. */
  readonly forwarded: ForwardedPolicy;
  /** HTTP hop: PROXY TLVs to expose as request headers (names: see docs/sidecar.md). */
  readonly tlvHeaders: readonly string[];
  /** HTTP hop: bound on one request head. */
  readonly maxRequestHeadBytes: number;
  /** HTTP hop: time for the app to send a response head, and for connecting to the app. */
  readonly appTimeoutMs: number;
  readonly connectTimeoutMs: number;
  /**
   * HTTP hop: time for a whole request head, from the moment the hop waits for it (the hand-off
   * after the PROXY header for the first request; the first byte, an empty line included, for the
   * next ones). nginx's client_header_timeout.
   */
  readonly requestHeadTimeoutMs: number;
  /** HTTP hop: silence allowed between a complete response and the next request (0 = none). */
  readonly keepAliveTimeoutMs: number;
  /** Silence in both directions before a connection is closed, every mode (0 = none). */
  readonly idleTimeoutMs: number;
  /** tcp hop: which PROXY version to emit to the app. */
  readonly emit: EmitVersion;
  /** tcp and transparent hops: how bytes are relayed after the header. */
  readonly tcpRelay: TcpRelay;
  /** tcp hop: TLV types (numbers) passed through to the app. */
  readonly passTlvs: readonly number[];
  /** Admin port: the app probes it performs for kubelet (written by the webhook). */
  readonly appProbes: AppProbeMap;
}

/**
 * Every wait is bounded by default (nginx's defaults where nginx has one):
 * - a request head: 60 s (client_header_timeout), counted from when the hop starts waiting;
 * - between keep-alive requests: 75 s (keepalive_timeout);
 * - silence both ways, in every mode (a stalled body, a tunnel, an idle tcp stream): 10 min
 *   (nginx stream's proxy_timeout). Longer than the TCP idle timeouts of the edges in front of us
 *   (BIG-IP 300 s, AWS NLB 350 s, Azure LB 4 min), so it never closes what the edge would keep.
 * 0 disables the keep-alive and idle timeouts when set explicitly.
 */
export const DEFAULT_REQUEST_HEAD_TIMEOUT_MS = 60_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 75_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;

export const TLV_HEADER_NAMES = [
  'aws-vpce-id',
  'azure-link-id',
  'gcp-psc-id',
  'authority',
  'unique-id',
] as const;

export const SIDECAR_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'listener',
    env: Env.listeners,
    repeatable: true,
    help: 'MODE:LISTEN_PORT:APP_PORT, MODE is http, tcp or transparent',
  },
  { flag: 'app-host', env: Env.appHost, default: Defaults.appHost, help: 'address of the app' },
  {
    flag: 'trusted-cidrs',
    env: Env.trustedCidrs,
    help: 'comma-separated sources whose PROXY headers are honoured (default: none)',
  },
  {
    flag: 'proxy',
    env: Env.proxy,
    default: Defaults.proxy,
    help: 'required | optional: may a trusted source omit the header',
  },
  {
    flag: 'header-timeout',
    env: Env.headerTimeoutMs,
    default: String(Defaults.headerTimeoutMs),
    help: 'ms to receive the PROXY header',
  },
  {
    flag: 'max-header-bytes',
    env: 'REALIP_MAX_HEADER_BYTES',
    default: String(DEFAULT_MAX_V2_LENGTH),
    help: 'cap on the v2 header length field',
  },
  {
    flag: 'admin-port',
    env: Env.adminPort,
    default: String(Defaults.adminPort),
    help: 'port of /healthz /readyz /metrics /app-health',
  },
  { flag: 'admin-host', env: 'REALIP_ADMIN_HOST', default: '::', help: 'address the admin server binds' },
  {
    flag: 'drain-timeout',
    env: 'REALIP_DRAIN_TIMEOUT_MS',
    default: '25000',
    help: 'ms in-flight work may take after SIGTERM',
  },
  {
    flag: 'forwarded',
    env: 'REALIP_FORWARDED',
    default: 'replace',
    help: 'replace | append client-supplied forwarding headers (http)',
  },
  {
    flag: 'tlv-headers',
    env: 'REALIP_TLV_HEADERS',
    help: `TLVs exposed as headers (http): ${TLV_HEADER_NAMES.join(', ')}`,
  },
  {
    flag: 'max-request-head',
    env: 'REALIP_MAX_REQUEST_HEAD_BYTES',
    default: '32768',
    help: 'bound on one request head (http)',
  },
  {
    flag: 'app-timeout',
    env: 'REALIP_APP_TIMEOUT_MS',
    default: '60000',
    help: 'ms for the app to answer a request head (http)',
  },
  {
    flag: 'connect-timeout',
    env: 'REALIP_CONNECT_TIMEOUT_MS',
    default: '5000',
    help: 'ms to connect to the app',
  },
  {
    flag: 'request-head-timeout',
    env: 'REALIP_REQUEST_HEAD_TIMEOUT_MS',
    default: String(DEFAULT_REQUEST_HEAD_TIMEOUT_MS),
    help: 'ms for a whole request head, from when the hop waits for it (http)',
  },
  {
    flag: 'keepalive-timeout',
    env: 'REALIP_KEEPALIVE_TIMEOUT_MS',
    default: String(DEFAULT_KEEPALIVE_TIMEOUT_MS),
    help: 'ms of silence between a response and the next request (http; 0 = never)',
  },
  {
    flag: 'idle-timeout',
    env: 'REALIP_IDLE_TIMEOUT_MS',
    default: String(DEFAULT_IDLE_TIMEOUT_MS),
    help: 'ms of silence both ways before a connection is closed (0 = never)',
  },
  { flag: 'emit', env: Env.emit, default: 'v2', help: 'v1 | v2: PROXY version sent to the app (tcp)' },
  {
    flag: 'tcp-relay',
    env: 'REALIP_TCP_RELAY',
    default: 'splice',
    help: 'splice | js: relay bytes with splice(2) in the kernel, or through Node streams (tcp, transparent)',
  },
  {
    flag: 'pass-tlvs',
    env: 'REALIP_PASS_TLVS',
    help: 'comma-separated TLV types (e.g. 0x02,0xea) passed to the app (tcp)',
  },
  { flag: 'log-level', env: Env.logLevel, default: 'info', help: 'fatal|error|warn|info|debug|trace|silent' },
  {
    flag: 'log-connections',
    env: 'REALIP_LOG_CONNECTIONS',
    default: 'all',
    help: `connection closed lines per listener: ${LOG_CONNECTIONS_SYNTAX}`,
  },
  {
    flag: 'access-log',
    env: 'REALIP_ACCESS_LOG',
    boolean: true,
    help: 'log one line per HTTP request (http listeners; off by default)',
  },
  {
    flag: 'app-probes',
    env: Env.appProbes,
    help: 'JSON /app-health/<container>/<livez|readyz|startupz> -> probe, served on the admin port (written by the webhook)',
  },
];

export const SIDECAR_USAGE = renderHelp(
  'realip sidecar [options]',
  'Terminates the PROXY protocol and re-presents the client to the app over localhost.',
  SIDECAR_OPTIONS,
);

export function parseSidecarConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
) {
  const raw = collectOptions(argv, env, SIDECAR_OPTIONS);
  const problems = raw.problems;
  const e = reader(raw);
  const specs = SIDECAR_OPTIONS;
  const int = (name: string, fallback: number, min: number, max: number) =>
    attempt(
      problems,
      fallback,
      () => {
        const v = e.get(name).required().asIntPositive();
        if (v < min || v > max)
          throw new Error(`env-var: "${name}" should be between ${min} and ${max}, got ${v}`);
        return v;
      },
      specs,
      raw.values,
    );
  // A timeout that may be 0 (= none): never negative, at most a day.
  const intOrZero = (name: string, fallback: number) =>
    attempt(
      problems,
      fallback,
      () => {
        const v = e.get(name).required().asIntPositive();
        if (v > 86_400_000) throw new Error(`env-var: "${name}" should be between 0 and 86400000, got ${v}`);
        return v;
      },
      specs,
      raw.values,
    );

  const listeners: ListenerSpec[] = [];
  const listenerText = raw.values[Env.listeners] ?? '';
  if (listenerText.trim() === '')
    problems.push(
      `--listener / ${Env.listeners}: at least one listener is required (MODE:LISTEN_PORT:APP_PORT)`,
    );
  for (const item of listenerText.split(',').filter((s) => s.trim() !== '')) {
    const l = parseListener(item);
    if (typeof l === 'string') problems.push(`--listener / ${Env.listeners}: ${l}`);
    else listeners.push(l);
  }
  const seen = new Set<number>();
  for (const l of listeners) {
    if (seen.has(l.listenPort))
      problems.push(`--listener / ${Env.listeners}: listen port ${l.listenPort} is used twice`);
    seen.add(l.listenPort);
  }
  const trustedList = (raw.values[Env.trustedCidrs] ?? '').split(',');
  const { set: trusted, problems: cidrProblems } = CidrSet.parse(trustedList);
  for (const p of cidrProblems) problems.push(`--trusted-cidrs / ${Env.trustedCidrs}: ${p}`);

  const proxy = attempt(
    problems,
    Defaults.proxy,
    () =>
      e
        .get(Env.proxy)
        .required()
        .asEnum([...PROXY_MODES]),
    specs,
    raw.values,
  );
  const forwarded = attempt(
    problems,
    'replace' as ForwardedPolicy,
    () =>
      e
        .get('REALIP_FORWARDED')
        .required()
        .asEnum([...FORWARDED_POLICIES]),
    specs,
    raw.values,
  );
  const emit = attempt(
    problems,
    'v2' as EmitVersion,
    () =>
      e
        .get(Env.emit)
        .required()
        .asEnum([...EMIT_VERSIONS]),
    specs,
    raw.values,
  );
  const tcpRelay = attempt(
    problems,
    'splice' as TcpRelay,
    () =>
      e
        .get('REALIP_TCP_RELAY')
        .required()
        .asEnum([...TCP_RELAYS]),
    specs,
    raw.values,
  );
  const logLevel = raw.values[Env.logLevel] ?? 'info';
  if (!isLogLevel(logLevel))
    problems.push(`--log-level / ${Env.logLevel}: "${logLevel}" is not a pino level`);

  const logConnectionsText = raw.values.REALIP_LOG_CONNECTIONS ?? 'all';
  const logConnections = parseLogConnections(logConnectionsText);
  if (typeof logConnections === 'string')
    problems.push(`--log-connections / REALIP_LOG_CONNECTIONS: ${logConnections}`);
  const accessLogText = (raw.values.REALIP_ACCESS_LOG ?? 'false').toLowerCase();
  const accessLog = accessLogText === 'true' || accessLogText === '1';
  if (!accessLog && accessLogText !== 'false' && accessLogText !== '0' && accessLogText !== '')
    problems.push(
      `--access-log / REALIP_ACCESS_LOG: must be true or false, got "${raw.values.REALIP_ACCESS_LOG}"`,
    );

  const tlvHeaders = (raw.values.REALIP_TLV_HEADERS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const t of tlvHeaders) {
    if (!(TLV_HEADER_NAMES as readonly string[]).includes(t)) {
      problems.push(
        `--tlv-headers / REALIP_TLV_HEADERS: "${t}" is not one of ${TLV_HEADER_NAMES.join(', ')}`,
      );
    }
  }
  const passTlvs: number[] = [];
  for (const t of (raw.values.REALIP_PASS_TLVS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const n = /^0x[0-9a-fA-F]{1,2}$/.test(t)
      ? Number.parseInt(t, 16)
      : /^[0-9]{1,3}$/.test(t)
        ? Number(t)
        : Number.NaN;
    if (!(n >= 0 && n <= 255))
      problems.push(`--pass-tlvs / REALIP_PASS_TLVS: "${t}" is not a TLV type 0-255 (or 0x00-0xff)`);
    else passTlvs.push(n);
  }

  const appProbes = parseAppProbes(raw.values[Env.appProbes] ?? '');
  for (const p of appProbes.problems) problems.push(`--app-probes / ${Env.appProbes}: ${p}`);

  const config: SidecarConfig = {
    listeners,
    appHost: raw.values[Env.appHost] ?? Defaults.appHost,
    trusted,
    proxy,
    headerTimeoutMs: int(Env.headerTimeoutMs, Defaults.headerTimeoutMs, 1, 600_000),
    maxHeaderBytes: int('REALIP_MAX_HEADER_BYTES', DEFAULT_MAX_V2_LENGTH, 16, 65535),
    adminPort: int(Env.adminPort, Defaults.adminPort, 1, 65535),
    adminHost: raw.values.REALIP_ADMIN_HOST ?? '::',
    drainTimeoutMs: int('REALIP_DRAIN_TIMEOUT_MS', 25000, 1, 3_600_000),
    logLevel: isLogLevel(logLevel) ? logLevel : 'info',
    logConnections: typeof logConnections === 'string' ? { kind: 'all' } : logConnections,
    accessLog,
    forwarded,
    tlvHeaders,
    maxRequestHeadBytes: int('REALIP_MAX_REQUEST_HEAD_BYTES', 32768, 1024, 1_048_576),
    appTimeoutMs: int('REALIP_APP_TIMEOUT_MS', 60000, 1, 3_600_000),
    connectTimeoutMs: int('REALIP_CONNECT_TIMEOUT_MS', 5000, 1, 600_000),
    requestHeadTimeoutMs: int(
      'REALIP_REQUEST_HEAD_TIMEOUT_MS',
      DEFAULT_REQUEST_HEAD_TIMEOUT_MS,
      1,
      3_600_000,
    ),
    keepAliveTimeoutMs: intOrZero('REALIP_KEEPALIVE_TIMEOUT_MS', DEFAULT_KEEPALIVE_TIMEOUT_MS),
    idleTimeoutMs: intOrZero('REALIP_IDLE_TIMEOUT_MS', DEFAULT_IDLE_TIMEOUT_MS),
    emit,
    tcpRelay,
    passTlvs,
    appProbes: appProbes.probes,
  };
  for (const l of listeners) {
    if (l.listenPort === config.adminPort)
      problems.push(`listener port ${l.listenPort} collides with the admin port`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: Object.freeze(config), help: raw.help };
}
