/**
 * One client connection of the HTTP hop, with its own app connection (so responses come back in
 * order without being parsed). Request side: a RequestFramer says where heads and bodies end;
 * heads are rewritten, bodies forwarded as they arrive, never buffered.
 * Response side: bytes go to the client unchanged; a ResponseTracker watches them for the status
 * of upgrades, 502/504 and drain. Backpressure both ways: a full socket pauses the other one.
 *
 * All state lives in fields of this object and its methods are on the prototype: no closure or
 * object is allocated per request on the common path.
 */
import net from 'node:net';
import type { ErrorCode, HttpCode, StatusBeside } from '../../common/error-codes/registry.ts';
import type { CloseReason } from '../close-reasons.ts';
import type { AcceptedConnection } from '../hop-contract.ts';
import { loggedPath, type PendingRequest } from './access-log.ts';
import { answer } from './answers.ts';
import type { HttpHopState, SweptConnection } from './hop-state.ts';
import {
  A_BODY,
  A_BODY_END,
  A_BODY_ERROR,
  A_ERROR,
  A_H2_PREFACE,
  A_HEAD,
  A_NEED_MORE,
  A_PARTIAL_HEAD,
  A_TRAILER,
  RequestFramer,
} from './request-framer.ts';
import { M_HEAD, type RequestHead } from './request-head.ts';
import {
  E_COMPLETE,
  E_LOST,
  E_REFUSED,
  E_TUNNEL,
  K_HEAD,
  K_UPGRADE,
  MAX_OUTSTANDING,
  type ResponseSink,
  ResponseTracker,
} from './response.ts';
import type { HeadRewriter } from './rewrite.ts';
import { readIntoShared } from './shared-reads.ts';

// Request-side states.
/** Requests are read: the framer says where they end (framer.atHead: between two of them). */
const Q_FRAMING = 0;
/** An Upgrade request was sent: hold client bytes until its response status is known. */
const Q_AWAIT = 1;
const Q_TUNNEL = 2;
/** No more requests are read (error answered, client asked to close, app lost, draining). */
const Q_STOP = 3;

/** Why client reads are paused (a bitmask; reading resumes when it is 0). */
const P_APP_FULL = 1;
const P_AWAIT = 2;
const P_QUEUE = 4;
const P_STOP = 8;

/** After we end our side, how long a peer may keep a half-closed socket before it is destroyed. */
const LINGER_MS = 2000;

/** The close reason (close-reasons.ts) for each code the hop answers or closes with. */
const REASON_OF_CODE: Readonly<Partial<Record<ErrorCode | '', CloseReason>>> = {
  HTTP_HEAD_TIMEOUT: 'head_timeout',
  HTTP_APP_TIMEOUT: 'app_timeout',
  HTTP_APP_CONNECT_TIMEOUT: 'app_connect_timeout',
  HTTP_APP_REFUSED: 'app_connect_failed',
  HTTP_APP_RESET: 'app_reset',
  HTTP_APP_CLOSED: 'app_closed',
  HTTP_BAD_RESPONSE: 'app_bad_response',
  HTTP_INTERNAL: 'internal_error',
};

/**
 * buf[0, n) of a shared read buffer, copied: body bytes, held heads and the client's response
 * outlive the read callback (a write may still reference them), the shared buffer does not.
 */
function copyOut(n: number, buf: Uint8Array): Buffer {
  const chunk = Buffer.allocUnsafe(n);
  chunk.set(n === buf.length ? buf : buf.subarray(0, n));
  return chunk;
}

export class HttpConnection implements ResponseSink, SweptConnection {
  private readonly hop: HttpHopState;
  private readonly conn: AcceptedConnection;
  private readonly client: net.Socket;
  private app: net.Socket | null = null;
  private readonly rewriter: HeadRewriter;
  private readonly framer: RequestFramer;
  /** The framer's parsed head of the request being forwarded. */
  private readonly head: RequestHead;
  private readonly tracker = new ResponseTracker();

  private state = Q_FRAMING;
  /** The kind (K_*) of the request being forwarded. */
  private kind = 0;
  private reqInProgress = false;
  private expectContinue = false;
  /** The request being forwarded asked to close the connection after it. */
  private closeAfter = false;
  /** The response to an Upgrade request came (refused) before its body was all forwarded. */
  private refusedEarly = false;
  private clientEnded = false;
  /** A client error to answer once the responses still owed to the client are complete. */
  private deferredStatus = 0;
  private deferredCode: HttpCode | '' = '';
  /** Unprocessed client bytes: a partial head or trailer, or bytes held while paused. */
  private acc: Buffer | null = null;
  /** The held buffer being processed (hold() keeps it instead of copying it again). */
  private processing: Buffer | null = null;
  private accLen = 0;
  /** Offset in acc before which no CRLFCRLF can start (partial heads are not rescanned). */
  private accScanned = 0;
  private pauses = 0;
  private appPausedByClient = false;

  // Coarse timestamps (hop clock), 0 = not armed. Checked by the hop's sweep.
  private waitingSince = 0;
  /** Waiting for (the rest of) a request head: armed at the hand-off and by a next head's first byte. */
  private headSince = 0;
  /** Between requests: the last response is complete and nothing of the next request came yet. */
  private keepAliveSince = 0;
  private connectingSince = 0;
  private lingerSince = 0;
  lastActive: number;

  private requests = 0;
  private bytesIn = 0;
  private bytesOut = 0;
  private closeReason: CloseReason | '' = '';
  private closeCode: ErrorCode | '' = '';
  private closeErrno = '';
  /**
   * Requests forwarded and not yet answered, in order (performance.now() when forwarded): a ring
   * of MAX_OUTSTANDING like the tracker's FIFO. `pendingMeta` only with --access-log.
   */
  private readonly pendingSince = new Float64Array(MAX_OUTSTANDING);
  private readonly pendingMeta: (PendingRequest | undefined)[] | null;
  private pendingHead = 0;
  private pendingCount = 0;
  private finished = false;
  private draining = false;
  // The client socket's listeners, kept to be removed if the connection turns out to be HTTP/2.
  private readonly onEnd = () => this.onClientEnd();
  private readonly onError = (err: NodeJS.ErrnoException) => this.onClientError(err);
  private readonly onClose = () => this.onClientClose();
  private readonly onDrain = () => this.onClientDrain();
  private onData: ((chunk: Buffer) => void) | null = null;

  constructor(hop: HttpHopState, conn: AcceptedConnection, rewriter: HeadRewriter) {
    this.hop = hop;
    this.conn = conn;
    this.client = conn.socket;
    this.rewriter = rewriter;
    this.framer = new RequestFramer(hop.config.maxRequestHeadBytes);
    this.head = this.framer.head;
    this.tracker.sink = this;
    this.pendingMeta = hop.observer.accessLog ? new Array<PendingRequest | undefined>(MAX_OUTSTANDING) : null;
    this.lastActive = hop.clock;
    // The hop waits for the first head from now on: a client that sends nothing is bounded too.
    this.headSince = hop.deadlineBase();
    const c = this.client;
    // Half-close is part of HTTP (a client may shut down its sending side and wait for the answer).
    c.allowHalfOpen = true;
    c.setNoDelay(true);
    c.on('end', this.onEnd);
    c.on('error', this.onError);
    c.on('close', this.onClose);
    c.on('drain', this.onDrain);
    // Closed between the header and the hand-off: no 'close' event will come any more.
    if (c.destroyed) {
      queueMicrotask(() => this.onClientClose());
      return;
    }
    // Client reads land in the listener's shared buffer, like the app's (shared-reads.ts).
    const held = readIntoShared(c, hop.readBuffer, (n: number, buf: Uint8Array) => this.onClientRead(n, buf));
    if (held === undefined) {
      this.onData = (chunk: Buffer) => {
        try {
          this.onClientData(chunk);
        } catch (err: unknown) {
          this.internalError(err);
        }
      };
      c.on('data', this.onData);
      c.resume();
      return;
    }
    // The bytes that came with the PROXY header, before any later read (and before an 'end'
    // the stream may already hold, which comes on a later tick).
    if (held !== null) {
      try {
        this.onClientData(held);
      } catch (err: unknown) {
        this.internalError(err);
        return;
      }
    }
    if (this.pauses === 0) c.resume();
  }

  private onClientRead(n: number, buf: Uint8Array): boolean {
    try {
      this.onClientData(copyOut(n, buf));
    } catch (err: unknown) {
      this.internalError(err);
      return false;
    }
    return this.pauses === 0;
  }

  // ---- client -> app -------------------------------------------------------------------------

  private onClientData(chunk: Buffer): void {
    this.bytesIn += chunk.length;
    this.lastActive = this.hop.clock;
    if (this.state === Q_TUNNEL) {
      this.writeApp(chunk);
      return;
    }
    if (this.state === Q_STOP) return;
    if (this.atHead()) {
      // Any byte starts (or continues) a head, leading empty lines included: a drip of CRLFs is
      // bounded by the head timeout like any other partial head.
      this.keepAliveSince = 0;
      if (this.headSince === 0) this.headSince = this.hop.deadlineBase();
    }
    if (this.acc !== null) {
      this.appendAcc(chunk);
      this.processHeld();
    } else this.process(chunk, 0, 0);
  }

  /**
   * Processes the held bytes. A partial head held again keeps its buffer (hold() sees it is the
   * same memory), so a head arriving a byte at a time costs work linear in its length, not a copy
   * of everything so far per byte.
   */
  private processHeld(): void {
    const acc = this.acc!;
    const buf = acc.subarray(0, this.accLen);
    this.acc = null;
    this.processing = acc;
    try {
      this.process(buf, 0, this.accScanned);
    } finally {
      this.processing = null;
    }
  }

  /** Processes buf[pos..]; `scanned`: offset before which no head end can be (held partial heads). */
  private process(buf: Buffer, pos: number, scanned: number): void {
    const end = buf.length;
    const f = this.framer;
    while (pos < end) {
      if (this.state === Q_TUNNEL) {
        this.writeApp(pos === 0 ? buf : buf.subarray(pos));
        return;
      }
      if (this.state === Q_AWAIT) {
        this.hold(buf, pos, 0);
        return;
      }
      if (this.state !== Q_FRAMING) return;
      if (f.atHead && (this.pauses & P_QUEUE || this.draining)) {
        this.hold(buf, pos, 0);
        return;
      }
      switch (f.next(buf, pos, scanned)) {
        case A_HEAD:
          this.headSince = 0;
          this.forwardHead(buf, f.at);
          pos = f.at;
          scanned = 0;
          continue;
        case A_BODY:
          this.writeApp(pos === 0 && f.at === end ? buf : buf.subarray(pos, f.at));
          pos = f.at;
          continue;
        case A_BODY_END:
          this.writeApp(pos === 0 && f.at === end ? buf : buf.subarray(pos, f.at));
          pos = f.at;
          this.requestDone();
          continue;
        case A_TRAILER:
          this.writeApp(f.trailer!);
          pos = f.at;
          this.requestDone();
          continue;
        case A_PARTIAL_HEAD:
          if (this.headSince === 0) this.headSince = this.hop.deadlineBase();
          this.hold(buf, f.at, f.scanned);
          return;
        case A_NEED_MORE:
          if (f.at < end) this.hold(buf, f.at, f.scanned);
          return;
        case A_H2_PREFACE:
          this.toHttp2(buf, f.at);
          return;
        case A_ERROR:
          if (f.status === 0) this.tlsOnHttp();
          else this.fail(f.status, f.code);
          return;
        case A_BODY_ERROR:
          this.failMidRequest(f.code);
          return;
        default:
          return;
      }
    }
  }

  /** Between requests, reading them: the next byte starts a head. */
  private atHead(): boolean {
    return this.state === Q_FRAMING && this.framer.atHead;
  }

  /** Keeps buf[pos..] for later (a partial head, or bytes that must wait). */
  private hold(buf: Buffer, pos: number, scannedFromPos: number): void {
    const n = buf.length - pos;
    const own = this.processing;
    // buf is our own held buffer and nothing of it was consumed: keep it as it is. (Only then:
    // bytes before pos may have been handed to app.write(), which keeps a reference to them.)
    if (pos === 0 && own !== null && buf.buffer === own.buffer && buf.byteOffset === own.byteOffset) {
      this.acc = own;
      this.accLen = n;
      this.accScanned = scannedFromPos;
      return;
    }
    const acc = Buffer.allocUnsafe(Math.max(4096, n * 2));
    buf.copy(acc, 0, pos);
    this.acc = acc;
    this.accLen = n;
    this.accScanned = scannedFromPos;
  }

  private appendAcc(chunk: Buffer): void {
    const acc = this.acc!;
    if (this.accLen + chunk.length > acc.length) {
      const bigger = Buffer.allocUnsafe(Math.max(acc.length * 2, this.accLen + chunk.length));
      acc.copy(bigger, 0, 0, this.accLen);
      this.acc = bigger;
    }
    chunk.copy(this.acc!, this.accLen);
    this.accLen += chunk.length;
  }

  private forwardHead(buf: Buffer, headEnd: number): void {
    const h = this.head;
    const out = this.rewriter.rewrite(buf, headEnd, h);
    this.kind = (h.method === M_HEAD ? K_HEAD : 0) | (h.upgrade ? K_UPGRADE : 0);
    this.requests++;
    this.requestForwarded(buf);
    if (this.app === null) this.connectApp();
    this.tracker.push(this.kind);
    if (this.tracker.outstanding >= MAX_OUTSTANDING) this.pause(P_QUEUE);
    this.writeApp(out);
    this.reqInProgress = true;
    this.expectContinue = h.expectContinue;
    if (!this.framer.inBody) {
      this.requestDone();
      return;
    }
    // The client waits for "100 Continue" before the body: the app must answer within the timeout.
    if (h.expectContinue && this.waitingSince === 0 && this.tracker.awaitingHead())
      this.waitingSince = this.hop.deadlineBase();
    if (h.close) this.closeAfter = true;
  }

  private requestDone(): void {
    this.reqInProgress = false;
    const refused = this.refusedEarly;
    this.refusedEarly = false;
    if (this.waitingSince === 0 && this.tracker.awaitingHead()) this.waitingSince = this.hop.deadlineBase();
    if (this.kind & K_UPGRADE && !this.tracker.tunnel && !refused) {
      this.state = Q_AWAIT;
      this.pause(P_AWAIT);
      return;
    }
    if (this.head.close || this.closeAfter) {
      // The client announced it will send nothing more: later bytes are not requests.
      this.state = Q_STOP;
      this.closeAfter = false;
      return;
    }
    this.state = Q_FRAMING;
    // The response came before the request ended (an early answer): the connection is idle now.
    if (this.tracker.outstanding === 0) this.armKeepAlive();
  }

  /** Between requests: the next one has --keepalive-timeout to start. */
  private armKeepAlive(): void {
    if (this.atHead() && !this.reqInProgress && this.headSince === 0 && this.acc === null)
      this.keepAliveSince = this.hop.deadlineBase();
  }

  private writeApp(buf: Buffer): void {
    const app = this.app;
    if (app === null) return;
    if (!app.write(buf)) this.pause(P_APP_FULL);
  }

  private pause(bit: number): void {
    if (this.pauses === 0) this.client.pause();
    this.pauses |= bit;
  }

  private unpause(bit: number): void {
    if (!(this.pauses & bit)) return;
    this.pauses &= ~bit;
    if (this.pauses !== 0 || this.finished) return;
    // Bytes held while paused are processed first, then the socket flows again.
    if (this.acc !== null && this.state !== Q_STOP) {
      this.processHeld();
      if (this.pauses !== 0) return;
    }
    this.client.resume();
  }

  private connectApp(): void {
    // Reads land in one buffer shared by the listener's app sockets (the callback runs
    // synchronously, and copies what it keeps): no 64 KiB allocation and no stream machinery
    // per read on the response path.
    const app = net.connect({
      host: this.hop.config.appHost,
      port: this.hop.appPort,
      noDelay: true,
      allowHalfOpen: true,
      onread: {
        buffer: this.hop.readBuffer,
        callback: (n: number, buf: Uint8Array) => this.onAppRead(n, buf),
      },
    });
    this.app = app;
    this.connectingSince = this.hop.deadlineBase();
    const t0 = performance.now();
    app.on('connect', () => {
      this.connectingSince = 0;
      this.hop.observer.appConnect.observe((performance.now() - t0) / 1000);
    });
    app.on('end', () => this.onAppEnd());
    app.on('error', (err: NodeJS.ErrnoException) => this.onAppError(err));
    app.on('close', () => this.onAppClose());
    app.on('drain', () => this.unpause(P_APP_FULL));
  }

  // ---- app -> client -------------------------------------------------------------------------

  private onAppRead(n: number, buf: Uint8Array): boolean {
    try {
      this.onAppData(copyOut(n, buf));
    } catch (err: unknown) {
      this.internalError(err);
      return false;
    }
    return !this.appPausedByClient;
  }

  /**
   * A bug in the hop must cost one connection, never the process (and every other connection):
   * logged with its stack, counted, the connection destroyed.
   */
  private internalError(err: unknown): void {
    this.hop.metrics.httpErrors.inc({ status: 0, code: 'HTTP_INTERNAL' });
    this.conn.log.error({ code: 'HTTP_INTERNAL', err }, 'internal error in the http hop');
    this.closeAs('internal_error', 'HTTP_INTERNAL');
    this.app?.destroy();
    this.client.destroy();
  }

  private onAppData(chunk: Buffer): void {
    if (this.finished) return;
    this.bytesOut += chunk.length;
    this.lastActive = this.hop.clock;
    this.waitingSince = 0;
    const t = this.tracker;
    const events = t.tunnel ? 0 : t.feed(chunk);
    if (!this.client.write(chunk) && !this.appPausedByClient) {
      this.appPausedByClient = true;
      this.app!.pause();
    }
    if (events === 0) return;
    if (events & E_LOST) {
      this.conn.log.warn(
        { code: 'HTTP_BAD_RESPONSE', reason: t.lostReason },
        'app response cannot be framed',
      );
      this.hop.metrics.httpErrors.inc({ status: 0, code: 'HTTP_BAD_RESPONSE' });
      if (this.closeReason === '') this.closeAs('app_bad_response', 'HTTP_BAD_RESPONSE');
      this.stopReading();
      return;
    }
    if (events & E_TUNNEL) {
      this.state = Q_TUNNEL;
      this.closeAfter = false;
      const held = this.acc;
      if (held !== null) {
        this.acc = null;
        this.writeApp(held.subarray(0, this.accLen));
      }
      this.unpause(P_AWAIT);
      return;
    }
    if (events & E_REFUSED) {
      if (this.state === Q_AWAIT) {
        this.state = this.head.close ? Q_STOP : Q_FRAMING;
        this.unpause(P_AWAIT);
      } else if (this.reqInProgress) this.refusedEarly = true;
    }
    if (events & E_COMPLETE) {
      if (t.outstanding === 0 && (this.deferredStatus !== 0 || this.clientEnded)) {
        if (this.deferredStatus !== 0) this.fail(this.deferredStatus, this.deferredCode);
        else this.endClient();
        return;
      }
      if (t.outstanding < MAX_OUTSTANDING) this.unpause(P_QUEUE);
      if (t.outstanding === 0) this.armKeepAlive();
      if (t.awaitingHead() && !(t.outstanding === 1 && this.reqInProgress && !this.expectContinue))
        this.waitingSince = this.hop.deadlineBase();
      if (this.draining) this.drainCheck();
    }
  }

  private onClientDrain(): void {
    if (this.appPausedByClient) {
      this.appPausedByClient = false;
      this.app?.resume();
    }
  }

  private onAppEnd(): void {
    const t = this.tracker;
    t.eof();
    if (this.deferredStatus !== 0 && t.outstanding === 0) {
      this.fail(this.deferredStatus, this.deferredCode);
      return;
    }
    if (!t.tunnel && !t.lost && !t.closing && t.outstanding > 0 && t.bytesOfCurrent === 0) {
      this.fail(502, 'HTTP_APP_CLOSED');
      return;
    }
    if (this.closeReason === '') this.closeReason = 'app_closed';
    this.endClient();
  }

  private onAppError(err: NodeJS.ErrnoException): void {
    const t = this.tracker;
    if (!this.finished && !t.tunnel && t.outstanding > 0 && t.bytesOfCurrent === 0 && !t.lost) {
      const code = err.code === 'ECONNREFUSED' ? 'HTTP_APP_REFUSED' : 'HTTP_APP_RESET';
      this.conn.log.warn({ code, err: err.message }, 'app connection failed');
      this.fail(502, code);
      return;
    }
    if (this.closeReason === '') {
      this.closeReason = err.code === 'ECONNRESET' ? 'app_reset' : 'app_error';
      this.closeErrno = err.code ?? '';
    }
    // Nothing owed (e.g. EPIPE on a body the app no longer reads after answering): let what was
    // written reach the client. Otherwise the client must see the response cut off.
    if (t.outstanding === 0 && !t.tunnel) this.endClient();
    else this.client.destroy();
  }

  private onAppClose(): void {
    if (!this.client.destroyed && !this.client.writableEnded) this.endClient();
  }

  // ---- endings ---------------------------------------------------------------------------------

  private onClientEnd(): void {
    if (this.closeReason === '') this.closeReason = 'client_closed';
    this.clientEnded = true;
    if (this.app === null || (this.tracker.outstanding === 0 && !this.tracker.tunnel)) {
      this.endClient();
      this.app?.end();
      return;
    }
    // Responses may still be owed: forward the FIN and keep our sending side open for them.
    this.app.end();
  }

  private onClientError(err: NodeJS.ErrnoException): void {
    if (this.closeReason === '') {
      this.closeReason = err.code === 'ECONNRESET' ? 'client_reset' : 'client_error';
      this.closeErrno = err.code ?? '';
    }
  }

  private onClientClose(): void {
    if (this.finished) return;
    this.finished = true;
    this.app?.destroy();
    // Requests that never got a response (the connection broke, or a tunnel's is counted already).
    const now = performance.now();
    while (this.pendingCount > 0) this.requestAnswered(0, 0, now);
    this.hop.closed(this);
    this.hop.observer.ended(this.conn, {
      reason: this.closeReason || 'client_closed',
      ...(this.closeCode ? { code: this.closeCode } : {}),
      ...(this.closeErrno ? { errno: this.closeErrno } : {}),
      requests: this.requests,
      toApp: this.bytesIn,
      toClient: this.bytesOut,
    });
  }

  private closeAs(reason: CloseReason, code: ErrorCode | ''): void {
    this.closeReason = reason;
    this.closeCode = code;
  }

  // ---- per-request records (metrics, access log) -----------------------------------------------

  private requestForwarded(buf: Buffer): void {
    const at = (this.pendingHead + this.pendingCount) % MAX_OUTSTANDING;
    this.pendingSince[at] = performance.now();
    this.hop.observer.forwarded();
    const meta = this.pendingMeta;
    if (meta !== null) {
      const h = this.head;
      meta[at] = {
        method: buf.toString('latin1', h.lineStart, h.methodEnd),
        path: loggedPath(buf, h.targetStart, h.targetEnd),
      };
    }
    this.pendingCount++;
  }

  /** ResponseSink: the front request's response is complete (or a 101 turned it into a tunnel). */
  responseDone(status: number, bytes: number): void {
    if (this.pendingCount > 0) this.requestAnswered(status, bytes, performance.now());
  }

  /** The front request is answered with `status` (0: never answered). */
  private requestAnswered(status: number, bytes: number, now: number): void {
    const at = this.pendingHead;
    this.pendingHead = (at + 1) % MAX_OUTSTANDING;
    this.pendingCount--;
    const since = this.pendingSince[at]!;
    this.hop.observer.request(status, since, now);
    const meta = this.pendingMeta;
    if (meta === null) return;
    const m = meta[at];
    meta[at] = undefined;
    if (m === undefined || !this.conn.log.isLevelEnabled('info')) return;
    this.conn.log.info(
      {
        client: { address: this.conn.client.address, port: this.conn.client.port },
        method: m.method,
        path: m.path,
        status,
        bytes,
        ms: Math.round((now - since) * 10) / 10,
      },
      'request',
    );
  }

  /** Ends our side of the client connection after what was written; the peer has LINGER_MS to close. */
  private endClient(): void {
    this.stopReading();
    if (!this.client.writableEnded) this.client.end();
    if (this.lingerSince === 0) this.lingerSince = this.hop.clock || 1;
  }

  private stopReading(): void {
    this.state = Q_STOP;
    this.acc = null;
    this.pause(P_STOP);
  }

  /**
   * Answers an error, then closes. A client error found while responses are still owed to the
   * client (pipelining) waits for them, so that it answers the right request; app errors (502,
   * 504) answer the front request, which has had no response byte yet.
   */
  private fail<C extends HttpCode | ''>(status: StatusBeside<C>, code: C, now = false): void {
    if (this.finished || this.client.writableEnded) return;
    const t = this.tracker;
    const appError = status === 502 || status === 504;
    if (!appError && !now && t.outstanding > 0 && !t.lost) {
      if (this.deferredStatus === 0) {
        this.deferredStatus = status;
        this.deferredCode = code;
        this.state = Q_STOP;
        this.acc = null;
        this.pause(P_STOP);
      }
      return;
    }
    this.hop.metrics.httpErrors.inc({ status, code });
    this.conn.log.info({ status, code }, 'request refused');
    this.closeAs(REASON_OF_CODE[code] ?? 'bad_request', code);
    // 502/504 answer the front request, which the app has not answered.
    if (appError && this.pendingCount > 0) this.requestAnswered(status, 0, performance.now());
    this.client.write(answer(status, code));
    this.app?.destroy();
    this.endClient();
  }

  /** A body framing error after the head went to the app: answer 400 only if nothing else is pending. */
  private failMidRequest(code: HttpCode | ''): void {
    const t = this.tracker;
    if (t.outstanding === 1 && t.awaitingHead()) {
      this.fail(400, code, true);
      return;
    }
    this.hop.metrics.httpErrors.inc({ status: 0, code });
    this.closeAs('bad_request', code);
    this.client.destroy();
  }

  /**
   * The connection started with the HTTP/2 preface: it leaves this hop, with every byte read so
   * far put back, for the listener's HTTP/2 proxy (no app connection was made, nothing was
   * forwarded, and it is reported by the HTTP/2 side when it ends).
   */
  private toHttp2(buf: Buffer, pos: number): void {
    this.finished = true;
    this.state = Q_STOP;
    this.pauses |= P_STOP;
    this.acc = null;
    const c = this.client;
    c.pause();
    c.removeListener('end', this.onEnd);
    c.removeListener('error', this.onError);
    c.removeListener('close', this.onClose);
    c.removeListener('drain', this.onDrain);
    if (this.onData !== null) c.removeListener('data', this.onData);
    this.hop.closed(this);
    c.unshift(pos === 0 ? buf : buf.subarray(pos));
    this.hop.http2(this.conn);
  }

  /** The first request starts like a TLS ClientHello: nothing to answer, the client would not read it. */
  private tlsOnHttp(): void {
    this.hop.metrics.httpErrors.inc({ status: 0, code: 'HTTP_TLS_ON_HTTP_LISTENER' });
    this.conn.log.warn(
      {
        code: 'HTTP_TLS_ON_HTTP_LISTENER',
        hint: 'this listener is http; for TLS passthrough use a tcp or transparent listener',
      },
      'tls handshake on an http listener',
    );
    this.closeAs('bad_request', 'HTTP_TLS_ON_HTTP_LISTENER');
    this.client.destroy();
  }

  // ---- timers and drain (called by the hop) ----------------------------------------------------

  /** `now` is the hop clock; armed timestamps are at least one sweep interval in the future of when they were set. */
  tick(now: number): void {
    if (this.finished) return;
    const c = this.hop.config;
    if (this.lingerSince !== 0) {
      if (now - this.lingerSince > LINGER_MS) this.client.destroy();
      return;
    }
    if (this.connectingSince !== 0 && now - this.connectingSince > c.connectTimeoutMs) {
      this.fail(504, 'HTTP_APP_CONNECT_TIMEOUT');
      return;
    }
    if (this.waitingSince !== 0 && now - this.waitingSince > c.appTimeoutMs && this.tracker.awaitingHead()) {
      this.fail(504, 'HTTP_APP_TIMEOUT');
      return;
    }
    if (this.headSince !== 0 && now - this.headSince > c.requestHeadTimeoutMs && this.atHead()) {
      this.fail(408, 'HTTP_HEAD_TIMEOUT');
      return;
    }
    if (
      this.keepAliveSince !== 0 &&
      c.keepAliveTimeoutMs > 0 &&
      now - this.keepAliveSince > c.keepAliveTimeoutMs &&
      this.atHead() &&
      this.tracker.outstanding === 0 &&
      !this.reqInProgress
    ) {
      // nginx's keepalive_timeout: a quiet close, nothing is owed to the client.
      this.closeReason = 'keepalive_timeout';
      this.endClient();
      this.app?.end();
      return;
    }
    // lastActive is the coarse clock, up to one sweep interval old: without the interval, an idle
    // timeout could fire that much early (found by test/hardening/slow-clients.test.ts).
    // Idle: silent both ways. A complete request waiting for the app's response head is the app
    // timeout's business; anything else silent this long (between requests, a stalled upload, a
    // client that stopped reading its response, a tunnel) is closed.
    if (c.idleTimeoutMs > 0 && now - this.lastActive - this.hop.interval > c.idleTimeoutMs) {
      const t = this.tracker;
      if (this.waitingSince !== 0 && t.awaitingHead()) return;
      this.closeReason = 'idle_timeout';
      if (t.outstanding === 0 && !this.reqInProgress && !t.tunnel) {
        this.endClient();
        this.app?.end();
      } else this.client.destroy();
    }
  }

  /** SIGTERM: close now if between requests, else after the response in flight. */
  drain(): void {
    this.draining = true;
    this.drainCheck();
  }

  private drainCheck(): void {
    if (this.finished || this.tracker.tunnel) return;
    if (this.tracker.outstanding === 0 && !this.reqInProgress) {
      if (this.closeReason === '') this.closeReason = 'drain';
      this.endClient();
      this.app?.end();
    }
  }
}
