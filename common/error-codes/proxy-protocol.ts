import type { Family } from './spec.ts';

/** The PROXY protocol codec and header reader: a connection refused at the header. */
export const PROXY_PROTOCOL_ERRORS = {
  PP_NOT_PROXY: {
    meaning:
      'The connection does not start with a v1 (`PROXY `) or v2 signature (in `required` mode, or from a source that is not trusted).',
  },
  PP_V1_TOO_LONG: {
    meaning: 'No CRLF within the 107 bytes a v1 line may take.',
  },
  PP_V1_BAD_TERMINATOR: {
    meaning: 'A bare LF, or a CR not followed by LF, in a v1 line.',
  },
  PP_V1_BAD_CHARACTER: {
    meaning: 'A byte outside printable ASCII in a v1 line.',
  },
  PP_V1_BAD_FIELDS: {
    meaning: 'Not exactly six fields separated by single spaces.',
  },
  PP_V1_BAD_PROTOCOL: {
    meaning: 'Protocol other than `TCP4`, `TCP6`, `UNKNOWN`.',
  },
  PP_V1_BAD_ADDRESS: {
    meaning:
      'An address that is not canonical for its family (IPv4 leading zeros, IPv6 in a TCP4 line, zone ids).',
  },
  PP_V1_BAD_PORT: {
    meaning: 'A port outside 0-65535 or with leading zeros.',
  },
  PP_V2_BAD_VERSION: {
    meaning: 'Version nibble other than 2.',
  },
  PP_V2_BAD_COMMAND: {
    meaning: 'Command other than LOCAL (0) or PROXY (1).',
  },
  PP_V2_BAD_FAMILY: {
    meaning: 'Family/transport byte not in {0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0x32}.',
  },
  PP_V2_TOO_LONG: {
    meaning: 'The length field exceeds the configured cap (`--max-header-bytes`, default 4096).',
  },
  PP_V2_SHORT_ADDRESS: {
    meaning: 'The length is smaller than the address block of the family.',
  },
  PP_V2_TLV_OVERRUN: {
    meaning: 'A TLV runs past the declared length.',
  },
  PP_V2_BAD_TLV: {
    meaning:
      'A TLV whose value has the wrong size for its type (CRC32C not 4 bytes, UNIQUE_ID over 128, malformed SSL sub-TLVs, ...).',
  },
  PP_V2_BAD_CRC: {
    meaning: 'The CRC32C TLV does not match the header.',
  },
  PP_V2_DUPLICATE_CRC: {
    meaning:
      'More than one CRC32C TLV in a v2 header: refused, whether or not each checksum matches (the spec defines one).',
  },
  PP_UNTRUSTED_SOURCE: {
    meaning:
      'The connection comes from a source outside `--trusted-cidrs` (when a header is required), or sent a PROXY header from such a source.',
  },
  PP_HEADER_TIMEOUT: {
    meaning: 'No complete PROXY header within `--header-timeout`.',
  },
  PP_CLOSED_EARLY: {
    meaning: 'The peer closed or reset the connection before a complete header.',
  },
  PP_UNSUPPORTED_FAMILY: {
    meaning: 'The header announces a datagram family (UDP4, UDP6, UNIX_DGRAM) on a TCP connection.',
  },
} as const satisfies Family<'PP'>;
