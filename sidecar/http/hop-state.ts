/**
 * What the connections of one HTTP listener share: configuration, metrics, the set of live
 * connections, and a coarse clock. Timeouts (connect, app response head, request head, idle,
 * linger) are checked by one sweep per listener instead of a timer per connection or request.
 */
import type { Logger } from '../../common/logger.ts';
import type { SidecarConfig } from '../config.ts';
import type { AcceptedConnection } from '../hop-contract.ts';
import type { SidecarMetrics } from '../metrics.ts';
import type { ListenerObserver } from '../observer.ts';

/**
 * What the hop state needs of a connection: the sweep and drain call it. (An interface here, not
 * the HttpConnection class, so that the connection depends on the state and never the reverse.)
 */
export interface SweptConnection {
  /** `now` is the hop clock. */
  tick(now: number): void;
  drain(): void;
}

export class HttpHopState {
  readonly config: SidecarConfig;
  readonly appPort: number;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly observer: ListenerObserver;
  readonly connections = new Set<SweptConnection>();
  /** Where a connection that starts with the HTTP/2 preface goes (its bytes put back on the socket). */
  readonly http2: (conn: AcceptedConnection) => void;
  /** Date.now() at the last sweep. */
  clock = Date.now();
  readonly interval: number;
  /**
   * Read buffer of the client and app sockets (see HttpConnection.connectApp): every read callback
   * runs synchronously and copies out what it keeps, so one buffer serves them all.
   */
  readonly readBuffer = Buffer.allocUnsafe(65536);
  private readonly timer: NodeJS.Timeout;
  private drained: (() => void) | null = null;

  constructor(
    config: SidecarConfig,
    appPort: number,
    metrics: SidecarMetrics,
    log: Logger,
    observer: ListenerObserver,
    http2: (conn: AcceptedConnection) => void,
  ) {
    this.observer = observer;
    this.http2 = http2;
    this.config = config;
    this.appPort = appPort;
    this.metrics = metrics;
    this.log = log;
    const shortest = Math.min(
      config.appTimeoutMs,
      config.connectTimeoutMs,
      config.requestHeadTimeoutMs,
      config.keepAliveTimeoutMs > 0 ? config.keepAliveTimeoutMs : Number.POSITIVE_INFINITY,
      config.idleTimeoutMs > 0 ? config.idleTimeoutMs : Number.POSITIVE_INFINITY,
    );
    this.interval = Math.max(10, Math.min(1000, Math.floor(shortest / 4)));
    this.timer = setInterval(() => this.sweep(), this.interval);
    this.timer.unref();
  }

  /**
   * A timestamp to arm a timeout with: the clock may be up to one interval old, so arming one
   * interval ahead means a timeout never fires early (and at most about two intervals late).
   */
  deadlineBase(): number {
    return this.clock + this.interval;
  }

  private sweep(): void {
    this.clock = Date.now();
    for (const c of this.connections) {
      try {
        c.tick(this.clock);
      } catch (err: unknown) {
        this.log.error({ code: 'HTTP_INTERNAL', err }, 'internal error in the http hop sweep');
      }
    }
  }

  closed(c: SweptConnection): void {
    this.connections.delete(c);
    if (this.drained && this.connections.size === 0) this.drained();
  }

  drain(deadline: number): Promise<void> {
    for (const c of this.connections) c.drain();
    if (this.connections.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, Math.max(0, deadline - Date.now()));
      const self = this;
      function done() {
        clearTimeout(t);
        self.drained = null;
        resolve();
      }
      this.drained = done;
    });
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
