/**
 * PROXY v2 TLVs exposed as request headers (--tlv-headers, off by default). A TLV comes from the
 * edge, but its bytes are arbitrary: a value is emitted only when it is made of safe characters
 * (no CR, LF, spaces, commas, quotes or controls) and at most 256 bytes, so no TLV can inject or
 * split a header. An invalid value is omitted and counted. Clients can never set these headers:
 * the hop removes every X-Realip-* field they send, whatever the policy.
 */
import type { ProxyHeader } from '../proxy-protocol/types.ts';
import { namedTlvs } from '../proxy-protocol/tlv.ts';

/** --tlv-headers name -> header name (documented in docs/sidecar.md). */
export const TLV_HEADER_FIELDS: Readonly<Record<string, string>> = Object.freeze({
  'aws-vpce-id': 'X-Realip-Aws-Vpce-Id',
  'azure-link-id': 'X-Realip-Azure-Link-Id',
  'gcp-psc-id': 'X-Realip-Gcp-Psc-Id',
  authority: 'X-Realip-Authority',
  'unique-id': 'X-Realip-Unique-Id',
});

export const TLV_VALUE_MAX = 256;
const SAFE = /^[A-Za-z0-9._~:/+=@-]+$/;

export function isSafeTlvValue(v: string): boolean {
  return v.length > 0 && v.length <= TLV_VALUE_MAX && SAFE.test(v);
}

export interface TlvLines {
  /** Header lines, each ending in CRLF ('' when nothing to add). */
  readonly lines: string;
  /** --tlv-headers names whose TLV was present but whose value was refused. */
  readonly invalid: readonly string[];
}

export interface TlvFields {
  /** [header name, value] pairs, in --tlv-headers order. */
  readonly fields: readonly (readonly [string, string])[];
  /** --tlv-headers names whose TLV was present but whose value was refused. */
  readonly invalid: readonly string[];
}

const NO_FIELDS: TlvFields = { fields: [], invalid: [] };

/** The TLV headers of a connection as name/value pairs (the HTTP/2 hop adds them as fields). */
export function tlvHeaderFields(wanted: readonly string[], header: ProxyHeader | undefined): TlvFields {
  if (wanted.length === 0 || !header || header.tlvs.length === 0) return NO_FIELDS;
  const named = namedTlvs(header.tlvs);
  const unique = header.tlvs.find((t) => t.type === 0x05)?.value;
  const fields: (readonly [string, string])[] = [];
  const invalid: string[] = [];
  for (const name of wanted) {
    let value: string | undefined;
    switch (name) {
      case 'aws-vpce-id':
        value = named.AWS_VPCE_ID;
        break;
      case 'azure-link-id':
        value = named.AZURE_LINK_ID === undefined ? undefined : String(named.AZURE_LINK_ID);
        break;
      case 'gcp-psc-id':
        value = named.GCP_PSC_ID;
        break;
      case 'authority':
        value = named.AUTHORITY;
        break;
      case 'unique-id':
        // Text when it is safe text (HAProxy's unique-id-format), else hex (binary ids).
        if (unique !== undefined && unique.length > 0) {
          const text = unique.toString('latin1');
          value = isSafeTlvValue(text) ? text : unique.toString('hex');
        }
        break;
    }
    if (value === undefined) continue;
    const field = TLV_HEADER_FIELDS[name];
    if (!field) continue;
    if (!isSafeTlvValue(value)) {
      invalid.push(name);
      continue;
    }
    fields.push([field, value]);
  }
  return { fields, invalid };
}

/** The same as HTTP/1.1 header lines. */
export function tlvHeaderLines(wanted: readonly string[], header: ProxyHeader | undefined): TlvLines {
  const t = tlvHeaderFields(wanted, header);
  let lines = '';
  for (const [name, value] of t.fields) lines += `${name}: ${value}\r\n`;
  return { lines, invalid: t.invalid };
}
