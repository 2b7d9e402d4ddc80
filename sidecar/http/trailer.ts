/**
 * The trailer section of a chunked body (RFC 9112 7.1.2): field lines ended by an empty line.
 * Requests' trailers are filtered: a field the hop controls in the head (X-Forwarded-For and the
 * other forwarding fields, X-Realip-*) or that frames the message (Content-Length,
 * Transfer-Encoding, Host, Connection, ...) must not reappear after the body, where an app that
 * merges trailers into headers would believe it.
 */
import { CLASS, CR, CRLFCRLF, COLON, FIELD, HTAB, LF, SP, TCHAR } from './chars.ts';
import { classify, H_OTHER } from './fields.ts';

/** Offset just after the empty line that ends a block of lines starting at `s`, or -1. */
export function findBlockEnd(buf: Buffer, s: number): number {
  if (buf.length - s >= 2 && buf[s] === CR && buf[s + 1] === LF) return s + 2;
  const idx = buf.indexOf(CRLFCRLF, s);
  return idx < 0 ? -1 : idx + 4;
}

const EMPTY_LINE = Buffer.from('\r\n', 'latin1');

/**
 * Validates the field lines of buf[s, e) (which ends with the empty line) and returns them without
 * the fields the hop controls, or null when a line is malformed.
 */
export function filterTrailer(buf: Buffer, s: number, e: number): Buffer | null {
  if (e - s === 2) return EMPTY_LINE;
  const keep: Buffer[] = [];
  let i = s;
  while (i < e - 2) {
    const ls = i;
    while (CLASS[buf[i]!]! & TCHAR) i++;
    if (i === ls || buf[i] !== COLON) return null;
    const ne = i;
    i++;
    while (CLASS[buf[i]!]! & FIELD) i++;
    if (buf[i] !== CR || buf[i + 1] !== LF) return null;
    i += 2;
    if (buf[ls] === SP || buf[ls] === HTAB) return null;
    if (classify(buf, ls, ne) === H_OTHER) keep.push(buf.subarray(ls, i));
  }
  if (i !== e - 2 || buf[i] !== CR || buf[i + 1] !== LF) return null;
  keep.push(EMPTY_LINE);
  return Buffer.concat(keep);
}
