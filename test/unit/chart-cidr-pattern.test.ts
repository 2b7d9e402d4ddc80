// The chart's cidr pattern (values.schema.json) is the generated one, and it accepts and refuses
// IPv4 and dotted IPv4-mapped CIDRs exactly as parseCidr does (host bits, mapped prefix below /96).
// Hex IPv6 is checked for shape only: the pattern never refuses what parseCidr accepts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseCidr } from '../../common/cidr.ts';
import { formatIPv4, formatIPv6 } from '../../common/ip.ts';
import { cidrPattern, SCHEMA_FILE } from '../support/cidr-pattern.ts';

const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as {
  definitions: { cidr: { pattern: string } };
};
const pattern = new RegExp(schema.definitions.cidr.pattern);

test('values.schema.json carries the generated cidr pattern', () => {
  assert.equal(
    schema.definitions.cidr.pattern,
    cidrPattern(),
    'regenerate with: node test/support/cidr-pattern.ts --write',
  );
});

test('the schema pattern agrees with parseCidr on IPv4 and dotted mapped CIDRs', () => {
  const octets = fc.uint8Array({ minLength: 4, maxLength: 4 });
  const text = fc.oneof(
    fc.tuple(octets, fc.integer({ min: 0, max: 33 })).map(([b, p]) => `${formatIPv4(b)}/${p}`),
    // Mostly networks, so that acceptance is common too.
    fc.tuple(octets, fc.integer({ min: 0, max: 32 })).map(([b, p]) => {
      const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
      const net = p === 0 ? 0 : (v & (0xffffffff << (32 - p))) >>> 0;
      return `${formatIPv4(new Uint8Array([net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255]))}/${p}`;
    }),
    fc.tuple(octets, fc.integer({ min: 0, max: 129 })).map(([b, p]) => `::ffff:${formatIPv4(b)}/${p}`),
    fc.tuple(fc.integer({ min: 0, max: 32 })).map(([p]) => `::ffff:0.0.0.0/${p + 96}`),
  );
  fc.assert(
    fc.property(text, (t) => {
      const ours = typeof parseCidr(t) !== 'string';
      assert.equal(pattern.test(t), ours, `${t}: schema ${pattern.test(t)}, parseCidr ${ours}`);
    }),
    { numRuns: 20000 },
  );
  for (const t of ['10.0.0.1/8', '::ffff:10.0.0.5/32', '10.0.0.0', '010.0.0.0/8'])
    assert.ok(!pattern.test(t), t);
  for (const t of ['10.0.0.0/8', '10.0.0.1/32', '0.0.0.0/0', '::ffff:10.0.0.0/104', '::FFFF:10.0.0.5/128']) {
    assert.ok(pattern.test(t), t);
  }
});

test('the schema pattern never refuses an IPv6 CIDR that parseCidr accepts', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 128 }), (b, p) => {
      for (let bit = p; bit < 128; bit++) b[bit >> 3]! &= ~(0x80 >> (bit & 7));
      const t = `${formatIPv6(b)}/${p}`;
      if (typeof parseCidr(t) !== 'string') assert.ok(pattern.test(t), t);
    }),
    { numRuns: 5000 },
  );
});
