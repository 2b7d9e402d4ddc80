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
  // Each address parsed once and the header written into one buffer: the tcp hop encodes one per
  // connection, and the earlier copies (five small Buffers, each address parsed twice) showed in
  // its CPU profile.
  let src: Uint8Array | undefined;
  let dst: Uint8Array | undefined;
  let ports: readonly [number, number] = [0, 0];
  if (!local && h.family !== 'UNKNOWN') {
    const e = requireEndpoints(h);
    const v4 = h.family === 'TCP4' || h.family === 'UDP4';
    famByte = (v4 ? 0x10 : 0x20) | (h.family.startsWith('TCP') ? 0x01 : 0x02);
    src = e.sourceBytes;
    dst = e.destinationBytes;
    ports = [e.source.port, e.destination.port];
  }
  const addrLength = src && dst ? src.length * 2 + 4 : 0;
  const given = h.tlvs ?? [];
  const tlvs = options.crc32c ? given.filter((t) => t.type !== TlvType.CRC32C) : given;
  const tlvBytes =
    tlvs.length === 0 && !options.crc32c
      ? undefined
      : encodeTlvs(options.crc32c ? [...tlvs, { type: TlvType.CRC32C, value: Buffer.alloc(4) }] : tlvs);
  const len = addrLength + (tlvBytes?.length ?? 0);
  if (len > 0xffff) throw new RangeError(`v2 header body of ${len} bytes exceeds 65535`);
  const out = Buffer.allocUnsafe(V2_FIXED_LENGTH + len);
  V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20 | (local ? 0x00 : 0x01);
  out[13] = local ? 0x00 : famByte;
  out.writeUInt16BE(len, 14);
  if (src && dst) {
    out.set(src, V2_FIXED_LENGTH);
    out.set(dst, V2_FIXED_LENGTH + src.length);
    out.writeUInt16BE(ports[0], V2_FIXED_LENGTH + src.length * 2);
    out.writeUInt16BE(ports[1], V2_FIXED_LENGTH + src.length * 2 + 2);
  }
  if (tlvBytes) tlvBytes.copy(out, V2_FIXED_LENGTH + addrLength);
  if (options.crc32c) out.writeUInt32BE(crc32c(out), out.length - 4);
  return out;
}

function requireEndpoints(h: EncodeInput): {
  source: Endpoint;
  destination: Endpoint;
  sourceBytes: Uint8Array;
  destinationBytes: Uint8Array;
} {
  const { source, destination } = h;
  if (!source || !destination) throw new RangeError(`family ${h.family} needs source and destination`);
  const v4 = h.family === 'TCP4' || h.family === 'UDP4';
  const bytes = (what: string, ep: Endpoint): Uint8Array => {
    const parsed = v4 ? parseIPv4(ep.address) : parseIPv6(ep.address);
    if (!parsed) throw new RangeError(`${what} address "${ep.address}" is not a valid ${h.family} address`);
    if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 65535) {
      throw new RangeError(`${what} port ${ep.port} is not 0-65535`);
    }
    return parsed;
  };
  return {
    source,
    destination,
    sourceBytes: bytes('source', source),
    destinationBytes: bytes('destination', destination),
  };
}
