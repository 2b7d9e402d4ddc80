/**
 * A streaming scanner for the chunked transfer coding (RFC 9112 section 7.1). It does not decode:
 * the bytes pass through unchanged; it only finds where the body ends, so that the hop knows where
 * the next request head starts. It is strict where parsers are known to disagree (the chunk-size
 * tricks of request smuggling):
 *   - chunk-size is 1*HEXDIG, at most 16 digits and below 2^53; no sign, no "0x", no leading space;
 *   - whitespace after the size only as BWS before a ';' extension;
 *   - extensions: printable bytes (HTAB, SP, VCHAR, obs-text) only, the whole line bounded;
 *   - every line ends in CRLF (no bare LF, no lone CR), and chunk data is followed by exactly CRLF.
 * The trailer section is handled by the caller (see TrailerBlock in the connection), because the
 * hop filters it.
 */
import { CLASS, CR, FIELD, HEX, HTAB, LF, SEMI, SP } from './chars.ts';

const S_SIZE_START = 0;
const S_SIZE = 1;
const S_SIZE_WS = 2;
const S_EXT = 3;
const S_SIZE_LF = 4;
const S_DATA = 5;
const S_DATA_CR = 6;
const S_DATA_LF = 7;
/** The last-chunk line is complete; the trailer section follows. */
export const CHUNKED_TRAILER = 8;
export const CHUNKED_ERROR = 9;

/** Bound on one chunk-size line including extensions (llhttp and nginx use similar bounds). */
export const MAX_CHUNK_LINE = 4096;
const MAX_SIZE_DIGITS = 16;

export class ChunkedScanner {
  state = S_SIZE_START;
  private remaining = 0;
  private size = 0;
  private digits = 0;
  private lineLength = 0;
  error = '';

  reset(): void {
    this.state = S_SIZE_START;
    this.remaining = 0;
    this.size = 0;
    this.digits = 0;
    this.lineLength = 0;
    this.error = '';
  }

  /**
   * Scans buf[pos, end). Returns where it stopped: at `end`, or just after the last-chunk line
   * (state CHUNKED_TRAILER), or at the offending byte (state CHUNKED_ERROR, error set). Every byte
   * before the returned offset belongs to the body and may be forwarded.
   */
  scan(buf: Buffer, pos: number, end: number): number {
    let i = pos;
    while (i < end) {
      switch (this.state) {
        case S_DATA: {
          const n = Math.min(this.remaining, end - i);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = S_DATA_CR;
          continue;
        }
        case S_DATA_CR:
          if (buf[i] !== CR) return this.fail(i, 'chunk data not followed by CRLF');
          this.state = S_DATA_LF;
          i++;
          continue;
        case S_DATA_LF:
          if (buf[i] !== LF) return this.fail(i, 'chunk data not followed by CRLF');
          this.state = S_SIZE_START;
          i++;
          continue;
        case S_SIZE_START: {
          const b = buf[i]!;
          if (!(CLASS[b]! & HEX)) return this.fail(i, 'chunk size is not a hex number');
          this.size = hexValue(b);
          this.digits = 1;
          this.lineLength = 1;
          this.state = S_SIZE;
          i++;
          continue;
        }
        case S_SIZE: {
          const b = buf[i]!;
          if (CLASS[b]! & HEX) {
            if (++this.digits > MAX_SIZE_DIGITS) return this.fail(i, 'chunk size has too many digits');
            this.size = this.size * 16 + hexValue(b);
            if (this.size > Number.MAX_SAFE_INTEGER) return this.fail(i, 'chunk size too large');
          } else if (b === CR) this.state = S_SIZE_LF;
          else if (b === SEMI) this.state = S_EXT;
          else if (b === SP || b === HTAB) this.state = S_SIZE_WS;
          else return this.fail(i, 'invalid byte after chunk size');
          this.lineLength++;
          i++;
          continue;
        }
        case S_SIZE_WS: {
          const b = buf[i]!;
          if (b === SEMI) this.state = S_EXT;
          else if (b !== SP && b !== HTAB)
            return this.fail(i, 'whitespace after chunk size without extension');
          if (++this.lineLength > MAX_CHUNK_LINE) return this.fail(i, 'chunk size line too long');
          i++;
          continue;
        }
        case S_EXT: {
          // Fast-forward over extension bytes.
          while (i < end && buf[i] !== CR && CLASS[buf[i]!]! & FIELD) {
            i++;
            this.lineLength++;
          }
          if (this.lineLength > MAX_CHUNK_LINE) return this.fail(i, 'chunk size line too long');
          if (i === end) continue;
          if (buf[i] !== CR) return this.fail(i, 'invalid byte in chunk extension');
          this.state = S_SIZE_LF;
          i++;
          continue;
        }
        case S_SIZE_LF:
          if (buf[i] !== LF) return this.fail(i, 'chunk size line not ended by CRLF');
          i++;
          if (this.size === 0) {
            this.state = CHUNKED_TRAILER;
            return i;
          }
          this.remaining = this.size;
          this.state = S_DATA;
          continue;
        default:
          return i;
      }
    }
    return i;
  }

  private fail(at: number, why: string): number {
    this.state = CHUNKED_ERROR;
    this.error = why;
    return at;
  }
}

function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x61 + 10;
}
