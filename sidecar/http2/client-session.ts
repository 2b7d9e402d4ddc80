/**
 * One client connection of the HTTP/2 hop: the client's session (node:http2 server side) and one
 * app session (h2c prior knowledge to the app port), opened at the first stream and again after
 * the app's GOAWAY or loss, so every client stream is one app stream. Ends with one
 * `connection closed` line through the listener's observer.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { CodeOf, ErrorCode } from '../../common/error-codes/registry.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { AcceptedConnection } from '../hop-contract.ts';
import type { ListenerObserver } from '../observer.ts';
import type { H2HeaderRewriter } from './headers.ts';
import type { Http2Proxy } from './proxy.ts';
import { resetStream } from './reset.ts';
import { StreamRelay, type StreamOutcome } from './stream-relay.ts';

/** After the client session ended, how long the app session may take to flush its resets. */
const APP_LINGER_MS = 1000;

const CONNECT_REFUSED = new Set(['ECONNREFUSED', 'EADDRNOTAVAIL', 'ENETUNREACH', 'EHOSTUNREACH']);

class ConnectTimeout extends Error {
  readonly code = 'ETIMEDOUT';
}

export class ClientSession {
  readonly observer: ListenerObserver;
  readonly accessLog: boolean;
  private readonly proxy: Http2Proxy;
  readonly conn: AcceptedConnection;
  private readonly rewriter: H2HeaderRewriter;
  private session: http2.ServerHttp2Session | null = null;
  private app: http2.ClientHttp2Session | null = null;
  private open = 0;
  private requests = 0;
  private toApp = 0;
  private toClient = 0;
  private reason: CloseReason | '' = '';
  private code: ErrorCode | '' = '';
  private errno = '';
  private keepAliveTimer: NodeJS.Timeout | null = null;
  private ended = false;

  constructor(proxy: Http2Proxy, conn: AcceptedConnection, rewriter: H2HeaderRewriter) {
    this.proxy = proxy;
    this.observer = proxy.observer;
    this.accessLog = proxy.observer.accessLog;
    this.conn = conn;
    this.rewriter = rewriter;
  }

  /** The server session node:http2 made for our socket (server.emit('connection') calls this). */
  attach(s: http2.ServerHttp2Session): void {
    this.session = s;
    s.on('stream', (stream: http2.ServerHttp2Stream, _h, flags: number, raw: string[]) => {
      try {
        new StreamRelay(this, stream, flags, raw);
      } catch (err: unknown) {
        this.conn.log.error({ code: 'H2_INTERNAL', err }, 'internal error in the http2 hop');
        this.proxy.metrics.httpErrors.inc({ status: 0, code: 'H2_INTERNAL' });
        resetStream(stream, http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => this.onSessionError(err));
    s.on('close', () => this.onClose());
    const c = this.proxy.config;
    if (c.idleTimeoutMs > 0) {
      // No frame either way for that long (a PING counts): the session is gone.
      s.setTimeout(c.idleTimeoutMs, () => this.stop('idle_timeout'));
    }
    this.armKeepAlive();
  }

  private onSessionError(err: NodeJS.ErrnoException): void {
    if (this.reason !== '') return;
    const code = err.code ?? '';
    if (code === 'ECONNRESET') this.reason = 'client_reset';
    else if (code.startsWith('ERR_HTTP2')) {
      // nghttp2 closed the session with GOAWAY: the client broke the protocol.
      this.reason = 'bad_request';
      this.code = 'H2_PROTOCOL_ERROR';
    } else {
      this.reason = 'client_error';
      this.errno = code;
    }
  }

  /** Ends the session with a GOAWAY (keep-alive, drain) or at once (idle, deadline). */
  stop(reason: CloseReason): void {
    const s = this.session;
    if (s === null || s.destroyed) return;
    if (this.reason === '') this.reason = reason;
    if (reason === 'drain' || reason === 'keepalive_timeout') s.close();
    else s.destroy();
  }

  destroy(): void {
    if (this.reason === '') this.reason = 'drain';
    this.session?.destroy();
    if (this.session === null) this.conn.socket.destroy();
  }

  private armKeepAlive(): void {
    const ms = this.proxy.config.keepAliveTimeoutMs;
    if (ms <= 0 || this.open > 0) return;
    this.keepAliveTimer = setTimeout(() => this.stop('keepalive_timeout'), ms);
    this.keepAliveTimer.unref();
  }

  streamOpened(): void {
    this.open++;
    this.requests++;
    this.proxy.activeStreams.add(1);
    if (this.keepAliveTimer !== null) {
      clearTimeout(this.keepAliveTimer);
      this.keepAliveTimer = null;
    }
  }

  streamClosed(outcome: StreamOutcome): void {
    this.open--;
    this.proxy.activeStreams.add(-1);
    this.proxy.streamOutcome(outcome);
    this.armKeepAlive();
  }

  countToApp(n: number): void {
    this.toApp += n;
  }

  countToClient(n: number): void {
    this.toClient += n;
  }

  answered(status: number, code: ErrorCode): void {
    this.proxy.metrics.httpErrors.inc({ status, code });
  }

  /** The app stream for a client stream: its headers are the rewrite's, nothing else's. */
  openAppStream(raw: readonly string[], endStream: boolean): http2.ClientHttp2Stream {
    const headers = this.rewriter.request(raw);
    return this.appSession().request(
      headers,
      endStream ? { endStream: true } : { endStream: false, waitForTrailers: true },
    );
  }

  /** The code for an app session failure seen by a stream. */
  appFailure(err: Error & { code?: string }): CodeOf<'H2'> {
    // A stream still waiting for the session is cancelled with the session's error as its cause.
    const cause = err.code === 'ERR_HTTP2_STREAM_CANCEL' && err.cause instanceof Error ? err.cause : err;
    if (cause instanceof ConnectTimeout) return 'H2_APP_CONNECT_TIMEOUT';
    const code = (cause as NodeJS.ErrnoException).code;
    if (code !== undefined && CONNECT_REFUSED.has(code)) return 'H2_APP_REFUSED';
    return 'H2_APP_LOST';
  }

  private appSession(): http2.ClientHttp2Session {
    const current = this.app;
    if (current !== null && !current.closed && !current.destroyed) return current;
    const p = this.proxy;
    const started = performance.now();
    const app = http2.connect(p.appAuthority, {
      createConnection: () => net.connect({ host: p.config.appHost, port: p.appPort, noDelay: true }),
      ...p.appSessionOptions,
    });
    this.app = app;
    const timer = setTimeout(() => {
      if (app.connecting) app.destroy(new ConnectTimeout('connecting to the app timed out'));
    }, p.config.connectTimeoutMs);
    timer.unref();
    app.once('connect', () => {
      clearTimeout(timer);
      this.observer.appConnect.observe((performance.now() - started) / 1000);
    });
    app.on('error', (err: NodeJS.ErrnoException) => {
      if (this.conn.log.isLevelEnabled('debug'))
        this.conn.log.debug({ err: err.message, errno: err.code }, 'app session error');
    });
    // After a GOAWAY the app takes no new streams: the next one opens a new session (the streams
    // it still serves finish on this one).
    app.on('goaway', () => {
      if (this.app === app) this.app = null;
    });
    app.on('close', () => {
      clearTimeout(timer);
      if (this.app === app) this.app = null;
    });
    return app;
  }

  private onClose(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.keepAliveTimer !== null) clearTimeout(this.keepAliveTimer);
    const app = this.app;
    this.app = null;
    if (app !== null && !app.destroyed) {
      app.close();
      setTimeout(() => app.destroy(), APP_LINGER_MS).unref();
    }
    this.conn.socket.destroy();
    this.proxy.closed(this);
    this.observer.ended(this.conn, {
      reason: this.reason === '' ? 'client_closed' : this.reason,
      ...(this.code !== '' ? { code: this.code } : {}),
      ...(this.errno !== '' ? { errno: this.errno } : {}),
      toApp: this.toApp,
      toClient: this.toClient,
      requests: this.requests,
      extra: { protocol: 'h2' },
    });
  }

  logRequest(method: string, path: string, status: number, code: ErrorCode | '', ms: number): void {
    const log = this.conn.log;
    if (!log.isLevelEnabled('info')) return;
    log.info(
      {
        client: { address: this.conn.client.address, port: this.conn.client.port },
        protocol: 'h2',
        method,
        path,
        status,
        ...(code !== '' ? { code } : {}),
        ms: Math.round(ms * 10) / 10,
      },
      'request',
    );
  }
}
