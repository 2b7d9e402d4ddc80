/**
 * The request side's framing, the counterpart of the response tracker (response.ts): where each
 * request head ends, how long its body is (Content-Length countdown, chunked scanner, trailer
 * section), and so where the next request starts. A pure state machine: it is handed the bytes the
 * connection has and answers one step at a time what to do with them (forward a head, forward
 * body bytes, keep bytes until more come, refuse with a code), never touching a socket or a timer.
 *
 * One step, not a whole chunk like ResponseTracker.feed(): between two steps the connection may
 * have to stop (pipelining queue full, an Upgrade awaiting its response, draining) and keep the
 * rest of the chunk, which only it can decide. Nothing is allocated per step; the results are
 * fields of this object (`at`, `n`, `status`, `code`, `trailer`).
 */
import { type HttpCode, httpStatus, type StatusBeside } from '../../common/error-codes/registry.ts';
import { SNIFF_H2, SNIFF_NEED_MORE, sniffPreface } from '../http2/preface.ts';
import { CLASS, CR, CRLFCRLF, LF, TCHAR } from './chars.ts';
import { CHUNKED_ERROR, CHUNKED_TRAILER, ChunkedScanner } from './chunked.ts';
import { RequestHead } from './request-head.ts';
import { filterTrailer, findBlockEnd } from './trailer.ts';

/** Steps (the value next() returns). */
/** Keep buf[at..] (if any) and call again with more bytes; `scanned` of it holds no head end. */
export const A_NEED_MORE = 0;
/** Like A_NEED_MORE, inside a request head: the head timeout runs. */
export const A_PARTIAL_HEAD = 1;
/** A head was parsed (`head`), ending at `at`; `inBody` says whether a body follows. */
export const A_HEAD = 2;
/** Forward buf[pos, at): body bytes; the request continues. */
export const A_BODY = 3;
/** Forward buf[pos, at): the last body bytes; the request is complete. */
export const A_BODY_END = 4;
/** Forward `trailer` (the filtered trailer section) in place of buf[pos, at): the request is complete. */
export const A_TRAILER = 5;
/**
 * Refuse before any byte of the request went to the app: answer `status` with `code`. Status 0:
 * not HTTP at all (HTTP_TLS_ON_HTTP_LISTENER), nothing to answer.
 */
export const A_ERROR = 6;
/** The body cannot be framed after its head went to the app (`code`): the request is broken off. */
export const A_BODY_ERROR = 7;
/**
 * The connection starts with the HTTP/2 preface (prior knowledge: h2c, a cleartext gRPC client),
 * at `at`: not an HTTP/1.1 request, but a client that spoke HTTP/2 to the app before its namespace
 * was labelled. The connection hands buf[at..] to the HTTP/2 proxy (docs/sidecar.md).
 */
export const A_H2_PREFACE = 8;

const F_HEAD = 0;
const F_LENGTH = 1;
const F_CHUNKED = 2;
const F_TRAILER = 3;
/** A body error was found: every later step repeats it. */
const F_BROKEN = 4;

const LFLF = Buffer.from('\n\n', 'latin1');

export class RequestFramer {
  /** The last head parsed (reused: no allocation per request). */
  readonly head = new RequestHead();
  /** Bound on a request head and on a trailer section (--max-request-head-bytes). */
  private readonly maxHeadBytes: number;
  private state = F_HEAD;
  private remaining = 0;
  private readonly chunked = new ChunkedScanner();
  /** Heads parsed so far on this connection (a TLS ClientHello can only come first). */
  private heads = 0;
  /** A byte other than a prefix of the HTTP/2 preface came first: this is no HTTP/2 connection. */
  private notH2 = false;

  /** Results of the last step. */
  at = 0;
  /** A_NEED_MORE / A_PARTIAL_HEAD: bytes from `at` already scanned for a head end. */
  scanned = 0;
  status = 0;
  code: HttpCode | '' = '';
  trailer: Buffer | null = null;

  constructor(maxHeadBytes: number) {
    this.maxHeadBytes = maxHeadBytes;
  }

  /** Between requests: the next byte starts a head (leading empty lines included). */
  get atHead(): boolean {
    return this.state === F_HEAD;
  }

  /** After A_HEAD: the request has a body to forward. */
  get inBody(): boolean {
    return this.state === F_LENGTH || this.state === F_CHUNKED || this.state === F_TRAILER;
  }

  /**
   * One step over buf[pos..]: `scanned` is the offset in buf before which no head end can start (a
   * partial head handed in again is not rescanned). Needs pos < buf.length.
   */
  next(buf: Buffer, pos: number, scanned: number): number {
    const end = buf.length;
    switch (this.state) {
      case F_HEAD:
        return this.nextHead(buf, pos, scanned);
      case F_LENGTH: {
        const n = Math.min(this.remaining, end - pos);
        this.remaining -= n;
        this.at = pos + n;
        if (this.remaining > 0) return A_BODY;
        this.state = F_HEAD;
        return A_BODY_END;
      }
      case F_CHUNKED: {
        const stop = this.chunked.scan(buf, pos, end);
        if (this.chunked.state === CHUNKED_ERROR) this.breakOff('HTTP_BAD_CHUNK');
        else if (this.chunked.state === CHUNKED_TRAILER) this.state = F_TRAILER;
        if (stop > pos) {
          // Whatever comes next (the error at `stop`, the trailer), these bytes are body first.
          this.at = stop;
          return A_BODY;
        }
        return this.next(buf, pos, 0);
      }
      case F_TRAILER: {
        const at = findBlockEnd(buf, pos);
        if (at < 0) {
          if (end - pos > this.maxHeadBytes) return this.breakOff('HTTP_BAD_TRAILER');
          return this.needMore(A_NEED_MORE, pos, 0);
        }
        const trailer = filterTrailer(buf, pos, at);
        if (trailer === null) return this.breakOff('HTTP_BAD_TRAILER');
        this.trailer = trailer;
        this.at = at;
        this.state = F_HEAD;
        return A_TRAILER;
      }
      default:
        return A_BODY_ERROR;
    }
  }

  private nextHead(buf: Buffer, pos: number, scanned: number): number {
    const end = buf.length;
    // The preface only counts as the very first bytes ("PRI" is no method; the same bytes later
    // are an HTTP/2.0 request line, answered 505). Its first 18 bytes end like a head, so this
    // comes before the head scan; a partial preface is bounded by the head timeout.
    if (!this.notH2) {
      const s = buf[pos] === 0x50 ? sniffPreface(buf, pos) : -1;
      if (s === SNIFF_H2) {
        this.at = pos;
        return A_H2_PREFACE;
      }
      if (s === SNIFF_NEED_MORE) return this.needMore(A_PARTIAL_HEAD, pos, 0);
      this.notH2 = true;
    }
    // Empty lines before a request line are ignored (RFC 9112 2.2), and never forwarded.
    while (pos < end && buf[pos] === CR) {
      if (pos + 1 === end) return this.needMore(A_NEED_MORE, pos, 0);
      if (buf[pos + 1] !== LF) return this.refuse(400, 'HTTP_BAD_REQUEST_LINE');
      pos += 2;
    }
    if (pos === end) return this.needMore(A_NEED_MORE, end, 0);
    const b0 = buf[pos]!;
    if (!(CLASS[b0]! & TCHAR)) {
      // A TLS ClientHello (handshake record, version 3.x) on the first request: a client that
      // was meant for a TLS passthrough listener, told apart from other garbage for the logs.
      if (b0 === 0x16 && this.heads === 0 && (pos + 1 >= end || buf[pos + 1] === 0x03))
        return this.refuse(0, 'HTTP_TLS_ON_HTTP_LISTENER');
      return this.refuse(400, 'HTTP_BAD_REQUEST_LINE');
    }
    const idx = buf.indexOf(CRLFCRLF, Math.max(pos, scanned - 3));
    const max = this.maxHeadBytes;
    if (idx < 0) {
      if (end - pos > max) return this.refuse(431, 'HTTP_HEAD_TOO_LARGE');
      // A head ended with bare LFs would never complete: refuse it now (scanning only the
      // bytes that are new, plus one: a partial head is never rescanned).
      if (buf.indexOf(LFLF, Math.max(pos, scanned - 1)) >= 0) return this.refuse(400, 'HTTP_BAD_HEADER');
      return this.needMore(A_PARTIAL_HEAD, pos, end - pos);
    }
    const headEnd = idx + 4;
    if (headEnd - pos > max) return this.refuse(431, 'HTTP_HEAD_TOO_LARGE');
    const h = this.head;
    if (!h.parse(buf, pos, headEnd)) return this.refuse(h.status, h.code);
    this.heads++;
    this.at = headEnd;
    if (h.chunked) {
      this.chunked.reset();
      this.state = F_CHUNKED;
    } else if (h.contentLength > 0) {
      this.remaining = h.contentLength;
      this.state = F_LENGTH;
    }
    return A_HEAD;
  }

  private needMore(step: number, at: number, scanned: number): number {
    this.at = at;
    this.scanned = scanned;
    return step;
  }

  /** The status is the one the error registry declares for a literal code (checked by tsc). */
  private refuse<C extends HttpCode | ''>(status: StatusBeside<C>, code: C): number {
    this.status = status;
    this.code = code;
    return A_ERROR;
  }

  /** The body cannot be framed: this step and every later one is A_BODY_ERROR with `code`. */
  private breakOff(code: HttpCode): number {
    this.state = F_BROKEN;
    this.status = httpStatus(code);
    this.code = code;
    return A_BODY_ERROR;
  }
}
