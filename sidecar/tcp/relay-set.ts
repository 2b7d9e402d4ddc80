/**
 * What both TCP hops share around the relay: tracking live relays for drain, and what is reported
 * when a connection ends (sidecar/observer.ts: the log line, close reason, bytes, durations) from
 * the RelayResult, plus the app connect time.
 */
import type { Socket } from 'node:net';
import type { Counter } from '../../common/metrics.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { AcceptedConnection, HopContext } from '../hop.ts';
import { type ListenerObserver, listenerObserver } from '../observer.ts';
import { type Relay, type RelayEndReason, type RelayResult, relay } from './pipe.ts';

/** Hop error codes (metric label `code`, log field `code`), one per way a relay can fail. */
export const RELAY_ERROR_CODES: Readonly<Partial<Record<RelayEndReason, string>>> = {
  'connect-failed': 'TCP_CONNECT_FAILED',
  'connect-timeout': 'TCP_CONNECT_TIMEOUT',
  idle: 'TCP_IDLE_TIMEOUT',
  'client-reset': 'TCP_CLIENT_RESET',
  'app-reset': 'TCP_APP_RESET',
  'client-error': 'TCP_CLIENT_ERROR',
  'app-error': 'TCP_APP_ERROR',
  drain: 'TCP_DRAIN_DEADLINE',
};

/** The shared close-reason vocabulary (close-reasons.ts) for each way a relay ends. */
const CLOSE_REASON: Readonly<Record<Exclude<RelayEndReason, 'done'>, CloseReason>> = {
  'connect-failed': 'app_connect_failed',
  'connect-timeout': 'app_connect_timeout',
  idle: 'idle_timeout',
  'client-reset': 'client_reset',
  'app-reset': 'app_reset',
  'client-error': 'client_error',
  'app-error': 'app_error',
  drain: 'drain',
};

/**
 * A clean end is the client's or the app's by whichever FIN came first. Watching 'end' on both
 * sockets costs two listeners per connection and needs nothing from the relay itself.
 */
function watchFirstFin(client: Socket, app: Socket | Promise<Socket>): () => CloseReason {
  let first: CloseReason | undefined;
  client.once('end', () => {
    first ??= 'client_closed';
  });
  const onApp = (s: Socket) =>
    s.once('end', () => {
      first ??= 'app_closed';
    });
  if (app instanceof Promise) app.then(onApp, () => {});
  else onApp(app);
  return () => first ?? 'client_closed';
}

/** Observes the app connect time: the socket's 'connect', or the native helper's promise. */
function watchConnect(observer: ListenerObserver, app: Socket | Promise<Socket>): void {
  const t0 = performance.now();
  const seen = () => observer.appConnect.observe((performance.now() - t0) / 1000);
  if (app instanceof Promise) app.then(seen, () => {});
  else if (app.connecting) app.once('connect', seen);
}

export interface RelayStart {
  /** The app socket, connecting or connected, or a promise of one (rejecting with an errno-style error). */
  readonly app: Socket | Promise<Socket>;
  /** Bytes we write to the app before the client's (our PROXY header). */
  readonly preamble?: number;
  /** Extra fields for the connection's end log line. */
  readonly fields?: () => Readonly<Record<string, string | number | boolean>>;
}

export class RelaySet {
  private readonly live = new Set<{ abort(reason: RelayEndReason): void }>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly ctx: HopContext;
  private readonly observer: ListenerObserver;

  constructor(ctx: HopContext) {
    this.ctx = ctx;
    this.observer = listenerObserver(ctx.listener, ctx.config, ctx.metrics);
  }

  get size(): number {
    return this.live.size;
  }

  start(conn: AcceptedConnection, start: RelayStart): void {
    const { config } = this.ctx;
    const options = {
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      preamble: start.preamble ?? 0,
    };
    // done may run synchronously (a client already gone): only a relay still running is tracked.
    let finished = false;
    let r: Relay | undefined;
    const firstFin = watchFirstFin(conn.socket, start.app);
    watchConnect(this.observer, start.app);
    r = relay(conn.socket, start.app, options, (result: RelayResult) => {
      finished = true;
      if (r) this.live.delete(r);
      this.ended(conn, result, firstFin, start.fields?.());
      if (this.live.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
    if (!finished) this.live.add(r);
  }

  private ended(
    conn: AcceptedConnection,
    result: RelayResult,
    firstFin: () => CloseReason,
    extra: Readonly<Record<string, string | number | boolean>> | undefined,
  ): void {
    const code = RELAY_ERROR_CODES[result.reason];
    if (code) this.ctx.metrics.hopErrors.inc({ mode: this.ctx.listener.mode, code });
    this.observer.ended(conn, {
      reason: result.reason === 'done' ? firstFin() : CLOSE_REASON[result.reason],
      toApp: result.toApp,
      toClient: result.toClient,
      ...(code ? { code } : {}),
      ...(result.errorCode ? { errno: result.errorCode } : {}),
      ...(extra && Object.keys(extra).length > 0 ? { extra } : {}),
    });
  }

  /** Stops nothing in flight: resolves when every relay has ended, or at the deadline (aborting the rest). */
  drain(deadline: number): Promise<void> {
    if (this.live.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(
        () => {
          for (const r of [...this.live]) r.abort('drain');
          resolve();
        },
        Math.max(0, deadline - Date.now()),
      );
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

const fallbackCounters = new WeakMap<object, Counter>();
/** realip_transparent_port_fallbacks_total, registered once per metrics registry. */
export function portFallbackCounter(ctx: HopContext): Counter {
  const registry = ctx.metrics.registry;
  let c = fallbackCounters.get(registry);
  if (!c) {
    c = registry.counter(
      'realip_transparent_port_fallbacks_total',
      "Transparent connections made from the client's address with another port (the client's was in use)",
    );
    fallbackCounters.set(registry, c);
  }
  return c;
}
