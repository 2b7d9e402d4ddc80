/**
 * CIDR sets for trust decisions. Pure. Every place that reads a CIDR (CLI flags, environment,
 * webhook annotations, `realip init --redirect-from`) goes through parseCidr, so all of them accept
 * and refuse exactly the same text.
 *
 * IPv4 in either form. A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d, so an address is
 * matched as IPv4 whichever way it is written, and an IPv4-mapped CIDR (::ffff:a.b.c.d/96..128) is
 * rebased onto IPv4 (a.b.c.d/0..32): it means exactly the addresses it names, as it would in an
 * IPv6 routing table. A mapped CIDR below /96 is refused: it would reach outside the mapped block
 * into other IPv6 space, and rebasing it would silently widen it (::ffff:10.0.0.5/32 once became
 * 0.0.0.0/0, trusting everybody).
 *
 * IPv6 CIDRs match IPv6 addresses only, never IPv4 ones. node:net's BlockList differs here: it also
 * matches an IPv4 address against any IPv6 subnet that covers its mapped form (::/0, ::/80,
 * ::fffe:0:0/95). Trusting IPv4 sources takes an IPv4 (or mapped) CIDR; the narrower reading is the
 * safe one for a trust list.
 *
 * Host bits. "10.0.0.1/8" is refused, not masked: the operator meant either 10.0.0.0/8 or the single
 * host 10.0.0.1, and guessing wrong widens or narrows the trust list without a word. The message
 * names the network form.
 */
import { formatIPv4, formatIPv6, type IpFamily, parseIp, parseIPv6 } from './ip.ts';

export interface Cidr {
  readonly family: IpFamily;
  /** The network address (host bits zero): 4 bytes for IPv4 (mapped CIDRs rebased), 16 for IPv6. */
  readonly bytes: Uint8Array;
  /** In the family's own terms: 0-32 for IPv4 (mapped CIDRs rebased), 0-128 for IPv6. */
  readonly prefix: number;
  /** The text as given, trimmed. */
  readonly text: string;
}

/** The offset of an IPv4 address inside its IPv4-mapped IPv6 form (::ffff:0:0/96). */
const MAPPED_PREFIX = 96;

/**
 * Parses "10.0.0.0/8", "2001:db8::/32", "::ffff:10.0.0.0/104" or a bare address (a single host);
 * returns a problem string on error. Refuses host bits set and mapped CIDRs below /96.
 */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash === -1 ? t : t.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) return `"${t}" is not an IPv4 or IPv6 address or CIDR`;
  // parseIp returns a mapped address as IPv4; its prefix is still written in IPv6 terms.
  const mapped = ip.family === 4 && parseIPv6(addr) !== undefined;
  const written = ip.family === 6 || mapped ? 128 : 32;
  let prefix = written;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > written) {
      return `"${t}": prefix length must be 0-${written}`;
    }
    prefix = Number(p);
  }
  if (mapped) {
    if (prefix < MAPPED_PREFIX) {
      return (
        `"${t}" is an IPv4-mapped address with a prefix below /${MAPPED_PREFIX}, which reaches outside ` +
        `the mapped block: write the IPv4 CIDR (e.g. ${formatIPv4(ip.bytes)}/32) or a mapped prefix of /96-/128`
      );
    }
    prefix -= MAPPED_PREFIX;
  }
  const max = ip.family === 4 ? 32 : 128;
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  if (!sameBytes(bytes, ip.bytes)) {
    const network =
      ip.family === 6 ? formatIPv6(bytes) : mapped ? mappedText(bytes, addr) : formatIPv4(bytes);
    return `"${t}" has host bits set; did you mean ${network}/${mapped ? prefix + MAPPED_PREFIX : prefix}?`;
  }
  return { family: ip.family, bytes, prefix, text: t };
}

/** A mapped network in the form it was written: ::ffff:a.b.c.d, or hex (::ffff:a00:0). */
function mappedText(v4: Uint8Array, written: string): string {
  if (written.includes('.')) return `::ffff:${formatIPv4(v4)}`;
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(v4, 12);
  return formatIPv6(b);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class CidrSet {
  readonly cidrs: readonly Cidr[];
  constructor(cidrs: readonly Cidr[]) {
    this.cidrs = cidrs;
  }

  static parse(list: readonly string[]): { set: CidrSet; problems: string[] } {
    const problems: string[] = [];
    const cidrs: Cidr[] = [];
    for (const item of list) {
      if (item.trim() === '') continue;
      const c = parseCidr(item);
      if (typeof c === 'string') problems.push(c);
      else cidrs.push(c);
    }
    return { set: new CidrSet(cidrs), problems };
  }

  get size(): number {
    return this.cidrs.length;
  }

  /** Whether the address (IPv4, IPv6 or IPv4-mapped IPv6 text) is in one of the CIDRs. */
  has(address: string): boolean {
    if (this.cidrs.length === 0) return false;
    const ip = parseIp(address);
    if (!ip) return false;
    for (const c of this.cidrs) {
      if (c.family === ip.family && matches(c, ip.bytes)) return true;
    }
    return false;
  }

  toString(): string {
    return this.cidrs.map((c) => `${c.text}`).join(',');
  }
}

function matches(c: Cidr, b: Uint8Array): boolean {
  const full = c.prefix >> 3;
  for (let i = 0; i < full; i++) if (b[i] !== c.bytes[i]) return false;
  const rem = c.prefix & 7;
  if (rem === 0) return true;
  const mask = (0xff << (8 - rem)) & 0xff;
  return (b[full]! & mask) === c.bytes[full];
}
