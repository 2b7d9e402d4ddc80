/**
 * PROXY protocol v2, the binary header (spec section 2.2):
 *
 *   12-byte signature | ver_cmd | fam | len (u16 big-endian) | addresses | TLVs
 *
 * The length is honoured exactly: addresses and TLVs live inside it and nothing past it belongs to
 * the header. A cap on the length keeps an untrusted peer from making us buffer 64 KiB. Pure.
 */
import { formatIPv4, formatIPv6 } from '../../common/ip.ts';
import { crc32c } from './crc32c.ts';
import { fail } from './errors.ts';
import { parseTlvs, TlvType } from './tlv.ts';
import {
  DEFAULT_MAX_V2_LENGTH,
  type DecodeOptions,
  type DecodeResult,
  type Family,
  type ProxyHeader,
  V2_FIXED_LENGTH,
} from './types.ts';

const NEED_MORE: DecodeResult = { kind: 'need-more' };

/** Family/transport bytes the spec defines; anything else must be rejected. */
const FAMILIES: ReadonlyMap<number, { family: Family; addrLen: number }> = new Map([
  [0x00, { family: 'UNKNOWN', addrLen: 0 }],
  [0x11, { family: 'TCP4', addrLen: 12 }],
  [0x12, { family: 'UDP4', addrLen: 12 }],
  [0x21, { family: 'TCP6', addrLen: 36 }],
  [0x22, { family: 'UDP6', addrLen: 36 }],
  [0x31, { family: 'UNIX', addrLen: 216 }],
  [0x32, { family: 'UNIX_DGRAM', addrLen: 216 }],
]);

/** Decodes a v2 header at the start of buf (whose first 12 bytes are the signature). */
export function decodeV2(buf: Buffer, options: DecodeOptions = {}): DecodeResult {
  if (buf.length < V2_FIXED_LENGTH) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return fail('PP_V2_BAD_VERSION', `v2 version nibble must be 2, got ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail('PP_V2_BAD_COMMAND', `v2 command must be LOCAL (0) or PROXY (1), got ${cmd}`);
  const famByte = buf[13]!;
  const fam = FAMILIES.get(famByte);
  if (!fam)
    return fail('PP_V2_BAD_FAMILY', `v2 family/transport byte 0x${famByte.toString(16)} is not defined`);
  const len = buf.readUInt16BE(14);
  const max = options.maxV2Length ?? DEFAULT_MAX_V2_LENGTH;
  if (len > max) return fail('PP_V2_TOO_LONG', `v2 length ${len} exceeds the configured maximum of ${max}`);
  const total = V2_FIXED_LENGTH + len;
  if (buf.length < total) return NEED_MORE;

  if (cmd === 0) {
    // LOCAL: "the receiver must accept this connection as valid and must use the real connection
    // endpoints and discard the protocol block including the family which is ignored". TLVs are
    // still parsed when they fit so a bad CRC is not waved through.
    const tlvStart = V2_FIXED_LENGTH + Math.min(fam.addrLen, len);
    const tlvs = parseTlvs(buf, tlvStart, total);
    if (!Array.isArray(tlvs)) return tlvs;
    const bad = checkCrc(buf, total, tlvs, tlvStart);
    if (bad) return bad;
    const header: ProxyHeader = { version: 2, command: 'LOCAL', family: fam.family, tlvs };
    return { kind: 'header', header, consumed: total };
  }

  if (len < fam.addrLen) {
    return fail(
      'PP_V2_SHORT_ADDRESS',
      `v2 ${fam.family} needs ${fam.addrLen} address bytes, length is ${len}`,
    );
  }
  const a = V2_FIXED_LENGTH;
  let source: ProxyHeader['source'];
  let destination: ProxyHeader['destination'];
  if (fam.family === 'TCP4' || fam.family === 'UDP4') {
    source = { address: formatIPv4(buf, a), port: buf.readUInt16BE(a + 8) };
    destination = { address: formatIPv4(buf, a + 4), port: buf.readUInt16BE(a + 10) };
  } else if (fam.family === 'TCP6' || fam.family === 'UDP6') {
    source = { address: formatIPv6(buf, a), port: buf.readUInt16BE(a + 32) };
    destination = { address: formatIPv6(buf, a + 16), port: buf.readUInt16BE(a + 34) };
  } else if (fam.family === 'UNIX' || fam.family === 'UNIX_DGRAM') {
    source = { address: cString(buf, a, 108), port: 0 };
    destination = { address: cString(buf, a + 108, 108), port: 0 };
  }
  const tlvStart = a + fam.addrLen;
  const tlvs = parseTlvs(buf, tlvStart, total);
  if (!Array.isArray(tlvs)) return tlvs;
  const bad = checkCrc(buf, total, tlvs, tlvStart);
  if (bad) return bad;
  const header: ProxyHeader =
    source && destination
      ? { version: 2, command: 'PROXY', family: fam.family, source, destination, tlvs }
      : { version: 2, command: 'PROXY', family: fam.family, tlvs };
  return { kind: 'header', header, consumed: total };
}

/**
 * PP2_TYPE_CRC32C: the checksum of the whole header with the CRC field zeroed. A mismatch means the
 * header was damaged or forged; the spec says to drop the connection. The spec defines one checksum
 * per header; a second CRC32C TLV is refused rather than ignored, since checking only one of them
 * let a header pass whose other checksum was wrong (and readers disagree on which one counts).
 */
function checkCrc(
  buf: Buffer,
  total: number,
  tlvs: readonly { type: number; value: Buffer }[],
  tlvStart: number,
) {
  const crcTlvs = tlvs.filter((t) => t.type === TlvType.CRC32C);
  if (crcTlvs.length > 1) {
    return fail('PP_V2_DUPLICATE_CRC', `v2 header has ${crcTlvs.length} CRC32C TLVs; at most one is allowed`);
  }
  const crcTlv = crcTlvs[0];
  if (!crcTlv) return undefined;
  const expected = crcTlv.value.readUInt32BE(0);
  const copy = Buffer.from(buf.subarray(0, total));
  const offset = crcTlv.value.byteOffset - buf.byteOffset;
  if (offset < tlvStart || offset + 4 > total) return undefined;
  copy.fill(0, offset, offset + 4);
  const actual = crc32c(copy);
  if (actual !== expected) {
    return fail(
      'PP_V2_BAD_CRC',
      `v2 CRC32C mismatch: header says ${expected.toString(16).padStart(8, '0')}, computed ${actual.toString(16).padStart(8, '0')}`,
    );
  }
  return undefined;
}

function cString(buf: Buffer, start: number, max: number): string {
  let end = start;
  while (end < start + max && buf[end] !== 0) end++;
  return buf.toString('latin1', start, end);
}
