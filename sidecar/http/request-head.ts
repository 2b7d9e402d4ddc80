/**
 * A strict, small HTTP/1.x request-head parser (RFC 9112 sections 2-3, 5-6). It never builds
 * strings: it validates every byte of the head once, records what framing the request uses, and
 * the byte ranges of the header lines the hop removes. Anything ambiguous is refused, not guessed
 * (RFC 9112 section 6.3: a server that cannot determine the message length MUST respond 400):
 *   - bare LF, a CR not followed by LF, NUL and other controls anywhere in the head;
 *   - obs-fold (a header line starting with SP or HTAB): a folded X-Forwarded-For could be read as
 *     one line by us and as two by the app, or the reverse;
 *   - whitespace between a field name and its colon (RFC 9112 5.1: MUST be rejected);
 *   - Content-Length with more than one distinct value, with non-digits, or together with
 *     Transfer-Encoding (the classic CL.TE / TE.CL smuggling pair);
 *   - Transfer-Encoding whose codings are not exactly `chunked` (final chunked with other codings
 *     before it: 501 like nginx; anything else: 400), or in an HTTP/1.0 request;
 *   - a missing or repeated Host in HTTP/1.1, more than one Host in HTTP/1.0.
 * The caller hands over a complete head: buf[start, end) ends with the first CRLFCRLF.
 */
import type { HttpCode, HttpStatusOf } from '../../common/error-codes/registry.ts';
import { CLASS, COLON, COMMA, CR, eqLower, FIELD, HTAB, LF, latin1, SP, TARGET, TCHAR } from './chars.ts';
import {
  CONN_CLOSE,
  CONN_KEEP_ALIVE,
  classify,
  connectionTokens,
  H_AMBIGUOUS,
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_EXPECT,
  H_HOST,
  H_OTHER,
  H_STRIP,
  H_TRANSFER_ENCODING,
  H_UPGRADE,
  N,
  parseContentLength,
  upgradeIsWebSocket,
} from './fields.ts';

const CONNECT_METHOD = latin1('CONNECT');

export const M_OTHER = 0;
export const M_HEAD = 1;
export const M_CONNECT = 2;

/** Parse result, reused across requests of a connection (no allocation per request). */
export class RequestHead {
  method = M_OTHER;
  /** 10 or 11. */
  version = 11;
  /** -1 when absent. */
  contentLength = -1;
  chunked = false;
  /** An Upgrade header is present: the response may be 101 and turn the connection into a tunnel. */
  upgrade = false;
  expectContinue = false;
  /** The client asked to close after this request (1.1 "close", or 1.0 without "keep-alive"). */
  close = false;
  /** Offset of the request line (after any leading empty lines). */
  lineStart = 0;
  /** End of the method; start and end of the request-target (access log). */
  methodEnd = 0;
  targetStart = 0;
  targetEnd = 0;
  /** Header lines: [lineStart, lineEnd (after CRLF), class, valueStart, valueEnd] x count. */
  lines: number[] = [];
  lineCount = 0;
  /** When the parse fails: the status to answer and the error code. */
  status = 0;
  code: HttpCode | '' = '';

  reset(): void {
    this.method = M_OTHER;
    this.version = 11;
    this.contentLength = -1;
    this.chunked = false;
    this.upgrade = false;
    this.expectContinue = false;
    this.close = false;
    this.lineStart = 0;
    this.lineCount = 0;
    this.status = 0;
    this.code = '';
  }

  /** The status is the one the error registry declares for the code (checked at compile time). */
  private fail<C extends HttpCode>(status: HttpStatusOf<C>, code: C): false {
    this.status = status;
    this.code = code;
    return false;
  }

  /**
   * Parses buf[start, end): leading empty lines allowed (RFC 9112 2.2), then the request line,
   * header lines, and the final empty line ending exactly at `end`. Returns false with status/code
   * set when the head is refused.
   */
  parse(buf: Buffer, start: number, end: number): boolean {
    this.reset();
    let i = start;
    while (i + 4 < end && buf[i] === CR && buf[i + 1] === LF) i += 2;
    this.lineStart = i;
    // method SP request-target SP HTTP-version CRLF
    const ms = i;
    while (CLASS[buf[i]!]! & TCHAR) i++;
    if (i === ms || buf[i] !== SP) return this.fail(400, 'HTTP_BAD_REQUEST_LINE');
    const ml = i - ms;
    this.methodEnd = i;
    if (ml === 4 && buf[ms] === 0x48 && buf[ms + 1] === 0x45 && buf[ms + 2] === 0x41 && buf[ms + 3] === 0x44)
      this.method = M_HEAD;
    else if (ml === 7 && buf.compare(CONNECT_METHOD, 0, 7, ms, i) === 0) this.method = M_CONNECT;
    i++;
    const ts = i;
    while (CLASS[buf[i]!]! & TARGET) i++;
    if (i === ts || buf[i] !== SP) return this.fail(400, 'HTTP_BAD_REQUEST_LINE');
    this.targetStart = ts;
    this.targetEnd = i;
    i++;
    // "HTTP/" DIGIT "." DIGIT CRLF, and only 1.0 and 1.1.
    if (
      buf[i] !== 0x48 ||
      buf[i + 1] !== 0x54 ||
      buf[i + 2] !== 0x54 ||
      buf[i + 3] !== 0x50 ||
      buf[i + 4] !== 0x2f ||
      buf[i + 6] !== 0x2e ||
      buf[i + 8] !== CR ||
      buf[i + 9] !== LF
    )
      return this.fail(400, 'HTTP_BAD_REQUEST_LINE');
    const major = buf[i + 5]!;
    const minor = buf[i + 7]!;
    if (major === 0x31 && minor === 0x31) this.version = 11;
    else if (major === 0x31 && minor === 0x30) this.version = 10;
    else if (major >= 0x30 && major <= 0x39 && minor >= 0x30 && minor <= 0x39)
      return this.fail(505, 'HTTP_VERSION_NOT_SUPPORTED');
    else return this.fail(400, 'HTTP_BAD_REQUEST_LINE');
    i += 10;

    let hosts = 0;
    let te = false;
    let teOther = false;
    let teLastChunked = false;
    let connClose = false;
    let connKeepAlive = false;
    let upgradeOther = false;
    const lines = this.lines;
    let n = 0;
    for (;;) {
      const ls = i;
      const b0 = buf[i];
      if (b0 === CR) {
        if (buf[i + 1] !== LF || i + 2 !== end) return this.fail(400, 'HTTP_BAD_HEADER');
        break;
      }
      if (b0 === SP || b0 === HTAB) return this.fail(400, 'HTTP_OBS_FOLD');
      while (CLASS[buf[i]!]! & TCHAR) i++;
      if (i === ls || buf[i] !== COLON) return this.fail(400, 'HTTP_BAD_HEADER');
      const ne = i;
      i++;
      while (buf[i] === SP || buf[i] === HTAB) i++;
      const vs = i;
      while (CLASS[buf[i]!]! & FIELD) i++;
      if (buf[i] !== CR || buf[i + 1] !== LF) return this.fail(400, 'HTTP_BAD_HEADER');
      let ve = i;
      while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HTAB)) ve--;
      i += 2;
      const cls = classify(buf, ls, ne);
      switch (cls) {
        case H_CONTENT_LENGTH: {
          const v = parseContentLength(buf, vs, ve);
          if (v < 0 || (this.contentLength >= 0 && v !== this.contentLength))
            return this.fail(400, 'HTTP_BAD_CONTENT_LENGTH');
          this.contentLength = v;
          break;
        }
        case H_TRANSFER_ENCODING: {
          te = true;
          // A comma-separated list of codings; chunked must be last and appear once.
          let p = vs;
          for (;;) {
            while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
            const cs = p;
            while (p < ve && CLASS[buf[p]!]! & TCHAR) p++;
            const ce = p;
            while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
            if (ce === cs || (p < ve && buf[p] !== COMMA))
              return this.fail(400, 'HTTP_BAD_TRANSFER_ENCODING');
            if (eqLower(buf, cs, ce, N.chunked)) {
              if (teLastChunked) return this.fail(400, 'HTTP_BAD_TRANSFER_ENCODING');
              teLastChunked = true;
            } else {
              // A coding after chunked makes the body unframeable (RFC 9112 6.3 item 4).
              if (teLastChunked) return this.fail(400, 'HTTP_BAD_TRANSFER_ENCODING');
              teOther = true;
            }
            if (p >= ve) break;
            p++;
          }
          break;
        }
        case H_CONNECTION: {
          const t = connectionTokens(buf, vs, ve);
          if (t & CONN_CLOSE) connClose = true;
          if (t & CONN_KEEP_ALIVE) connKeepAlive = true;
          break;
        }
        case H_UPGRADE:
          this.upgrade = true;
          if (!upgradeIsWebSocket(buf, vs, ve)) upgradeOther = true;
          break;
        case H_EXPECT:
          if (eqLower(buf, vs, ve, N.continue100)) this.expectContinue = true;
          break;
        case H_HOST:
          hosts++;
          break;
        case H_AMBIGUOUS:
          return this.fail(400, 'HTTP_BAD_HEADER');
      }
      if (cls !== H_OTHER) {
        lines[n] = ls;
        lines[n + 1] = i;
        lines[n + 2] = cls;
        lines[n + 3] = vs;
        lines[n + 4] = ve;
        n += 5;
      }
    }
    this.lineCount = n / 5;
    if (hosts > 1 || (hosts === 0 && this.version === 11)) return this.fail(400, 'HTTP_BAD_HOST');
    if (te) {
      if (this.version === 10) return this.fail(400, 'HTTP_BAD_TRANSFER_ENCODING');
      if (this.contentLength >= 0) return this.fail(400, 'HTTP_CONTENT_LENGTH_AND_CHUNKED');
      if (!teLastChunked) return this.fail(400, 'HTTP_BAD_TRANSFER_ENCODING');
      if (teOther) return this.fail(501, 'HTTP_UNSUPPORTED_TRANSFER_ENCODING');
      this.chunked = true;
    }
    // The app is an origin server, not a proxy: a CONNECT answered 2xx by a catch-all handler
    // would become a blind tunnel, and every request after it would reach the app unrewritten.
    // nginx answers 405 and HAProxy 400 to the same bytes.
    if (this.method === M_CONNECT) return this.fail(405, 'HTTP_CONNECT_REFUSED');
    if (upgradeOther) {
      // Not WebSocket (h2c, TLS/1.0, ...): every Upgrade field goes, and the request is ordinary.
      for (let k = 0; k < n; k += 5) if (lines[k + 2] === H_UPGRADE) lines[k + 2] = H_STRIP;
      this.upgrade = false;
    }
    this.close = this.version === 11 ? connClose : !connKeepAlive || connClose;
    return true;
  }
}
