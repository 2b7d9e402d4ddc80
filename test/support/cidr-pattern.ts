/**
 * The chart's values.schema.json `cidr` pattern, generated: RE2-compatible (Helm validates with Go's
 * regexp, so no lookarounds) and refusing what parseCidr refuses for IPv4 and dotted IPv4-mapped
 * CIDRs: host bits set, a mapped prefix below /96. Hex IPv6 is checked for shape only; its host
 * bits and hex-written mapped addresses are refused when the webhook starts (CFG_INVALID).
 * test/unit/chart-cidr-pattern.test.ts pins the schema to this and checks it against parseCidr.
 * Regenerate: node test/support/cidr-pattern.ts --write
 */
import { readFileSync, writeFileSync } from 'node:fs';

const OCTET = '(0|[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5])';

/** Dotted IPv4 text of a network with `prefix` bits (host bits zero), canonical octets. */
function ipv4Network(prefix: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const bits = Math.min(8, Math.max(0, prefix - i * 8));
    if (bits === 8) parts.push(OCTET);
    else if (bits === 0) parts.push('0');
    else {
      const step = 1 << (8 - bits);
      const values: number[] = [];
      for (let v = 0; v < 256; v += step) values.push(v);
      parts.push(`(${values.join('|')})`);
    }
  }
  return parts.join('\\.');
}

export function cidrPattern(): string {
  const v4: string[] = [];
  const mapped: string[] = [];
  for (let p = 0; p <= 32; p++) {
    v4.push(`${ipv4Network(p)}/${p}`);
    mapped.push(`${ipv4Network(p)}/${p + 96}`);
  }
  const v6Prefix = '([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])';
  return `^((${v4.join('|')})|::[fF]{4}:(${mapped.join('|')})|[0-9a-fA-F:]*:[0-9a-fA-F:]*/${v6Prefix})$`;
}

export const SCHEMA_FILE = new URL('../../charts/realip/values.schema.json', import.meta.url).pathname;

if (process.argv[2] === '--write') {
  const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
    definitions: { cidr: { pattern: string } };
  };
  schema.definitions.cidr.pattern = cidrPattern();
  writeFileSync(SCHEMA_FILE, `${JSON.stringify(schema, null, 2)}\n`);
}
