/**
 * Incremental detection and decoding. Call decode() with everything received so far; it answers
 * need-more, a header with the number of bytes it used, or a typed error. Bytes after `consumed`
 * belong to the application. Stateless, so a header split over any number of reads decodes the
 * same as one that arrived whole.
 */
import { fail } from './errors.ts';
import { type DecodeOptions, type DecodeResult, V1_PREFIX, V2_SIGNATURE } from './types.ts';
import { decodeV1 } from './v1.ts';
import { decodeV2 } from './v2.ts';

const NEED_MORE: DecodeResult = { kind: 'need-more' };

export type Detected = 'v1' | 'v2' | 'none' | 'need-more';

/** Which header, if any, starts this buffer. A prefix of a signature is need-more. */
export function detect(buf: Buffer): Detected {
  if (buf.length === 0) return 'need-more';
  if (buf[0] === 0x0d) return prefixState(buf, V2_SIGNATURE, 'v2');
  if (buf[0] === 0x50) return prefixState(buf, V1_PREFIX, 'v1');
  return 'none';
}

function prefixState(buf: Buffer, sig: Buffer, kind: 'v1' | 'v2'): Detected {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return 'none';
  return buf.length >= sig.length ? kind : 'need-more';
}

export function decode(buf: Buffer, options: DecodeOptions = {}): DecodeResult {
  switch (detect(buf)) {
    case 'v1':
      return decodeV1(buf);
    case 'v2':
      return decodeV2(buf, options);
    case 'need-more':
      return NEED_MORE;
    default:
      return fail('PP_NOT_PROXY', 'connection does not start with a PROXY protocol v1 or v2 signature');
  }
}
