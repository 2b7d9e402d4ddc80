/**
 * v2 TLVs (spec section 2.2.x) and the vendor TLVs sent by cloud load balancers. Pure.
 * Unknown types are kept as they are, so a tcp hop can pass them on.
 */
import { fail } from './errors.ts';
import type { Tlv } from './types.ts';

export const TlvType = Object.freeze({
  ALPN: 0x01,
  AUTHORITY: 0x02,
  CRC32C: 0x03,
  NOOP: 0x04,
  UNIQUE_ID: 0x05,
  SSL: 0x20,
  NETNS: 0x30,
  /** Google Cloud Private Service Connect: 8-byte big-endian connection id. */
  GCP: 0xe0,
  /** AWS: subtype 0x01 followed by the VPC endpoint id (ASCII). */
  AWS: 0xea,
  /** Azure: subtype 0x01 followed by the Private Link LinkID, a little-endian u32. */
  AZURE: 0xee,
});

export const SslSubtype = Object.freeze({
  VERSION: 0x21,
  CN: 0x22,
  CIPHER: 0x23,
  SIG_ALG: 0x24,
  KEY_ALG: 0x25,
  GROUP: 0x26,
  SIG_SCHEME: 0x27,
  CLIENT_CERT: 0x28,
});

export const AWS_SUBTYPE_VPCE_ID = 0x01;
export const AZURE_SUBTYPE_LINK_ID = 0x01;
/** The spec caps UNIQUE_ID at 128 bytes. */
export const UNIQUE_ID_MAX = 128;

/** Parses a TLV region exactly: a TLV that runs past the end is an error, not a truncation. */
export function parseTlvs(buf: Buffer, start: number, end: number): Tlv[] | ReturnType<typeof fail> {
  const tlvs: Tlv[] = [];
  let i = start;
  while (i < end) {
    if (end - i < 3)
      return fail('PP_V2_TLV_OVERRUN', `TLV header at offset ${i} needs 3 bytes, ${end - i} left`);
    const type = buf[i]!;
    const len = buf.readUInt16BE(i + 1);
    if (i + 3 + len > end) {
      return fail(
        'PP_V2_TLV_OVERRUN',
        `TLV 0x${hex2(type)} of ${len} bytes at offset ${i} runs past the header`,
      );
    }
    const value = buf.subarray(i + 3, i + 3 + len);
    const problem = checkTlv(type, value);
    if (problem) return fail('PP_V2_BAD_TLV', problem);
    tlvs.push({ type, value });
    i += 3 + len;
  }
  return tlvs;
}

function checkTlv(type: number, value: Buffer): string | undefined {
  switch (type) {
    case TlvType.CRC32C:
      return value.length === 4 ? undefined : `CRC32C TLV must be 4 bytes, got ${value.length}`;
    case TlvType.UNIQUE_ID:
      return value.length <= UNIQUE_ID_MAX ? undefined : `UNIQUE_ID TLV exceeds ${UNIQUE_ID_MAX} bytes`;
    case TlvType.SSL:
      return checkSsl(value);
    case TlvType.GCP:
      return value.length === 8 ? undefined : `GCP PSC TLV must be 8 bytes, got ${value.length}`;
    case TlvType.AZURE:
      return value.length === 5 || value[0] !== AZURE_SUBTYPE_LINK_ID
        ? undefined
        : 'Azure LinkID TLV must be 5 bytes';
    default:
      return undefined;
  }
}

function checkSsl(value: Buffer): string | undefined {
  if (value.length < 5) return `SSL TLV must be at least 5 bytes, got ${value.length}`;
  let i = 5;
  while (i < value.length) {
    if (value.length - i < 3) return `SSL sub-TLV header at offset ${i} is truncated`;
    const len = value.readUInt16BE(i + 1);
    if (i + 3 + len > value.length) return `SSL sub-TLV 0x${hex2(value[i]!)} runs past the SSL TLV`;
    i += 3 + len;
  }
  return undefined;
}

/** A readable view of the TLVs, for logs, tests and header mapping. Binary values are hex. */
export interface NamedTlvs {
  ALPN?: string;
  AUTHORITY?: string;
  CRC32C?: string;
  UNIQUE_ID?: string;
  NETNS?: string;
  AWS_VPCE_ID?: string;
  AZURE_LINK_ID?: number;
  GCP_PSC_ID?: string;
  SSL?: {
    client: number;
    verify: number;
    version?: string;
    cn?: string;
    cipher?: string;
    sigAlg?: string;
    keyAlg?: string;
  };
  /** Types we have no name for, as hex strings keyed by "0x..". */
  other?: Record<string, string>;
}

export function namedTlvs(tlvs: readonly Tlv[]): NamedTlvs {
  const out: NamedTlvs = {};
  for (const { type, value } of tlvs) {
    switch (type) {
      case TlvType.ALPN:
        out.ALPN = value.toString('latin1');
        break;
      case TlvType.AUTHORITY:
        out.AUTHORITY = value.toString('utf8');
        break;
      case TlvType.CRC32C:
        out.CRC32C = value.toString('hex');
        break;
      case TlvType.NOOP:
        break;
      case TlvType.UNIQUE_ID:
        out.UNIQUE_ID = value.toString('hex');
        break;
      case TlvType.NETNS:
        out.NETNS = value.toString('latin1');
        break;
      case TlvType.AWS:
        if (value[0] === AWS_SUBTYPE_VPCE_ID) out.AWS_VPCE_ID = value.subarray(1).toString('latin1');
        else addOther(out, type, value);
        break;
      case TlvType.AZURE:
        if (value[0] === AZURE_SUBTYPE_LINK_ID && value.length === 5)
          out.AZURE_LINK_ID = value.readUInt32LE(1);
        else addOther(out, type, value);
        break;
      case TlvType.GCP:
        out.GCP_PSC_ID = value.readBigUInt64BE(0).toString();
        break;
      case TlvType.SSL:
        out.SSL = parseSsl(value);
        break;
      default:
        addOther(out, type, value);
    }
  }
  return out;
}

function addOther(out: NamedTlvs, type: number, value: Buffer): void {
  (out.other ??= {})[`0x${hex2(type)}`] = value.toString('hex');
}

function parseSsl(value: Buffer): NonNullable<NamedTlvs['SSL']> {
  const ssl: NonNullable<NamedTlvs['SSL']> = { client: value[0]!, verify: value.readUInt32BE(1) };
  let i = 5;
  while (i + 3 <= value.length) {
    const t = value[i]!;
    const len = value.readUInt16BE(i + 1);
    if (i + 3 + len > value.length) break;
    const v = value.subarray(i + 3, i + 3 + len).toString('latin1');
    if (t === SslSubtype.VERSION) ssl.version = v;
    else if (t === SslSubtype.CN) ssl.cn = v;
    else if (t === SslSubtype.CIPHER) ssl.cipher = v;
    else if (t === SslSubtype.SIG_ALG) ssl.sigAlg = v;
    else if (t === SslSubtype.KEY_ALG) ssl.keyAlg = v;
    i += 3 + len;
  }
  return ssl;
}

/** Serialises TLVs in order. Callers add CRC32C last through the encoder. */
export function encodeTlvs(tlvs: readonly Tlv[]): Buffer {
  const parts: Buffer[] = [];
  for (const { type, value } of tlvs) {
    if (value.length > 0xffff) throw new RangeError(`TLV 0x${hex2(type)} value exceeds 65535 bytes`);
    const h = Buffer.allocUnsafe(3);
    h[0] = type;
    h.writeUInt16BE(value.length, 1);
    parts.push(h, value);
  }
  return Buffer.concat(parts);
}

export function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}
