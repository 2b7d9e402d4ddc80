/**
 * One client stream and the app stream it became. Request headers go through the rewrite
 * (headers.ts) on the only path that opens an app stream; bodies are piped both ways (Node's
 * stream backpressure drives HTTP/2 flow control: a slow reader on either side stops the window
 * updates on the other); trailers both ways lose every forwarding field; 1xx responses are passed
 * on; RST_STREAM goes across with its error code; a failed app session becomes 502/504 before
 * the response started and an INTERNAL_ERROR reset after.
 */
import http2 from 'node:http2';
import type { CodeOf } from '../../common/error-codes/registry.ts';
import { loggedPath } from '../http/access-log.ts';
import { responseFields, trailerFields } from './headers.ts';
import type { ClientSession } from './client-session.ts';
import { resetStream } from './reset.ts';

const {
  NGHTTP2_NO_ERROR,
  NGHTTP2_CANCEL,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
  HTTP2_HEADER_METHOD,
  HTTP2_HEADER_PATH,
  HTTP2_HEADER_STATUS,
} = http2.constants;
/** RFC 8441's pseudo-header (not in @types/node's constants). */
const HTTP2_HEADER_PROTOCOL = ':protocol';

/** How a stream ended: the `outcome` label of realip_http2_streams_total. */
export const STREAM_OUTCOMES = [
  'ok',
  'client_reset',
  'app_reset',
  'refused',
  'app_error',
  'internal_error',
] as const;
export type StreamOutcome = (typeof STREAM_OUTCOMES)[number];

const noop = () => {};

/** The value of the first `name` in raw headers ([name, value, ...]). */
function rawValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i] === name) return raw[i + 1];
  return undefined;
}

export class StreamRelay {
  private readonly session: ClientSession;
  private readonly client: http2.ServerHttp2Stream;
  private app: http2.ClientHttp2Stream | null = null;
  private readonly started = performance.now();
  private status = 0;
  private outcome: StreamOutcome = 'ok';
  private code: CodeOf<'H2'> | '' = '';
  private requestTrailers: http2.OutgoingHttpHeaders = {};
  private responseTrailers: http2.OutgoingHttpHeaders = {};
  private appError: (Error & { code?: string }) | null = null;
  private readonly method: string;
  private readonly path: string;

  constructor(
    session: ClientSession,
    client: http2.ServerHttp2Stream,
    flags: number,
    raw: readonly string[],
  ) {
    this.session = session;
    this.client = client;
    this.method = rawValue(raw, HTTP2_HEADER_METHOD) ?? '';
    this.path = session.accessLog ? pathOf(rawValue(raw, HTTP2_HEADER_PATH) ?? '') : '';
    client.on('error', noop);
    client.on('close', () => this.onClientClose());
    session.streamOpened();
    // CONNECT (a tunnel) and extended CONNECT (RFC 8441: WebSocket over HTTP/2; we never announce
    // SETTINGS_ENABLE_CONNECT_PROTOCOL, so nghttp2 refuses most of those first) carry bytes after
    // the headers that no rewrite reaches: refused like the HTTP/1.1 hop refuses CONNECT.
    if (this.method === 'CONNECT' || rawValue(raw, HTTP2_HEADER_PROTOCOL) !== undefined) {
      this.answer(405, 'H2_CONNECT_REFUSED', 'refused');
      return;
    }
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    let app: http2.ClientHttp2Stream;
    try {
      app = session.openAppStream(raw, endStream);
    } catch (err: unknown) {
      // node:http2 refused the headers or the session: a bug of ours, never an unrewritten stream.
      session.conn.log.error({ code: 'H2_INTERNAL', err }, 'internal error in the http2 hop');
      this.outcome = 'internal_error';
      this.code = 'H2_INTERNAL';
      resetStream(client, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.app = app;
    app.on('error', (err: Error) => {
      this.appError = err;
    });
    app.on('close', () => this.onAppClose());
    app.on('headers', (h: http2.IncomingHttpHeaders) => this.onInformational(h));
    app.on('response', (h: http2.IncomingHttpHeaders, f: number) => this.onResponse(h, f));
    app.on('trailers', (t: http2.IncomingHttpHeaders) => {
      this.responseTrailers = trailerFields(t);
    });
    session.observer.forwarded();
    if (endStream) {
      // Nothing more will come; let the client stream reach 'end' (and close once answered).
      client.resume();
      return;
    }
    client.on('trailers', (t: http2.IncomingHttpHeaders) => {
      this.requestTrailers = trailerFields(t);
    });
    // waitForTrailers: the app stream ends with the client's trailers (filtered), or with an
    // empty DATA frame carrying END_STREAM when there were none.
    app.on('wantTrailers', () => app.sendTrailers(this.requestTrailers));
    client.on('data', (chunk: Buffer) => this.session.countToApp(chunk.length));
    client.pipe(app);
  }

  private onInformational(h: http2.IncomingHttpHeaders): void {
    const status = Number(h[HTTP2_HEADER_STATUS]);
    // 1xx only ('headers' also fires for them alone before 'response').
    if (status >= 100 && status < 200 && !this.client.headersSent && !this.client.closed) {
      this.client.additionalHeaders(responseFields(h));
    }
  }

  private onResponse(h: http2.IncomingHttpHeaders, flags: number): void {
    const client = this.client;
    const app = this.app!;
    if (client.closed || client.destroyed) return;
    this.status = Number(h[HTTP2_HEADER_STATUS]) || 0;
    if ((flags & NGHTTP2_FLAG_END_STREAM) !== 0) {
      // Trailers-only (a gRPC error is often just this): one HEADERS frame with END_STREAM.
      client.respond(responseFields(h), { endStream: true });
      app.resume();
      return;
    }
    client.respond(responseFields(h), { waitForTrailers: true });
    client.on('wantTrailers', () => client.sendTrailers(this.responseTrailers));
    app.on('data', (chunk: Buffer) => this.session.countToClient(chunk.length));
    app.pipe(client);
  }

  private onClientClose(): void {
    const app = this.app;
    const code = this.client.rstCode ?? NGHTTP2_NO_ERROR;
    if (app !== null && !app.closed && !app.destroyed) {
      if (code !== NGHTTP2_NO_ERROR) {
        // The client reset the stream (a gRPC cancellation is RST_STREAM CANCEL): the app hears it.
        if (this.outcome === 'ok') {
          this.outcome = 'client_reset';
          this.code = 'H2_CLIENT_RESET';
        }
        resetStream(app, code);
      } else if (!app.writableEnded) resetStream(app, NGHTTP2_CANCEL);
    }
    this.finish();
  }

  private onAppClose(): void {
    const client = this.client;
    if (client.closed || client.destroyed) return;
    const err = this.appError;
    const code = this.app!.rstCode ?? NGHTTP2_NO_ERROR;
    if (err !== null && err.code !== 'ERR_HTTP2_STREAM_ERROR') {
      // The app session failed (connect refused or timed out, socket lost, GOAWAY with an error).
      const failure = this.session.appFailure(err);
      this.answer(failure === 'H2_APP_CONNECT_TIMEOUT' ? 504 : 502, failure, 'app_error');
      return;
    }
    if (
      code !== NGHTTP2_NO_ERROR &&
      code !== NGHTTP2_REFUSED_STREAM &&
      this.app!.session?.destroyed !== false
    ) {
      // The app's connection went away under the stream (node:http2 closes its streams with
      // CANCEL then): not a reset the app chose, so a 502 before the response, else INTERNAL_ERROR.
      this.answer(502, 'H2_APP_LOST', 'app_error');
      return;
    }
    if (code !== NGHTTP2_NO_ERROR) {
      // The app reset the stream (REFUSED_STREAM after its GOAWAY: the client may retry it).
      this.outcome = 'app_reset';
      this.code = 'H2_APP_RESET';
      resetStream(client, code);
      return;
    }
    if (this.status === 0) {
      this.answer(502, 'H2_APP_LOST', 'app_error');
      return;
    }
    // The app is done with a request it did not read to the end (RST_STREAM NO_ERROR after its
    // response, RFC 9113 8.1): once our copy of the response is sent, tell the client the same,
    // and drop what it still sends (unread, it would hold the flow-control window shut).
    if (!client.readableEnded) {
      client.unpipe();
      client.resume();
      client.close(NGHTTP2_NO_ERROR);
    }
  }

  /** Our own answer: a small text response before any response, else a reset. */
  answer(status: 405 | 502 | 504, code: CodeOf<'H2'>, outcome: StreamOutcome): void {
    const client = this.client;
    this.outcome = outcome;
    this.code = code;
    if (client.closed || client.destroyed) return;
    if (client.headersSent) {
      resetStream(client, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.status = status;
    this.session.answered(status, code);
    client.respond({
      [HTTP2_HEADER_STATUS]: status,
      'content-type': 'text/plain',
      'x-realip-error': code,
    });
    client.end(`${status} (${code})\n`);
    // The request body is not wanted any more: read and drop it, and once the answer is sent ask
    // the client to stop sending (RFC 9113 8.1: RST_STREAM NO_ERROR after a complete response).
    client.resume();
    if (!client.readableEnded) client.close(NGHTTP2_NO_ERROR);
  }

  private finish(): void {
    const s = this.session;
    s.streamClosed(this.outcome);
    const now = performance.now();
    if (this.app !== null) s.observer.request(this.status, this.started, now);
    if (s.accessLog) s.logRequest(this.method, this.path, this.status, this.code, now - this.started);
  }
}

function pathOf(p: string): string {
  const b = Buffer.from(p, 'latin1');
  return loggedPath(b, 0, b.length);
}
