/**
 * The sidecar's configuration: parsed once from flags and REALIP_* variables into a frozen object.
 * Every problem is reported at once; the process exits before listening.
 */
import { type AppProbeMap, parseAppProbes } from '../common/app-probes.ts';
import { CidrSet } from '../common/cidr.ts';
import { type EmitVersion, type ListenerSpec, type ProxyMode, parseListener } from '../common/contract.ts';
import { ConfigError } from '../common/errors.ts';
import type { LogLevel } from '../common/logger.ts';
import { collectOptions, OptionReader, renderHelp } from '../common/option-schema.ts';
import {
  type ForwardedPolicy,
  SIDECAR_OPTIONS,
  SIDECAR_SCHEMA,
  TLV_HEADER_NAMES,
  type TcpRelay,
} from './config-schema.ts';
import { type LogConnections, parseLogConnections } from './log-gate.ts';

export {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_REQUEST_HEAD_TIMEOUT_MS,
  FORWARDED_POLICIES,
  type ForwardedPolicy,
  SIDECAR_OPTIONS,
  SIDECAR_SCHEMA,
  TCP_RELAYS,
  type TcpRelay,
  TLV_HEADER_NAMES,
} from './config-schema.ts';
export type { EmitVersion } from '../common/contract.ts';

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
  /** HTTP/2 hop (http2 listeners): limits per client session (config-schema.ts has the reasons). */
  readonly h2MaxConcurrentStreams: number;
  readonly h2MaxHeaderList: number;
  readonly h2HeaderTableSize: number;
  readonly h2MaxSessionMemoryMb: number;
  /** tcp hop: which PROXY version to emit to the app. */
  readonly emit: EmitVersion;
  /** tcp and transparent hops: how bytes are relayed after the header. */
  readonly tcpRelay: TcpRelay;
  /** tcp hop: TLV types (numbers) passed through to the app. */
  readonly passTlvs: readonly number[];
  /** Admin port: the app probes it performs for kubelet (written by the webhook). */
  readonly appProbes: AppProbeMap;
}

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
  const read = new OptionReader(raw, problems);
  const o = SIDECAR_SCHEMA;

  const listeners: ListenerSpec[] = [];
  const listenerText = read.text(o.listener) ?? '';
  if (listenerText.trim() === '')
    read.problem(o.listener, 'at least one listener is required (MODE:LISTEN_PORT:APP_PORT)');
  for (const item of listenerText.split(',').filter((s) => s.trim() !== '')) {
    const l = parseListener(item);
    if (typeof l === 'string') read.problem(o.listener, l);
    else listeners.push(l);
  }
  const seen = new Set<number>();
  for (const l of listeners) {
    if (seen.has(l.listenPort)) read.problem(o.listener, `listen port ${l.listenPort} is used twice`);
    seen.add(l.listenPort);
  }
  const { set: trusted, problems: cidrProblems } = CidrSet.parse(
    (read.text(o.trustedCidrs) ?? '').split(','),
  );
  for (const p of cidrProblems) read.problem(o.trustedCidrs, p);

  const proxy: ProxyMode = read.enum(o.proxy);
  const forwarded: ForwardedPolicy = read.enum(o.forwarded);
  const emit: EmitVersion = read.enum(o.emit);
  const tcpRelay: TcpRelay = read.enum(o.tcpRelay);
  const logLevel: LogLevel = read.enum(o.logLevel);

  const logConnections = parseLogConnections(read.text(o.logConnections) ?? o.logConnections.default);
  if (typeof logConnections === 'string') read.problem(o.logConnections, logConnections);
  const accessLog = read.flag(o.accessLog);

  const tlvHeaders = read.list(o.tlvHeaders);
  for (const t of tlvHeaders) {
    if (!(TLV_HEADER_NAMES as readonly string[]).includes(t))
      read.problem(o.tlvHeaders, `"${t}" is not one of ${TLV_HEADER_NAMES.join(', ')}`);
  }
  const passTlvs: number[] = [];
  for (const t of read.list(o.passTlvs)) {
    const n = /^0x[0-9a-fA-F]{1,2}$/.test(t)
      ? Number.parseInt(t, 16)
      : /^[0-9]{1,3}$/.test(t)
        ? Number(t)
        : Number.NaN;
    if (!(n >= 0 && n <= 255)) read.problem(o.passTlvs, `"${t}" is not a TLV type 0-255 (or 0x00-0xff)`);
    else passTlvs.push(n);
  }

  const appProbes = parseAppProbes(read.text(o.appProbes) ?? '');
  for (const p of appProbes.problems) read.problem(o.appProbes, p);

  const config: SidecarConfig = {
    listeners,
    appHost: read.text(o.appHost) ?? o.appHost.default,
    trusted,
    proxy,
    headerTimeoutMs: read.int(o.headerTimeoutMs),
    maxHeaderBytes: read.int(o.maxHeaderBytes),
    adminPort: read.int(o.adminPort),
    adminHost: read.text(o.adminHost) ?? o.adminHost.default,
    drainTimeoutMs: read.int(o.drainTimeoutMs),
    logLevel,
    logConnections: typeof logConnections === 'string' ? { kind: 'all' } : logConnections,
    accessLog,
    forwarded,
    tlvHeaders,
    maxRequestHeadBytes: read.int(o.maxRequestHeadBytes),
    appTimeoutMs: read.int(o.appTimeoutMs),
    connectTimeoutMs: read.int(o.connectTimeoutMs),
    requestHeadTimeoutMs: read.int(o.requestHeadTimeoutMs),
    keepAliveTimeoutMs: read.int(o.keepAliveTimeoutMs),
    idleTimeoutMs: read.int(o.idleTimeoutMs),
    h2MaxConcurrentStreams: read.int(o.h2MaxConcurrentStreams),
    h2MaxHeaderList: read.int(o.h2MaxHeaderList),
    h2HeaderTableSize: read.int(o.h2HeaderTableSize),
    h2MaxSessionMemoryMb: read.int(o.h2MaxSessionMemoryMb),
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
