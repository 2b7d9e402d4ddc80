/**
 * What every mode reports when a connection ends, in one place: the `connection closed` log line
 * (gated by --log-connections), realip_connections_closed_total, the connection duration, bytes
 * each way; and the per-request records of the HTTP hop (realip_http_requests_total, request
 * duration, the optional access log). One observer per listener, shared by the listener (refused
 * connections) and its hop; series are bound once, so a record allocates nothing but its log line.
 *
 * Values that came from the network (the client address from the PROXY header, TLV names, the
 * request path) sit under named keys of the line; nothing from a peer is spread into it.
 */
import type { ListenerSpec } from '../common/contract.ts';
import type { ErrorCode } from '../common/error-codes/registry.ts';
import type { Logger } from '../common/logger.ts';
import type { CounterSeries, GaugeSeries, HistogramSeries } from '../common/metrics.ts';
import type { CloseReason } from './close-reasons.ts';
import type { SidecarConfig } from './config.ts';
import type { AcceptedConnection } from './hop-contract.ts';
import { LogGate } from './log-gate.ts';
import type { SidecarMetrics } from './metrics.ts';
import type { ProxyHeader } from './proxy-protocol/types.ts';
import type { ClientEndpoint } from './reader.ts';

export interface ConnectionEnd {
  readonly reason: CloseReason;
  /** The stable error code (docs/errors.md), when an error ended it. */
  readonly code?: ErrorCode;
  /** errno-style code of a socket error, when one ended it. */
  readonly errno?: string;
  readonly toApp: number;
  readonly toClient: number;
  /** http only. */
  readonly requests?: number;
  /** Mode-specific extras under their own names (e.g. portFallback). */
  readonly extra?: Readonly<Record<string, string | number | boolean>>;
}

export interface RefusedConnection {
  readonly id: string;
  readonly edge: ClientEndpoint;
  readonly acceptedAt: number;
  readonly outcome: string;
  readonly code: ErrorCode;
  readonly message: string;
}

/** Response status -> status_class label value. "none": the connection ended before a response. */
export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'none'] as const;

const TLV_NAMES: Readonly<Record<number, string>> = {
  1: 'alpn',
  2: 'authority',
  3: 'crc32c',
  4: 'noop',
  5: 'unique_id',
  32: 'ssl',
  48: 'netns',
  224: 'gcp',
  234: 'aws',
  238: 'azure',
};

/** Names of the TLV types present, in first-seen order; unknown types as 0xNN. */
export function tlvNames(header: ProxyHeader | undefined): string[] {
  if (!header || header.version === 1 || header.tlvs.length === 0) return [];
  const out: string[] = [];
  for (const t of header.tlvs) {
    const name = TLV_NAMES[t.type] ?? `0x${t.type.toString(16).padStart(2, '0')}`;
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

function proxyFields(header: ProxyHeader | undefined) {
  if (!header) return null;
  return { version: header.version, command: header.command, family: header.family, tlvs: tlvNames(header) };
}

function endpoint(e: ClientEndpoint) {
  return { address: e.address, port: e.port };
}

export class ListenerObserver {
  readonly listener: number;
  readonly mode: string;
  readonly accessLog: boolean;
  private readonly metrics: SidecarMetrics;
  private readonly gate: LogGate;
  private readonly closedBy = new Map<CloseReason, CounterSeries>();
  readonly connectionDuration: HistogramSeries;
  readonly appConnect: HistogramSeries;
  private readonly toApp: CounterSeries;
  private readonly toClient: CounterSeries;
  private readonly requests: CounterSeries[];
  private readonly inFlight: GaugeSeries | null;
  private readonly requestDuration: HistogramSeries[];

  constructor(spec: ListenerSpec, config: SidecarConfig, metrics: SidecarMetrics) {
    this.listener = spec.listenPort;
    this.mode = spec.mode;
    // http2 listeners carry HTTP/1.1 connections too: both count as HTTP requests.
    const http = spec.mode === 'http' || spec.mode === 'http2';
    this.accessLog = config.accessLog && http;
    this.metrics = metrics;
    this.gate = new LogGate(config.logConnections);
    const labels = { listener: spec.listenPort, mode: spec.mode };
    this.connectionDuration = metrics.connectionDuration.series(labels);
    this.appConnect = metrics.appConnect.series(labels);
    this.toApp = metrics.bytes.series({ ...labels, direction: 'to_app' });
    this.toClient = metrics.bytes.series({ ...labels, direction: 'to_client' });
    this.requests = http
      ? STATUS_CLASSES.map((c) => metrics.requests.series({ ...labels, status_class: c }))
      : [];
    this.inFlight = http ? metrics.requestsInFlight.series(labels) : null;
    this.requestDuration = http
      ? STATUS_CLASSES.map((c) => metrics.requestDuration.series({ ...labels, status_class: c }))
      : [];
  }

  private closed(reason: CloseReason): CounterSeries {
    let c = this.closedBy.get(reason);
    if (!c) {
      c = this.metrics.closed.series({ listener: this.listener, mode: this.mode, reason });
      this.closedBy.set(reason, c);
    }
    return c;
  }

  /** A connection handed to the hop has ended (both sockets closed). */
  ended(conn: AcceptedConnection, end: ConnectionEnd): void {
    const seconds = (performance.now() - conn.acceptedAt) / 1000;
    this.connectionDuration.observe(seconds);
    this.closed(end.reason).inc();
    if (end.toApp > 0) this.toApp.inc(end.toApp);
    if (end.toClient > 0) this.toClient.inc(end.toClient);
    if (!this.gate.allow(performance.now()) || !conn.log.isLevelEnabled('info')) return;
    const suppressed = this.gate.takeSuppressed();
    conn.log.info(
      {
        listener: this.listener,
        mode: this.mode,
        client: endpoint(conn.client),
        edge: endpoint(conn.edge),
        outcome: conn.outcome,
        proxy: proxyFields(conn.header),
        ...(end.requests !== undefined ? { requests: end.requests } : {}),
        toApp: end.toApp,
        toClient: end.toClient,
        ms: Math.round(seconds * 1000),
        reason: end.reason,
        ...(end.code ? { code: end.code } : {}),
        ...(end.errno ? { errno: end.errno } : {}),
        ...(end.extra ? { extra: end.extra } : {}),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      'connection closed',
    );
  }

  /** The PROXY header was refused: the connection never reached a hop. */
  refused(log: Logger, r: RefusedConnection): void {
    this.closed('refused').inc();
    if (!this.gate.allow(performance.now()) || !log.isLevelEnabled('info')) return;
    const suppressed = this.gate.takeSuppressed();
    log.info(
      {
        conn: r.id,
        listener: this.listener,
        mode: this.mode,
        edge: endpoint(r.edge),
        outcome: r.outcome,
        toApp: 0,
        toClient: 0,
        ms: Math.round(performance.now() - r.acceptedAt),
        reason: 'refused' satisfies CloseReason,
        code: r.code,
        detail: r.message,
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      'connection closed',
    );
  }

  /** One HTTP request forwarded to the app. */
  forwarded(): void {
    this.inFlight!.add(1);
  }

  /** One HTTP request answered (or lost, status 0), `started` from performance.now(). */
  request(status: number, started: number, now: number): void {
    this.inFlight!.add(-1);
    const i = status === 0 ? 5 : Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    this.requests[i]!.inc();
    this.requestDuration[i]!.observe((now - started) / 1000);
  }
}

const observers = new WeakMap<SidecarMetrics, Map<number, ListenerObserver>>();

/** The observer of one listener: the same object for the listener and its hop. */
export function listenerObserver(
  spec: ListenerSpec,
  config: SidecarConfig,
  metrics: SidecarMetrics,
): ListenerObserver {
  let byPort = observers.get(metrics);
  if (!byPort) {
    byPort = new Map();
    observers.set(metrics, byPort);
  }
  let o = byPort.get(spec.listenPort);
  if (!o || o.mode !== spec.mode) {
    o = new ListenerObserver(spec, config, metrics);
    byPort.set(spec.listenPort, o);
  }
  return o;
}
