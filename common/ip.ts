/**
 * IP address text <-> bytes, strict. Pure functions, no sockets.
 *
 * IPv4 must be canonical dotted decimal: four octets 0-255 without leading zeros (as glibc's
 * inet_pton, which HAProxy uses, demands; "010" is octal to some parsers and decimal to others,
 * which is exactly the ambiguity an attacker wants). IPv6 is any RFC 4291 text form without a
 * zone id; formatIPv6 gives the RFC 5952 canonical form.
 */

export function parseIPv4(text: string): Uint8Array | undefined {
  // A hand-written scan: this runs once per connection on the header path.
  const len = text.length;
  if (len < 7 || len > 15) return undefined;
  const out = new Uint8Array(4);
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= len; i++) {
    const c = i < len ? text.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return undefined;
      out[part++] = value;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return undefined;
    // No leading zeros: "0" alone is fine, "01" is not.
    if (digits === 1 && value === 0) return undefined;
    value = value * 10 + (c - 0x30);
    if (value > 255) return undefined;
    digits++;
  }
  return part === 4 ? out : undefined;
}

export function parseIPv6(text: string): Uint8Array | undefined {
  const len = text.length;
  if (len < 2 || len > 45) return undefined;
  const words = new Uint16Array(8);
  let n = 0;
  let dbl = -1;
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return undefined;
    dbl = 0;
    i = 2;
  }
  while (i < len) {
    if (n >= 8) return undefined;
    let j = i;
    let v = 0;
    while (j < len && j - i < 5) {
      const h = hexValue(text.charCodeAt(j));
      if (h < 0) break;
      v = v * 16 + h;
      j++;
    }
    if (j < len && text.charCodeAt(j) === 0x2e) {
      // Embedded IPv4 in the last 32 bits.
      if (n > 6) return undefined;
      const v4 = parseIPv4(text.slice(i));
      if (!v4) return undefined;
      words[n++] = (v4[0]! << 8) | v4[1]!;
      words[n++] = (v4[2]! << 8) | v4[3]!;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    words[n++] = v;
    if (j === len) break;
    if (text.charCodeAt(j) !== 0x3a || j + 1 === len) return undefined;
    if (text.charCodeAt(j + 1) === 0x3a) {
      if (dbl >= 0) return undefined;
      dbl = n;
      i = j + 2;
    } else {
      i = j + 1;
    }
  }
  if (dbl < 0 ? n !== 8 : n > 7) return undefined;
  const out = new Uint8Array(16);
  const tail = dbl < 0 ? 0 : n - dbl;
  const head = n - tail;
  for (let k = 0; k < head; k++) {
    out[k * 2] = words[k]! >> 8;
    out[k * 2 + 1] = words[k]! & 0xff;
  }
  for (let k = 0; k < tail; k++) {
    const at = 8 - tail + k;
    out[at * 2] = words[head + k]! >> 8;
    out[at * 2 + 1] = words[head + k]! & 0xff;
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

export function formatIPv4(b: Uint8Array, offset = 0): string {
  return `${b[offset]}.${b[offset + 1]}.${b[offset + 2]}.${b[offset + 3]}`;
}

/** RFC 5952: lowercase, longest run (>= 2) of zero words compressed, first such run on ties. */
export function formatIPv6(b: Uint8Array, offset = 0): string {
  let bestStart = -1;
  let bestLen = 0;
  let curStart = -1;
  for (let i = 0; i < 8; i++) {
    if (b[offset + i * 2] === 0 && b[offset + i * 2 + 1] === 0) {
      if (curStart < 0) curStart = i;
      if (i - curStart + 1 > bestLen) {
        bestLen = i - curStart + 1;
        bestStart = curStart;
      }
    } else {
      curStart = -1;
    }
  }
  if (bestLen < 2) bestStart = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      out += '::';
      i += bestLen - 1;
      continue;
    }
    if (out.length > 0 && out.charCodeAt(out.length - 1) !== 0x3a) out += ':';
    out += ((b[offset + i * 2]! << 8) | b[offset + i * 2 + 1]!).toString(16);
  }
  return out;
}

export type IpFamily = 4 | 6;

export interface ParsedIp {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
}

/** Parses either family; IPv4-mapped IPv6 (::ffff:a.b.c.d) is returned as IPv4. */
export function parseIp(text: string): ParsedIp | undefined {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, bytes: v4 };
  const v6 = parseIPv6(text);
  if (!v6) return undefined;
  if (isV4Mapped(v6)) return { family: 4, bytes: v6.slice(12) };
  return { family: 6, bytes: v6 };
}

export function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** The address as an app should see it: IPv4-mapped IPv6 from a dual-stack socket shown as IPv4. */
export function normalizeIp(text: string): string {
  const p = parseIp(text);
  if (!p) return text;
  return p.family === 4 ? formatIPv4(p.bytes) : formatIPv6(p.bytes);
}
