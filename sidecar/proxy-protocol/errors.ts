import type { CodeOf } from '../../common/error-codes/registry.ts';
import { RealipError } from '../../common/errors.ts';

/** Stable codes for everything that can be wrong with a PROXY header. See docs/errors.md. */
export const PP_CODES = [
  'PP_NOT_PROXY',
  'PP_V1_TOO_LONG',
  'PP_V1_BAD_TERMINATOR',
  'PP_V1_BAD_CHARACTER',
  'PP_V1_BAD_FIELDS',
  'PP_V1_BAD_PROTOCOL',
  'PP_V1_BAD_ADDRESS',
  'PP_V1_BAD_PORT',
  'PP_V2_BAD_VERSION',
  'PP_V2_BAD_COMMAND',
  'PP_V2_BAD_FAMILY',
  'PP_V2_TOO_LONG',
  'PP_V2_SHORT_ADDRESS',
  'PP_V2_TLV_OVERRUN',
  'PP_V2_BAD_TLV',
  'PP_V2_BAD_CRC',
  'PP_V2_DUPLICATE_CRC',
] as const satisfies readonly CodeOf<'PP'>[];
export type ProxyProtocolCode = (typeof PP_CODES)[number];

export class ProxyProtocolError extends RealipError {
  declare readonly code: ProxyProtocolCode;
  constructor(code: ProxyProtocolCode, message: string) {
    super(code, message);
    this.name = 'ProxyProtocolError';
  }
}

export function fail(code: ProxyProtocolCode, message: string) {
  return { kind: 'error', error: new ProxyProtocolError(code, message) } as const;
}
