/**
 * Observes the app's responses without changing a byte: it parses only response heads (status,
 * Content-Length, Transfer-Encoding, Connection) and tracks body framing, so that the hop knows
 *   - which request a response answers (a FIFO of request kinds; responses come in request order),
 *   - whether an Upgrade request got 101 (the connection becomes a tunnel),
 *     or was refused (the connection stays HTTP and later requests are still rewritten),
 *   - whether a request is still waiting for its response head (504 after --app-timeout, 502 when
 *     the app closes before answering), and when a connection is idle (drain).
 * If the app's bytes cannot be framed (a malformed head, bytes nobody asked for), the tracker is
 * "lost": the hop then forwards what the app sends, stops reading requests and closes after it.
 */
import { ChunkedScanner, CHUNKED_ERROR, CHUNKED_TRAILER } from './chunked.ts';
import { COLON, CR, CRLFCRLF, eqLower, LF } from './chars.ts';
import { CONN_CLOSE, CONN_KEEP_ALIVE, connectionTokens, N, parseContentLength } from './fields.ts';
import { findBlockEnd } from './trailer.ts';

/** Request kinds in the FIFO. */
export const K_HEAD = 1;
export const K_UPGRADE = 2;

/** Events returned by feed() (a bitmask: several responses may complete in one chunk). */
export const E_TUNNEL = 1;
export const E_REFUSED = 2;
export const E_LOST = 4;
export const E_COMPLETE = 8;

const R_HEAD = 0;
const R_LENGTH = 1;
const R_CHUNKED = 2;
const R_TRAILER = 3;
const R_CLOSE = 4;
const R_TUNNEL = 5;
const R_LOST = 6;

/** Response heads can carry large cookies; beyond this the tracker gives up (lost). */
export const MAX_RESPONSE_HEAD = 65536;
/** Pipelining depth: the hop stops reading requests while this many await responses. */
export const MAX_OUTSTANDING = 64;

/** Told of every final response (and of a 101), in order: status and bytes of the response. */
export interface ResponseSink {
  responseDone(status: number, bytes: number): void;
}

export class ResponseTracker {
  /** Set by the connection; a sink instead of a callback: nothing is allocated per response. */
  sink: ResponseSink | null = null;
  private state = R_HEAD;
  private readonly queue = new Uint8Array(MAX_OUTSTANDING);
  private qHead = 0;
  outstanding = 0;
  private partial: Buffer | null = null;
  private remaining = 0;
  private readonly chunked = new ChunkedScanner();
  /** Bytes of the current response forwarded so far (0: the client has seen nothing of it). */
  bytesOfCurrent = 0;
  /** The app said it will close after the current response. */
  closing = false;
  /** Status of the last response head seen. */
  lastStatus = 0;
  lostReason = '';

  push(kind: number): void {
    this.queue[(this.qHead + this.outstanding) % MAX_OUTSTANDING] = kind;
    this.outstanding++;
  }

  /** The front request has had no byte of its response yet (and the tracker can still frame). */
  awaitingHead(): boolean {
    return this.state === R_HEAD && this.outstanding > 0 && this.partial === null;
  }

  get tunnel(): boolean {
    return this.state === R_TUNNEL;
  }

  get lost(): boolean {
    return this.state === R_LOST;
  }

  /** The app closed: the response being read until close (if any) is complete. */
  eof(): void {
    if (this.state === R_CLOSE) {
      this.sink?.responseDone(this.lastStatus, this.bytesOfCurrent);
      this.pop();
    }
  }

  feed(buf: Buffer): number {
    let events = 0;
    let i = 0;
    const end = buf.length;
    while (i < end) {
      switch (this.state) {
        case R_TUNNEL:
        case R_LOST:
        case R_CLOSE:
          this.bytesOfCurrent += end - i;
          return events;
        case R_LENGTH: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          this.bytesOfCurrent += n;
          i += n;
          if (this.remaining === 0) events |= this.complete();
          continue;
        }
        case R_CHUNKED: {
          const stop = this.chunked.scan(buf, i, end);
          this.bytesOfCurrent += stop - i;
          i = stop;
          if (this.chunked.state === CHUNKED_ERROR)
            return events | this.lose(`chunked: ${this.chunked.error}`);
          if (this.chunked.state === CHUNKED_TRAILER) this.state = R_TRAILER;
          continue;
        }
        case R_TRAILER: {
          const prev = this.partial ? this.partial.length : 0;
          const block = this.partial ? Buffer.concat([this.partial, buf.subarray(i)]) : buf.subarray(i);
          const at = findBlockEnd(block, 0);
          if (at < 0) {
            if (block.length > MAX_RESPONSE_HEAD) return events | this.lose('trailer section too large');
            this.partial = block;
            this.bytesOfCurrent += end - i;
            return events;
          }
          this.partial = null;
          const used = at - prev;
          this.bytesOfCurrent += used;
          i += used;
          events |= this.complete();
          continue;
        }
        case R_HEAD: {
          if (this.outstanding === 0) return events | this.lose('response bytes without a request');
          if (this.partial === null) {
            const idx = buf.indexOf(CRLFCRLF, i);
            if (idx < 0) {
              if (end - i > MAX_RESPONSE_HEAD) return events | this.lose('response head too large');
              this.partial = buf.subarray(i);
              this.bytesOfCurrent += end - i;
              return events;
            }
            this.bytesOfCurrent += idx + 4 - i;
            events |= this.head(buf, i, idx + 4);
            i = idx + 4;
          } else {
            const prev = this.partial.length;
            const block = Buffer.concat([this.partial, buf.subarray(i)]);
            const idx = block.indexOf(CRLFCRLF, Math.max(0, prev - 3));
            if (idx < 0) {
              if (block.length > MAX_RESPONSE_HEAD) return events | this.lose('response head too large');
              this.partial = block;
              this.bytesOfCurrent += end - i;
              return events;
            }
            this.partial = null;
            const used = idx + 4 - prev;
            this.bytesOfCurrent += used;
            events |= this.head(block, 0, idx + 4);
            i += used;
          }
          if (events & (E_TUNNEL | E_LOST)) return events;
          continue;
        }
      }
    }
    return events;
  }

  private head(buf: Buffer, s: number, e: number): number {
    // "HTTP/1." DIGIT SP 3DIGIT
    if (
      buf[s] !== 0x48 ||
      buf[s + 1] !== 0x54 ||
      buf[s + 2] !== 0x54 ||
      buf[s + 3] !== 0x50 ||
      buf[s + 4] !== 0x2f ||
      buf[s + 5] !== 0x31 ||
      buf[s + 6] !== 0x2e ||
      buf[s + 8] !== 0x20
    )
      return this.lose('malformed status line');
    const minor = buf[s + 7]!;
    const d0 = buf[s + 9]! - 0x30;
    const d1 = buf[s + 10]! - 0x30;
    const d2 = buf[s + 11]! - 0x30;
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return this.lose('malformed status code');
    const status = d0 * 100 + d1 * 10 + d2;
    this.lastStatus = status;
    const kind = this.queue[this.qHead]!;
    if (status < 200) {
      if (status === 101) {
        if (!(kind & K_UPGRADE)) return this.lose('101 to a request without Upgrade');
        this.state = R_TUNNEL;
        this.sink?.responseDone(101, this.bytesOfCurrent);
        return E_TUNNEL;
      }
      // 100 Continue, 103 Early Hints...: interim, the final response follows.
      return 0;
    }
    let events = 0;
    if (kind & K_UPGRADE) events |= E_REFUSED;
    // Header lines: only the three that frame the body or announce a close.
    let cl = -1;
    let clBad = false;
    let te = false;
    let teChunkedLast = false;
    let close = minor === 0x30;
    let p = buf.indexOf(LF, s) + 1;
    while (p < e - 2) {
      const lineEnd = buf.indexOf(LF, p);
      if (lineEnd < 0 || buf[lineEnd - 1] !== CR) return events | this.lose('malformed header line');
      const colon = buf.indexOf(COLON, p);
      if (colon > 0 && colon < lineEnd) {
        let vs = colon + 1;
        while (buf[vs] === 0x20 || buf[vs] === 0x09) vs++;
        let ve = lineEnd - 1;
        while (ve > vs && (buf[ve - 1] === 0x20 || buf[ve - 1] === 0x09)) ve--;
        const len = colon - p;
        if (len === 14 && eqLower(buf, p, colon, N.contentLength)) {
          const v = parseContentLength(buf, vs, ve);
          if (v < 0 || (cl >= 0 && v !== cl)) clBad = true;
          cl = v;
        } else if (len === 17 && eqLower(buf, p, colon, N.transferEncoding)) {
          te = true;
          teChunkedLast = ve - vs >= 7 && eqLower(buf, ve - 7, ve, N.chunked);
        } else if (len === 10 && eqLower(buf, p, colon, N.connection)) {
          const t = connectionTokens(buf, vs, ve);
          if (t & CONN_CLOSE) close = true;
          else if (minor === 0x30 && t & CONN_KEEP_ALIVE) close = false;
        }
      }
      p = lineEnd + 1;
    }
    if (close) this.closing = true;
    if (kind & K_HEAD || status === 204 || status === 304) return events | this.complete();
    if (te) {
      if (teChunkedLast) {
        this.chunked.reset();
        this.state = R_CHUNKED;
      } else this.state = R_CLOSE;
      return events;
    }
    if (clBad) return events | this.lose('invalid Content-Length in response');
    if (cl >= 0) {
      if (cl === 0) return events | this.complete();
      this.remaining = cl;
      this.state = R_LENGTH;
      return events;
    }
    this.state = R_CLOSE;
    return events;
  }

  private complete(): number {
    this.sink?.responseDone(this.lastStatus, this.bytesOfCurrent);
    this.pop();
    this.state = R_HEAD;
    this.bytesOfCurrent = 0;
    return E_COMPLETE;
  }

  private pop(): void {
    if (this.outstanding > 0) {
      this.qHead = (this.qHead + 1) % MAX_OUTSTANDING;
      this.outstanding--;
    }
  }

  private lose(why: string): number {
    this.state = R_LOST;
    this.lostReason = why;
    return E_LOST;
  }
}
