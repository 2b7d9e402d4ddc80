/**
 * Rewrites a parsed request head: removes the forwarding fields the client supplied and adds ours.
 *
 * Policy `replace` (default): the edge is L4, so every forwarding field in the request came from
 * the client and is spoofable. Every field that a common framework, client-IP library or CDN
 * convention reads as the client's address or scheme (the list: forwarding-fields.ts) is removed,
 * in any casing, any number of copies and the underscore spelling; so is X-Realip-*.
 * Policy `append` (an L7 hop the operator trusts sits in front of the edge): X-Forwarded-For and
 * Forwarded keep the client's values and get ours appended (all copies merged into one field, in
 * order, which RFC 9110 5.3 makes equivalent); X-Real-IP and X-Realip-* are replaced; the other
 * fields pass through and X-Forwarded-Proto / X-Forwarded-Port are added only when absent.
 * In both policies HTTP2-Settings, and Upgrade fields asking for anything but WebSocket, are
 * removed (H_STRIP: no upgrade to a protocol whose requests the hop cannot rewrite). Then:
 *   X-Forwarded-For: <client>   X-Real-IP: <client>   Forwarded: for=<client> (RFC 7239: IPv6 as
 *   for="[2001:db8::7]")   X-Forwarded-Port: <destination port>   X-Forwarded-Proto: http
 * plus the configured TLV headers (see tlv-headers.ts). The block is built once per connection.
 */
import type { ForwardedPolicy } from '../config.ts';
import type { ClientEndpoint } from '../reader.ts';
import {
  H_CLIENT_IP,
  H_FORWARDED,
  H_REALIP,
  H_STRIP,
  H_X_REAL_IP,
  H_XF_HOST,
  H_XF_PORT,
  H_XF_PROTO,
  H_XFF,
} from './fields.ts';
import type { RequestHead } from './request-head.ts';

/** Classes removed from the head, per policy (bit set by class number). */
const DROP_REPLACE =
  (1 << H_XFF) |
  (1 << H_FORWARDED) |
  (1 << H_X_REAL_IP) |
  (1 << H_XF_PROTO) |
  (1 << H_XF_PORT) |
  (1 << H_XF_HOST) |
  (1 << H_CLIENT_IP) |
  (1 << H_REALIP) |
  (1 << H_STRIP);
const DROP_APPEND = (1 << H_XFF) | (1 << H_FORWARDED) | (1 << H_X_REAL_IP) | (1 << H_REALIP) | (1 << H_STRIP);

export function forwardedFor(client: ClientEndpoint): string {
  return client.family === 6 ? `for="[${client.address}]"` : `for=${client.address}`;
}

export class HeadRewriter {
  private readonly drop: number;
  private readonly append: boolean;
  /** Replace policy: every added line, then the empty line that ends the head. */
  private readonly block: Buffer;
  private readonly client: ClientEndpoint;
  private readonly port: number;
  private readonly tlvLines: string;

  constructor(policy: ForwardedPolicy, client: ClientEndpoint, destinationPort: number, tlvLines: string) {
    this.append = policy === 'append';
    this.drop = this.append ? DROP_APPEND : DROP_REPLACE;
    this.client = client;
    this.port = destinationPort;
    this.tlvLines = tlvLines;
    const a = client.address;
    this.block = Buffer.from(
      `X-Forwarded-For: ${a}\r\nX-Real-IP: ${a}\r\nForwarded: ${forwardedFor(client)}\r\n` +
        `X-Forwarded-Port: ${destinationPort}\r\nX-Forwarded-Proto: http\r\n${tlvLines}\r\n`,
      'latin1',
    );
  }

  /**
   * The new head for buf[h.lineStart, end) (end just after the final CRLFCRLF): the original lines
   * minus the removed ones, our lines, the empty line. One allocation, one copy of each kept range.
   */
  rewrite(buf: Buffer, end: number, h: RequestHead): Buffer {
    const block = this.append ? this.appendBlock(buf, h) : this.block;
    const lines = h.lines;
    const drop = this.drop;
    const bodyEnd = end - 2;
    let removed = 0;
    for (let k = 0; k < h.lineCount * 5; k += 5) {
      if (drop & (1 << lines[k + 2]!)) removed += lines[k + 1]! - lines[k]!;
    }
    const out = Buffer.allocUnsafe(bodyEnd - h.lineStart - removed + block.length);
    let o = 0;
    let from = h.lineStart;
    if (removed > 0) {
      for (let k = 0; k < h.lineCount * 5; k += 5) {
        if (!(drop & (1 << lines[k + 2]!))) continue;
        o += buf.copy(out, o, from, lines[k]!);
        from = lines[k + 1]!;
      }
    }
    o += buf.copy(out, o, from, bodyEnd);
    block.copy(out, o);
    return out;
  }

  private appendBlock(buf: Buffer, h: RequestHead): Buffer {
    let xff = '';
    let fwd = '';
    let hasProto = false;
    let hasPort = false;
    const lines = h.lines;
    for (let k = 0; k < h.lineCount * 5; k += 5) {
      const cls = lines[k + 2]!;
      if (cls === H_XFF || cls === H_FORWARDED) {
        const v = buf.toString('latin1', lines[k + 3]!, lines[k + 4]!);
        if (v === '') continue;
        if (cls === H_XFF) xff += `${v}, `;
        else fwd += `${v}, `;
      } else if (cls === H_XF_PROTO) hasProto = true;
      else if (cls === H_XF_PORT) hasPort = true;
    }
    const a = this.client.address;
    return Buffer.from(
      `X-Forwarded-For: ${xff}${a}\r\nX-Real-IP: ${a}\r\nForwarded: ${fwd}${forwardedFor(this.client)}\r\n` +
        (hasPort ? '' : `X-Forwarded-Port: ${this.port}\r\n`) +
        (hasProto ? '' : 'X-Forwarded-Proto: http\r\n') +
        `${this.tlvLines}\r\n`,
      'latin1',
    );
  }
}
