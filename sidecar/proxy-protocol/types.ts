/** The decoded form of a PROXY protocol header (HAProxy doc/proxy-protocol.txt), v1 or v2. */

/** TCP4/TCP6 for v1 and v2; UDP4/UDP6/UNIX/UNIX_DGRAM only in v2; UNKNOWN is v1 UNKNOWN or v2 UNSPEC. */
export type Family = 'TCP4' | 'TCP6' | 'UDP4' | 'UDP6' | 'UNIX' | 'UNIX_DGRAM' | 'UNKNOWN';

export interface Endpoint {
  /** IPv4 dotted decimal, IPv6 in RFC 5952 form, or a socket path for UNIX families. */
  readonly address: string;
  readonly port: number;
}

export interface Tlv {
  readonly type: number;
  readonly value: Buffer;
}

export interface ProxyHeader {
  readonly version: 1 | 2;
  /** LOCAL (v2 only): a health check or the proxy's own connection; use the socket's addresses. */
  readonly command: 'PROXY' | 'LOCAL';
  readonly family: Family;
  /** Absent for LOCAL, UNKNOWN and UNSPEC: the receiver uses the socket's own addresses. */
  readonly source?: Endpoint;
  readonly destination?: Endpoint;
  /** v2 TLVs in wire order, unknown types included (never dropped). Empty for v1. */
  readonly tlvs: readonly Tlv[];
}

export type DecodeResult =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'header'; readonly header: ProxyHeader; readonly consumed: number }
  | { readonly kind: 'error'; readonly error: import('./errors.ts').ProxyProtocolError };

export interface DecodeOptions {
  /** Upper bound on the v2 length field (bytes after the 16-byte fixed part). */
  readonly maxV2Length?: number;
}

/** v1 lines are at most 107 bytes including CRLF (spec section 2.1). */
export const V1_MAX_LENGTH = 107;
/** v2 fixed part: 12-byte signature, version/command, family, 2-byte length. */
export const V2_FIXED_LENGTH = 16;
/**
 * Default cap on the v2 length field. Real senders stay far below (an AWS NLB header with CRC,
 * VPC endpoint id and padding is 84; HAProxy with SSL sub-TLVs a few hundred); the protocol allows
 * 65535, which is a cheap way to make every connection buffer 64 KiB before it is even trusted.
 */
export const DEFAULT_MAX_V2_LENGTH = 4096;
export const V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
export const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
