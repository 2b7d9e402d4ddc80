/**
 * PROXY protocol v1, the human-readable header (spec section 2.1):
 *
 *   "PROXY" SP ("TCP4" | "TCP6") SP src SP dst SP srcport SP dstport CRLF
 *   "PROXY" SP "UNKNOWN" [anything up to CRLF] CRLF
 *
 * At most 107 bytes including CRLF, so a receiver can stop reading at 107 and reject. Exactly one
 * space between fields. A bare LF or CR is invalid: being lenient here is how two parsers on the
 * same path come to disagree about where the header ends. Pure: no sockets.
 */
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../common/ip.ts';
import { fail } from './errors.ts';
import { type DecodeResult, type ProxyHeader, V1_MAX_LENGTH } from './types.ts';

const CR = 0x0d;
const LF = 0x0a;
const NEED_MORE: DecodeResult = { kind: 'need-more' };

/** Decodes a v1 header at the start of buf (which starts with "PROXY "). */
export function decodeV1(buf: Buffer): DecodeResult {
  const limit = Math.min(buf.length, V1_MAX_LENGTH);
  let end = -1;
  for (let i = 0; i < limit; i++) {
    const c = buf[i]!;
    if (c === CR) {
      // CR LF must both fit within the 107 bytes.
      if (i > V1_MAX_LENGTH - 2) return tooLong();
      if (i + 1 >= buf.length) return NEED_MORE;
      if (buf[i + 1] !== LF)
        return fail('PP_V1_BAD_TERMINATOR', `v1 header has a CR not followed by LF at offset ${i}`);
      end = i;
      break;
    }
    if (c === LF)
      return fail('PP_V1_BAD_TERMINATOR', `v1 header ends with a bare LF at offset ${i} (CRLF required)`);
    if (c < 0x20 || c > 0x7e)
      return fail('PP_V1_BAD_CHARACTER', `v1 header has byte 0x${c.toString(16)} at offset ${i}`);
  }
  if (end === -1) return buf.length >= V1_MAX_LENGTH ? tooLong() : NEED_MORE;
  const line = buf.toString('latin1', 0, end);
  const consumed = end + 2;
  const fields = line.split(' ');
  const proto = fields[1];
  if (proto === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF is found"
    const header: ProxyHeader = { version: 1, command: 'PROXY', family: 'UNKNOWN', tlvs: [] };
    return { kind: 'header', header, consumed };
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') {
    return fail(
      'PP_V1_BAD_PROTOCOL',
      `v1 protocol must be TCP4, TCP6 or UNKNOWN, got "${clip(proto ?? '')}"`,
    );
  }
  if (fields.length !== 6) {
    return fail(
      'PP_V1_BAD_FIELDS',
      `v1 ${proto} header needs 6 fields separated by single spaces, got ${fields.length}`,
    );
  }
  const [, , srcText, dstText, sportText, dportText] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const parse = proto === 'TCP4' ? parseIPv4 : parseIPv6;
  const format = proto === 'TCP4' ? formatIPv4 : formatIPv6;
  const src = parse(srcText);
  if (!src) return fail('PP_V1_BAD_ADDRESS', `v1 source "${clip(srcText)}" is not a valid ${proto} address`);
  const dst = parse(dstText);
  if (!dst)
    return fail('PP_V1_BAD_ADDRESS', `v1 destination "${clip(dstText)}" is not a valid ${proto} address`);
  const sport = parsePortV1(sportText);
  if (sport === undefined)
    return fail('PP_V1_BAD_PORT', `v1 source port "${clip(sportText)}" is not 0-65535 without leading zeros`);
  const dport = parsePortV1(dportText);
  if (dport === undefined)
    return fail(
      'PP_V1_BAD_PORT',
      `v1 destination port "${clip(dportText)}" is not 0-65535 without leading zeros`,
    );
  const header: ProxyHeader = {
    version: 1,
    command: 'PROXY',
    family: proto,
    source: { address: format(src), port: sport },
    destination: { address: format(dst), port: dport },
    tlvs: [],
  };
  return { kind: 'header', header, consumed };
}

function parsePortV1(text: string): number | undefined {
  const len = text.length;
  if (len === 0 || len > 5 || (len > 1 && text.charCodeAt(0) === 0x30)) return undefined;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
    n = n * 10 + (c - 0x30);
  }
  return n <= 65535 ? n : undefined;
}

function tooLong(): DecodeResult {
  return fail('PP_V1_TOO_LONG', `v1 header has no CRLF within ${V1_MAX_LENGTH} bytes`);
}

/** Keeps hostile input short in error messages. */
function clip(s: string): string {
  return s.length > 48 ? `${s.slice(0, 48)}...` : s;
}
