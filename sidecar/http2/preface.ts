/**
 * The HTTP/2 connection preface (RFC 9113 3.4): a prior-knowledge client starts with these 24
 * bytes, then a SETTINGS frame. Pure: the hop feeds it the first bytes after the PROXY header.
 *
 * The preface is chosen so that no HTTP/1.x request starts with it ("PRI" is no registered method,
 * and an HTTP/1.1 server would answer "PRI * HTTP/2.0" with a 505 anyway), so the first byte that
 * differs settles it: an HTTP/1.1 client is handed over after its first byte, never held.
 */
export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** HTTP/2 prior knowledge: every byte of the preface is there. */
export const SNIFF_H2 = 0;
/** A byte differs from the preface: HTTP/1.x (or anything else), for the HTTP/1.1 hop. */
export const SNIFF_OTHER = 1;
/** Every byte so far matches the preface but it is not complete yet. */
export const SNIFF_NEED_MORE = 2;
export type Sniff = typeof SNIFF_H2 | typeof SNIFF_OTHER | typeof SNIFF_NEED_MORE;

/** What the first bytes of a connection, `buf[from..]`, are. */
export function sniffPreface(buf: Uint8Array, from = 0): Sniff {
  const n = Math.min(buf.length - from, PREFACE.length);
  for (let i = 0; i < n; i++) if (buf[from + i] !== PREFACE[i]) return SNIFF_OTHER;
  return n === PREFACE.length ? SNIFF_H2 : SNIFF_NEED_MORE;
}
