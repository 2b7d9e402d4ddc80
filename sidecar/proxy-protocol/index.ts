export { detect, decode } from './decode.ts';
export { encodeV1, encodeV2, type EncodeInput } from './encode.ts';
export { ProxyProtocolError, PP_CODES, type ProxyProtocolCode } from './errors.ts';
export { namedTlvs, TlvType, type NamedTlvs } from './tlv.ts';
export * from './types.ts';
