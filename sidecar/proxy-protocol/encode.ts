/**
 * Encoders for v1 and v2, used by the tcp hop to re-emit the client to a PROXY-aware app and by the
 * demo's edge. Pure. Addresses are validated: we never emit a header a strict receiver would reject.
 */
import { parseIPv4, parseIPv6 } from '../../common/ip.ts';
import { crc32c } from './crc32c.ts';
import { encodeTlvs, TlvType } from './tlv.ts';
import type { Endpoint, Family, Tlv } from './types.ts';
import { V2_FIXED_LENGTH, V2_SIGNATURE } from './types.ts';

export interface EncodeInput {
  readonly command?: 'PROXY' | 'LOCAL';
  /** TCP4/TCP6 carry addresses; UNKNOWN (v1) / UNSPEC (v2) does not. */
  readonly family: Extract<Family, 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNKNOWN'>;
  readonly source?: Endpoint;
  readonly destination?: Endpoint;
  readonly tlvs?: readonly Tlv[];
}

export function encodeV1(h: EncodeInput): Buffer {
  if (h.command === 'LOCAL') throw new RangeError('v1 has no LOCAL command; use UNKNOWN');
  if (h.family === 'UNKNOWN') return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  if (h.family !== 'TCP4' && h.family !== 'TCP6') throw new RangeError(`v1 cannot carry family ${h.family}`);
  const { source, destination } = requireEndpoints(h);
  return Buffer.from(
    `PROXY ${h.family} ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`,
    'latin1',
  );
}

export interface EncodeV2Options {
  /** Append a CRC32C TLV computed over the whole header. */
  readonly crc32c?: boolean;
}

export function encodeV2(h: EncodeInput, options: EncodeV2Options = {}): Buffer {
  const local = h.command === 'LOCAL';
  let famByte = 0x00;
  let addr = Buffer.alloc(0);
  if (!local && h.family !== 'UNKNOWN') {
    const { source, destination } = requireEndpoints(h);
    const v4 = h.family === 'TCP4' || h.family === 'UDP4';
    famByte = (v4 ? 0x10 : 0x20) | (h.family.startsWith('TCP') ? 0x01 : 0x02);
    const parse = v4 ? parseIPv4 : parseIPv6;
    const size = v4 ? 4 : 16;
    addr = Buffer.alloc(size * 2 + 4);
    Buffer.from(parse(source.address)!).copy(addr, 0);
    Buffer.from(parse(destination.address)!).copy(addr, size);
    addr.writeUInt16BE(source.port, size * 2);
    addr.writeUInt16BE(destination.port, size * 2 + 2);
  }
  const tlvs = (h.tlvs ?? []).filter((t) => !(options.crc32c && t.type === TlvType.CRC32C));
  const tlvBytes = encodeTlvs(
    options.crc32c ? [...tlvs, { type: TlvType.CRC32C, value: Buffer.alloc(4) }] : tlvs,
  );
  const len = addr.length + tlvBytes.length;
  if (len > 0xffff) throw new RangeError(`v2 header body of ${len} bytes exceeds 65535`);
  const out = Buffer.alloc(V2_FIXED_LENGTH + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20 | (local ? 0x00 : 0x01);
  out[13] = local ? 0x00 : famByte;
  out.writeUInt16BE(len, 14);
  addr.copy(out, V2_FIXED_LENGTH);
  tlvBytes.copy(out, V2_FIXED_LENGTH + addr.length);
  if (options.crc32c) out.writeUInt32BE(crc32c(out), out.length - 4);
  return out;
}

function requireEndpoints(h: EncodeInput): { source: Endpoint; destination: Endpoint } {
  const { source, destination } = h;
  if (!source || !destination) throw new RangeError(`family ${h.family} needs source and destination`);
  const v4 = h.family === 'TCP4' || h.family === 'UDP4';
  for (const [what, ep] of [
    ['source', source],
    ['destination', destination],
  ] as const) {
    const ok = v4 ? parseIPv4(ep.address) : parseIPv6(ep.address);
    if (!ok) throw new RangeError(`${what} address "${ep.address}" is not a valid ${h.family} address`);
    if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 65535) {
      throw new RangeError(`${what} port ${ep.port} is not 0-65535`);
    }
  }
  return { source, destination };
}
