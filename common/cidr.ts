/**
 * CIDR sets for trust decisions. Pure. IPv4-mapped IPv6 addresses (what a dual-stack socket
 * reports for IPv4 peers) are matched against IPv4 ranges.
 */
import { type IpFamily, parseIp } from './ip.ts';

export interface Cidr {
  readonly family: IpFamily;
  readonly bytes: Uint8Array;
  readonly prefix: number;
  readonly text: string;
}

/** Parses "10.0.0.0/8", "2001:db8::/32" or a bare address; returns a problem string on error. */
export function parseCidr(text: string): Cidr | string {
  const t = text.trim();
  const slash = t.indexOf('/');
  const addr = slash === -1 ? t : t.slice(0, slash);
  const ip = parseIp(addr);
  if (!ip) return `"${text}" is not an IPv4 or IPv6 address or CIDR`;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const p = t.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > max) {
      return `"${text}": prefix length must be 0-${max}`;
    }
    prefix = Number(p);
  }
  // A mapped address given with a /96+ prefix in IPv6 terms is rebased onto IPv4.
  if (ip.family === 4 && addr.includes(':') && slash !== -1) prefix = Math.max(0, prefix - 96);
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < max; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family: ip.family, bytes, prefix, text: t };
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
