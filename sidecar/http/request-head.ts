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
import {
  CLASS,
  COLON,
  COMMA,
  CR,
  eqFold,
  eqLower,
  FIELD,
  HTAB,
  LF,
  latin1,
  SP,
  startsFold,
  TARGET,
  TCHAR,
} from './chars.ts';
import {
  F_FORWARDED,
  F_OTHER,
  F_X_REAL_IP,
  F_XF_HOST,
  F_XF_PORT,
  F_XF_PROTO,
  F_XFF,
  FORWARDING_FIELDS,
  type FieldRole,
} from './forwarding-fields.ts';

/** Header classes the hop cares about. Everything else is H_OTHER and passes through untouched. */
export const H_OTHER = 0;
export const H_CONTENT_LENGTH = 1;
export const H_TRANSFER_ENCODING = 2;
export const H_CONNECTION = 3;
export const H_UPGRADE = 4;
export const H_EXPECT = 5;
export const H_HOST = 6;
export const H_XFF = 7;
export const H_FORWARDED = 8;
export const H_X_REAL_IP = 9;
export const H_XF_PROTO = 10;
export const H_XF_PORT = 11;
export const H_XF_HOST = 12;
/**
 * Every other field that a framework, client-IP library or CDN convention reads as the client's
 * address or scheme (forwarding-fields.ts): spoofable here.
 */
export const H_CLIENT_IP = 13;
/** X-Realip-*: our own TLV headers; only we may set them. */
export const H_REALIP = 14;
/**
 * Content_Length / Transfer_Encoding: a different field to us and to most servers, the same one to
 * CGI-style stacks. Framing must never depend on who reads it: refused with 400.
 */
export const H_AMBIGUOUS = 15;
/**
 * Removed in every policy: HTTP2-Settings, and Upgrade fields that ask for anything but WebSocket.
 * An upgrade to h2c (or TLS, or anything else) would switch the connection to a protocol whose
 * requests the hop cannot rewrite: every HTTP/2 stream after the 101 would carry whatever
 * x-forwarded-for the client wrote (Envoy strips h2c upgrades for the same reason). Without its
 * Upgrade field the request is an ordinary one and the app answers it as such.
 */
export const H_STRIP = 16;

const ROLE_CLASS: Readonly<Record<FieldRole, number>> = {
  [F_XFF]: H_XFF,
  [F_FORWARDED]: H_FORWARDED,
  [F_X_REAL_IP]: H_X_REAL_IP,
  [F_XF_PROTO]: H_XF_PROTO,
  [F_XF_PORT]: H_XF_PORT,
  [F_XF_HOST]: H_XF_HOST,
  [F_OTHER]: H_CLIENT_IP,
};

/** The forwarding fields by name length: one short list to compare against per field line. */
const FORWARDING_BY_LENGTH: { readonly name: Buffer; readonly cls: number }[][] = [];
for (const f of FORWARDING_FIELDS) {
  (FORWARDING_BY_LENGTH[f.name.length] ??= []).push({ name: latin1(f.name), cls: ROLE_CLASS[f.role] });
}

const N = {
  contentLength: latin1('content-length'),
  transferEncoding: latin1('transfer-encoding'),
  connection: latin1('connection'),
  upgrade: latin1('upgrade'),
  expect: latin1('expect'),
  host: latin1('host'),
  http2Settings: latin1('http2-settings'),
  websocket: latin1('websocket'),
  realipPrefix: latin1('x-realip-'),
  chunked: latin1('chunked'),
  close: latin1('close'),
  keepAlive: latin1('keep-alive'),
  continue100: latin1('100-continue'),
  connectMethod: latin1('CONNECT'),
};

/** Classifies a field name (already validated as a token). Dispatch on length, then compare. */
export function classify(buf: Buffer, s: number, e: number): number {
  const len = e - s;
  switch (len) {
    case 4:
      if (eqLower(buf, s, e, N.host)) return H_HOST;
      break;
    case 6:
      if (eqLower(buf, s, e, N.expect)) return H_EXPECT;
      break;
    case 7:
      if (eqLower(buf, s, e, N.upgrade)) return H_UPGRADE;
      break;
    case 10:
      if (eqLower(buf, s, e, N.connection)) return H_CONNECTION;
      break;
    case 14:
      if (eqLower(buf, s, e, N.contentLength)) return H_CONTENT_LENGTH;
      if (eqFold(buf, s, e, N.http2Settings)) return H_STRIP;
      break;
    case 17:
      if (eqLower(buf, s, e, N.transferEncoding)) return H_TRANSFER_ENCODING;
      break;
  }
  const candidates = FORWARDING_BY_LENGTH[len];
  if (candidates !== undefined) {
    for (let k = 0; k < candidates.length; k++) {
      const c = candidates[k]!;
      if (eqFold(buf, s, e, c.name)) return c.cls;
    }
  }
  if (startsFold(buf, s, e, N.realipPrefix)) return H_REALIP;
  // The underscore spelling of a framing field: refused (see H_AMBIGUOUS).
  if (
    (len === 14 && eqFold(buf, s, e, N.contentLength)) ||
    (len === 17 && eqFold(buf, s, e, N.transferEncoding))
  )
    return H_AMBIGUOUS;
  return H_OTHER;
}

/**
 * True when every protocol an Upgrade value names is WebSocket (RFC 9110 7.8: a comma-separated
 * list of `name[/version]`). An empty or malformed value is not.
 */
export function upgradeIsWebSocket(buf: Buffer, vs: number, ve: number): boolean {
  let p = vs;
  let any = false;
  while (p < ve) {
    while (p < ve && (buf[p] === SP || buf[p] === HTAB || buf[p] === COMMA)) p++;
    if (p >= ve) break;
    const cs = p;
    while (p < ve && CLASS[buf[p]!]! & TCHAR) p++;
    const ce = p;
    // An optional "/version": WebSocket has none, so any version makes it another protocol.
    while (p < ve && (buf[p] === SP || buf[p] === HTAB)) p++;
    if (p < ve && buf[p] !== COMMA) return false;
    if (!eqLower(buf, cs, ce, N.websocket)) return false;
    any = true;
  }
  return any;
}

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
    else if (ml === 7 && buf.compare(N.connectMethod, 0, 7, ms, i) === 0) this.method = M_CONNECT;
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

/**
 * Content-Length: 1*DIGIT, or a list of identical values ("5, 5", RFC 9110 8.6). At most 15
 * digits (below 2^53). Returns -1 when invalid.
 */
export function parseContentLength(buf: Buffer, s: number, e: number): number {
  let value = -1;
  let p = s;
  for (;;) {
    const ds = p;
    let v = 0;
    while (p < e && buf[p]! >= 0x30 && buf[p]! <= 0x39) {
      v = v * 10 + (buf[p]! - 0x30);
      p++;
    }
    if (p === ds || p - ds > 15) return -1;
    if (value >= 0 && v !== value) return -1;
    value = v;
    while (p < e && (buf[p] === SP || buf[p] === HTAB)) p++;
    if (p >= e) return value;
    if (buf[p] !== COMMA) return -1;
    p++;
    while (p < e && (buf[p] === SP || buf[p] === HTAB)) p++;
  }
}

export const CONN_CLOSE = 1;
export const CONN_KEEP_ALIVE = 2;

/** The "close" and "keep-alive" options of a Connection field value (a comma-separated list). */
export function connectionTokens(buf: Buffer, vs: number, ve: number): number {
  let out = 0;
  let p = vs;
  while (p < ve) {
    while (p < ve && (buf[p] === SP || buf[p] === HTAB || buf[p] === COMMA)) p++;
    const cs = p;
    while (p < ve && buf[p] !== COMMA) p++;
    let ce = p;
    while (ce > cs && (buf[ce - 1] === SP || buf[ce - 1] === HTAB)) ce--;
    if (eqLower(buf, cs, ce, N.close)) out |= CONN_CLOSE;
    else if (eqLower(buf, cs, ce, N.keepAlive)) out |= CONN_KEEP_ALIVE;
  }
  return out;
}
