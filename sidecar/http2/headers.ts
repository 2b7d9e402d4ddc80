/**
 * The HTTP/2 header rewrite: the one function every client stream's request headers pass through
 * before they become an app stream (pure; the proxy has no other way to open an app stream).
 *
 * Same policy as the HTTP/1.1 hop (sidecar/http/rewrite.ts), from the same list
 * (sidecar/http/forwarding-fields.ts):
 *   replace (default): every forwarding field the client sent is removed (HTTP/2 names are
 *     lowercase on the wire, nghttp2 refuses others; the underscore spelling matches too), then
 *     x-forwarded-for, x-real-ip, forwarded, x-forwarded-port, x-forwarded-proto are ours;
 *   append: x-forwarded-for and forwarded keep the client's values (merged in order) with ours
 *     appended, x-real-ip is replaced, the other fields pass and x-forwarded-proto / -port are
 *     added only when absent.
 * In both, x-realip-* (our TLV headers, --tlv-headers) is removed before ours are added, and the
 * connection-specific fields RFC 9113 8.2.2 forbids (nghttp2 already refuses a request with them)
 * are dropped. Pseudo-header fields pass unchanged. Trailers (either way) and response headers
 * lose every forwarding field in both policies: nothing there is a client's address we vouch for.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { ForwardedPolicy } from '../config.ts';
import {
  F_FORWARDED,
  F_X_REAL_IP,
  F_XF_PORT,
  F_XF_PROTO,
  F_XFF,
  FORWARDING_FIELDS,
} from '../http/forwarding-fields.ts';
import { forwardedFor } from '../http/rewrite.ts';
import type { ClientEndpoint } from '../reader.ts';

/** Every name on the list (replace, trailers, responses). */
const ALL_FORWARDING = new Set(FORWARDING_FIELDS.map((f) => f.name));
/** append: only the fields whose values we merge or replace. */
const APPEND_DROPPED = new Set(
  FORWARDING_FIELDS.filter((f) => f.role === F_XFF || f.role === F_FORWARDED || f.role === F_X_REAL_IP).map(
    (f) => f.name,
  ),
);
const XFF = FORWARDING_FIELDS.find((f) => f.role === F_XFF)!.name;
const FORWARDED = FORWARDING_FIELDS.find((f) => f.role === F_FORWARDED)!.name;
const XF_PROTO = FORWARDING_FIELDS.find((f) => f.role === F_XF_PROTO)!.name;
const XF_PORT = FORWARDING_FIELDS.find((f) => f.role === F_XF_PORT)!.name;

/** RFC 9113 8.2.2: meaningless in HTTP/2 (`te` is allowed with the value `trailers` only). */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);
const REALIP_PREFIX = 'x-realip-';

/** The list key of a field name: lowercase, '_' read as '-' (CGI-style stacks merge the two). */
function key(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

function connectionSpecific(name: string, value: string): boolean {
  return CONNECTION_SPECIFIC.has(name) || (name === 'te' && value.trim().toLowerCase() !== 'trailers');
}

function add(out: OutgoingHttpHeaders, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = [String(prev), value];
}

export class H2HeaderRewriter {
  private readonly append: boolean;
  private readonly client: ClientEndpoint;
  private readonly port: string;
  private readonly tlv: readonly (readonly [string, string])[];

  constructor(
    policy: ForwardedPolicy,
    client: ClientEndpoint,
    destinationPort: number,
    tlvFields: readonly (readonly [string, string])[],
  ) {
    this.append = policy === 'append';
    this.client = client;
    this.port = String(destinationPort);
    this.tlv = tlvFields.map(([n, v]) => [n.toLowerCase(), v] as const);
  }

  /**
   * The app stream's request headers from the client stream's raw headers ([name, value, ...] in
   * wire order, as node:http2 gives them): a new object, the input is not touched.
   */
  request(raw: readonly string[]): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    const dropped = this.append ? APPEND_DROPPED : ALL_FORWARDING;
    let xff = '';
    let fwd = '';
    let hasProto = false;
    let hasPort = false;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      if (name.charCodeAt(0) === 0x3a) {
        // ':' pseudo-header: one of each, validated by nghttp2.
        out[name] = value;
        continue;
      }
      const k = key(name);
      if (connectionSpecific(k, value) || k.startsWith(REALIP_PREFIX)) continue;
      if (dropped.has(k)) {
        if (this.append && value !== '') {
          if (k === XFF) xff += `${value}, `;
          else if (k === FORWARDED) fwd += `${value}, `;
        }
        continue;
      }
      if (k === XF_PROTO) hasProto = true;
      else if (k === XF_PORT) hasPort = true;
      add(out, name.toLowerCase(), value);
    }
    const a = this.client.address;
    out[XFF] = `${xff}${a}`;
    out['x-real-ip'] = a;
    out[FORWARDED] = `${fwd}${forwardedFor(this.client)}`;
    if (!hasPort) out[XF_PORT] = this.port;
    if (!hasProto) out[XF_PROTO] = 'http';
    for (const [n, v] of this.tlv) out[n] = v;
    return out;
  }
}

/**
 * Trailers, either way: every forwarding field and x-realip-* removed, whatever the policy (a
 * trailer is no place for a client's address, and an app reading merged fields must not find one
 * there), with pseudo-headers and connection-specific fields. Returns a new object.
 */
export function trailerFields(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return copyFields(headers, false, true);
}

/**
 * Response and 1xx headers from the app: passed as they are, like the HTTP/1.1 hop passes a
 * response head, minus what node:http2 would refuse to send (pseudo-headers but `:status`,
 * connection-specific fields). Returns a new object.
 */
export function responseFields(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  return copyFields(headers, true, false);
}

function copyFields(
  headers: IncomingHttpHeaders,
  keepStatus: boolean,
  dropForwarding: boolean,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined) continue;
    if (name.charCodeAt(0) === 0x3a) {
      if (keepStatus && name === ':status') out[name] = value;
      continue;
    }
    const k = key(name);
    if (dropForwarding && (ALL_FORWARDING.has(k) || k.startsWith(REALIP_PREFIX))) continue;
    if (connectionSpecific(k, Array.isArray(value) ? value.join(',') : value)) continue;
    out[name] = value;
  }
  return out;
}
