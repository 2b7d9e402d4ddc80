/**
 * What both TCP hops share around the relay: choosing the relay (splice in the kernel, or the
 * stream relay when the native helper is missing or `--tcp-relay js`), tracking live relays for
 * drain, and what is reported when a connection ends (sidecar/observer.ts: the log line, close
 * reason, bytes, durations) from the RelayResult, plus the app connect time.
 */
import net, { type Socket } from 'node:net';
import type { ErrorCode } from '../../common/error-codes/registry.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { AcceptedConnection, HopContext } from '../hop-contract.ts';
import { type ListenerObserver, listenerObserver } from '../observer.ts';
import { tryLoadNative } from './native/index.ts';
import { type Relay, type RelayEndReason, type RelayResult, relay } from './pipe.ts';
import { type AppOpen, reactorFor, type SpliceReactor, spliceRelay } from './splice-relay.ts';

/** Hop error codes (metric label `code`, log field `code`), one per way a relay can fail. */
export const RELAY_ERROR_CODES: Readonly<Partial<Record<RelayEndReason, ErrorCode>>> = {
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

/** Observes the app connect time: the socket's 'connect', or the native helper's promise. */
function watchConnect(observer: ListenerObserver, app: AppOpen): void {
  const t0 = performance.now();
  const seen = () => observer.appConnect.observe((performance.now() - t0) / 1000);
  if (app instanceof Promise) app.then(seen, () => {});
  else if (app.connecting) app.once('connect', seen);
}

export interface RelayStart {
  /**
   * The app socket, connecting or connected, or a promise of a connected fd that the relay then
   * owns (rejecting with an errno-style error).
   */
  readonly app: AppOpen;
  /** Bytes we write to the app before the client's (our PROXY header), not counted. */
  readonly preamble?: Buffer;
  /** Extra fields for the connection's end log line. */
  readonly fields?: () => Readonly<Record<string, string | number | boolean>>;
}

export class RelaySet {
  private readonly live = new Set<{ abort(reason: RelayEndReason): void }>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly ctx: HopContext;
  private readonly observer: ListenerObserver;
  /** undefined: the stream relay (pipe.ts). */
  private readonly reactor: SpliceReactor | undefined;

  constructor(ctx: HopContext) {
    this.ctx = ctx;
    this.observer = listenerObserver(ctx.listener, ctx.config, ctx.metrics);
    this.reactor = chooseReactor(ctx);
  }

  get size(): number {
    return this.live.size;
  }

  start(conn: AcceptedConnection, start: RelayStart): void {
    const { config } = this.ctx;
    const options = {
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      preamble: start.preamble?.length ?? 0,
    };
    // done may run synchronously (a client already gone): only a relay still running is tracked.
    let finished = false;
    let r: Relay | undefined;
    watchConnect(this.observer, start.app);
    const onDone = (result: RelayResult) => {
      finished = true;
      if (r) this.live.delete(r);
      this.ended(conn, result, start.fields?.());
      if (this.live.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
    r = this.reactor
      ? spliceRelay(this.reactor, conn.socket, start.app, options, start.preamble, onDone)
      : relay(conn.socket, streamApp(start), options, onDone);
    if (!finished) this.live.add(r);
  }

  private ended(
    conn: AcceptedConnection,
    result: RelayResult,
    extra: Readonly<Record<string, string | number | boolean>> | undefined,
  ): void {
    const code = RELAY_ERROR_CODES[result.reason];
    if (code) this.ctx.metrics.hopErrors.inc({ mode: this.ctx.listener.mode, code });
    this.observer.ended(conn, {
      // A clean end is the client's or the app's by whichever FIN came first.
      reason:
        result.reason === 'done'
          ? result.firstFin === 'app'
            ? 'app_closed'
            : 'client_closed'
          : CLOSE_REASON[result.reason],
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

/** The stream relay's view of the app end: a socket with our header queued first. */
function streamApp(start: RelayStart): Socket | Promise<Socket> {
  const { app, preamble } = start;
  if (!(app instanceof Promise)) {
    // Queued until connected, then sent before any client byte (the relay pipes after 'connect').
    if (preamble) app.write(preamble);
    return app;
  }
  return app.then((fd) => {
    const socket = new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
    if (preamble) socket.write(preamble);
    return socket;
  });
}

let warned = false;
/**
 * The splice reactor, unless `--tcp-relay js` or the native helper cannot be loaded (a machine
 * without a C toolchain at `npm ci`): then the stream relay, with a warning and
 * realip_tcp_splice_relay 0, never a failure.
 */
function chooseReactor(ctx: HopContext): SpliceReactor | undefined {
  const gauge = ctx.metrics.spliceRelay();
  const labels = { listener: ctx.listener.listenPort };
  if (ctx.config.tcpRelay === 'js') {
    gauge.set(0, labels);
    return undefined;
  }
  const native = tryLoadNative();
  if (native instanceof Error) {
    gauge.set(0, labels);
    if (!warned) {
      warned = true;
      ctx.log.warn(
        { code: 'TCP_SPLICE_UNAVAILABLE', reason: native.message },
        'native splice relay unavailable, relaying through javascript',
      );
    }
    return undefined;
  }
  gauge.set(1, labels);
  return reactorFor(native);
}
