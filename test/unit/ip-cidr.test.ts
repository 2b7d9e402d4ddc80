import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CidrSet, parseCidr } from '../../common/cidr.ts';
import { formatIPv6, normalizeIp, parseIPv4, parseIPv6 } from '../../common/ip.ts';

test('IPv4 parsing is canonical-only', () => {
  assert.deepEqual(Array.from(parseIPv4('192.168.0.1')!), [192, 168, 0, 1]);
  for (const bad of [
    '192.168.0.01',
    '256.1.1.1',
    '1.2.3',
    '1.2.3.4.5',
    '',
    '1..2.3',
    ' 1.2.3.4',
    '0x1.2.3.4',
  ]) {
    assert.equal(parseIPv4(bad), undefined, bad);
  }
});

test('IPv6 parsing and RFC 5952 formatting', () => {
  const cases: [string, string][] = [
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
  ];
  for (const [input, want] of cases) assert.equal(formatIPv6(parseIPv6(input)!), want, input);
  for (const bad of [
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    'fe80::1%eth0',
    ':::',
    '12345::',
    'g::1',
    '1:2:3:4:5:6:7',
  ]) {
    assert.equal(parseIPv6(bad), undefined, bad);
  }
});

test('IPv4-mapped IPv6 is shown and matched as IPv4', () => {
  assert.equal(normalizeIp('::ffff:10.1.2.3'), '10.1.2.3');
  const { set } = CidrSet.parse(['10.0.0.0/8']);
  assert.ok(set.has('::ffff:10.1.2.3'));
  assert.ok(set.has('10.255.255.255'));
  assert.ok(!set.has('11.0.0.1'));
});

test('an IPv4-mapped CIDR means exactly what it says: /96-/128 rebased, below /96 refused', () => {
  // Regression: ::ffff:10.0.0.5/32 was read as 0.0.0.0/0 and trusted every source.
  const widened = parseCidr('::ffff:10.0.0.5/32');
  assert.equal(typeof widened, 'string');
  assert.match(widened as string, /IPv4-mapped address with a prefix below \/96.*10\.0\.0\.5\/32/);
  for (const text of ['::ffff:10.0.0.5/128', '::ffff:a00:5/128', '::ffff:10.0.0.5']) {
    const { set, problems } = CidrSet.parse([text]);
    assert.deepEqual(problems, [], text);
    assert.ok(set.has('10.0.0.5') && set.has('::ffff:10.0.0.5'), text);
    assert.ok(!set.has('10.0.0.6') && !set.has('198.51.100.1') && !set.has('::1'), text);
  }
  const c = parseCidr('::ffff:10.0.0.0/104');
  assert.ok(typeof c !== 'string');
  assert.deepEqual([c.family, c.prefix, Array.from(c.bytes)], [4, 8, [10, 0, 0, 0]]);
  const all = parseCidr('::ffff:0:0/96');
  assert.ok(
    typeof all !== 'string' && all.family === 4 && all.prefix === 0,
    'the whole mapped block is all IPv4',
  );
  assert.match(parseCidr('::ffff:10.0.0.5/129') as string, /prefix length must be 0-128/);
});

test('host bits set are refused with the network form named', () => {
  assert.equal(parseCidr('10.0.0.1/8'), '"10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?');
  assert.equal(
    parseCidr('2001:db8::1/32'),
    '"2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?',
  );
  assert.equal(
    parseCidr('::ffff:10.0.0.1/104'),
    '"::ffff:10.0.0.1/104" has host bits set; did you mean ::ffff:10.0.0.0/104?',
  );
  assert.equal(parseCidr(' 10.0.0.1/8 '), '"10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?');
  for (const fine of ['10.0.0.1/32', '10.0.0.1', '0.0.0.0/0', '::/0', '2001:db8::/32', '2001:db8::1']) {
    assert.equal(typeof parseCidr(fine), 'object', fine);
  }
});

test('CIDR sets match by prefix, both families, and report bad entries', () => {
  const { set, problems } = CidrSet.parse([
    '192.168.0.0/23',
    '2001:db8::/32',
    '203.0.113.7',
    'nonsense',
    '10.0.0.0/40',
    '192.168.1.0/23',
  ]);
  assert.equal(problems.length, 3);
  assert.ok(set.has('192.168.1.255'));
  assert.ok(!set.has('192.168.2.0'));
  assert.ok(set.has('2001:db8:ffff::1'));
  assert.ok(!set.has('2001:db9::1'));
  assert.ok(set.has('203.0.113.7'));
  assert.ok(!set.has('203.0.113.8'));
  assert.ok(!set.has('not an ip'));
  assert.ok(new CidrSet([]).has('1.2.3.4') === false, 'the empty set trusts nobody');
  const all = parseCidr('0.0.0.0/0');
  assert.ok(typeof all !== 'string' && all.prefix === 0);
});

test('IPv6 text round-trips for random addresses, compressed and full forms', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
      const text = formatIPv6(b);
      assert.deepEqual(Array.from(parseIPv6(text)!), Array.from(b), text);
      const full = Array.from({ length: 8 }, (_, i) =>
        ((b[i * 2]! << 8) | b[i * 2 + 1]!).toString(16).padStart(4, '0'),
      ).join(':');
      assert.equal(formatIPv6(parseIPv6(full.toUpperCase())!), text);
    }),
    { numRuns: 3000 },
  );
});
