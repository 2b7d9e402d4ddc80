/**
 * The field grammar shared by the request side (request-head.ts, trailer.ts, rewrite.ts) and the
 * response side (response.ts): which fields the hop cares about (classes), and the values that
 * frame a message or announce its end (Content-Length, Connection, Upgrade). Byte classes are in
 * chars.ts; nothing here allocates.
 */
import { CLASS, COMMA, eqFold, eqLower, HTAB, latin1, SP, startsFold, TCHAR } from './chars.ts';
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

/** Lowercase names and tokens, compared with eqLower / eqFold (chars.ts). */
export const N = {
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
