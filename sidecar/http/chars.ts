/**
 * Byte classes of RFC 9110 / RFC 9112, as one lookup table (no regular expressions on the hot path).
 */
export const TCHAR = 1;
/** request-target bytes we accept: VCHAR (%x21-7E). No controls, no spaces, no obs-text. */
export const TARGET = 2;
/** field-value bytes: HTAB, SP, VCHAR, obs-text (%x80-FF). Never NUL, CR, LF or other controls. */
export const FIELD = 4;
export const HEX = 8;

export const CLASS = new Uint8Array(256);
for (let b = 0x21; b <= 0x7e; b++) CLASS[b]! |= TARGET | FIELD;
for (let b = 0x80; b <= 0xff; b++) CLASS[b]! |= FIELD;
CLASS[0x09]! |= FIELD;
CLASS[0x20]! |= FIELD;
// tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
for (const c of "!#$%&'*+-.^_`|~") CLASS[c.charCodeAt(0)]! |= TCHAR;
for (let b = 0x30; b <= 0x39; b++) CLASS[b]! |= TCHAR | HEX;
for (let b = 0x41; b <= 0x5a; b++) CLASS[b]! |= TCHAR;
for (let b = 0x61; b <= 0x7a; b++) CLASS[b]! |= TCHAR;
for (let b = 0x41; b <= 0x46; b++) CLASS[b]! |= HEX;
for (let b = 0x61; b <= 0x66; b++) CLASS[b]! |= HEX;

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const SEMI = 0x3b;

export const CRLF = Buffer.from('\r\n', 'latin1');
export const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Case-insensitive compare of buf[s, e) with a lowercase ASCII name made of letters, digits and
 * '-'. Only valid on bytes already checked to be tchars: `b | 0x20` then maps exactly the upper
 * and lower case of a letter to the lower case, and no other tchar onto a letter, digit or '-'.
 */
export function eqLower(buf: Buffer, s: number, e: number, lower: Buffer): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    if ((buf[s + i]! | 0x20) !== lower[i]) return false;
  }
  return true;
}

/**
 * Like eqLower, but '_' also matches '-'. CGI-style servers (WSGI, PHP, many frameworks on top)
 * expose both X-Forwarded-For and X_Forwarded_For as HTTP_X_FORWARDED_FOR, so the underscore
 * spelling of a forwarding field is the same field to them. ('_' | 0x20 is 0x7f, which is not a
 * tchar, so only '_' folds onto '-'.)
 */
export function eqFold(buf: Buffer, s: number, e: number, lower: Buffer): boolean {
  if (e - s !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const b = buf[s + i]! | 0x20;
    if (b !== lower[i] && !(b === 0x7f && lower[i] === 0x2d)) return false;
  }
  return true;
}

/** Same as eqFold, for a prefix. */
export function startsFold(buf: Buffer, s: number, e: number, lower: Buffer): boolean {
  if (e - s < lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const b = buf[s + i]! | 0x20;
    if (b !== lower[i] && !(b === 0x7f && lower[i] === 0x2d)) return false;
  }
  return true;
}

export function latin1(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}
