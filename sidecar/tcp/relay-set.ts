/**
 * What both TCP hops share around the relay: tracking live relays for drain, one log line per
 * connection end, byte and error metrics.
 */
import type { Socket } from 'node:net';
import type { Counter } from '../../common/metrics.ts';
import type { AcceptedConnection, HopContext } from '../hop.ts';
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

export interface RelayStart {
  /** The app socket, connecting or connected, or a promise of one (rejecting with an errno-style error). */
  readonly app: Socket | Promise<Socket>;
  /** Bytes we write to the app before the client's (our PROXY header). */
  readonly preamble?: number;
  /** Extra fields for the connection's end log line. */
  readonly fields?: () => Record<string, unknown>;
}

export class RelaySet {
  private readonly live = new Set<{ abort(reason: RelayEndReason): void }>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly ctx: HopContext;

  constructor(ctx: HopContext) {
    this.ctx = ctx;
  }

  get size(): number {
    return this.live.size;
  }

  start(conn: AcceptedConnection, start: RelayStart): void {
    const { config, metrics, listener } = this.ctx;
    const options = {
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      preamble: start.preamble ?? 0,
    };
    // done may run synchronously (a client already gone): only a relay still running is tracked.
    let finished = false;
    let r: Relay | undefined;
    r = relay(conn.socket, start.app, options, (result: RelayResult) => {
      finished = true;
      if (r) this.live.delete(r);
      const mode = listener.mode;
      metrics.bytes.inc({ mode, direction: 'to_app' }, result.toApp);
      metrics.bytes.inc({ mode, direction: 'to_client' }, result.toClient);
      const code = RELAY_ERROR_CODES[result.reason];
      if (code) metrics.hopErrors.inc({ mode, code });
      if (conn.log.isLevelEnabled('info'))
        conn.log.info(
          {
            toApp: result.toApp,
            toClient: result.toClient,
            ms: result.durationMs,
            reason: result.reason,
            ...(code ? { code } : {}),
            ...(result.errorCode ? { errno: result.errorCode } : {}),
            ...start.fields?.(),
          },
          'connection closed',
        );
      if (this.live.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    });
    if (!finished) this.live.add(r);
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
