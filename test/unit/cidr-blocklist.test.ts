// Our CIDR membership against node:net's BlockList, for random CIDRs (IPv4, IPv6, IPv4-mapped) and
// random addresses (IPv4, IPv6, IPv4-mapped in dotted and hex form). One intended difference, stated
// where it is checked: an IPv6 CIDR never matches an IPv4 address (see common/cidr.ts).
import assert from 'node:assert/strict';
import { BlockList, isIPv4 } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { CidrSet, parseCidr } from '../../common/cidr.ts';
import { formatIPv4, formatIPv6 } from '../../common/ip.ts';

interface CidrCase {
  readonly kind: 'v4' | 'v6' | 'mapped';
  /** The network as written (host bits zero) and the prefix as written. */
  readonly text: string;
  readonly address: string;
  readonly prefix: number;
  /** The network bytes in IPv6 terms (IPv4 as ::ffff:a.b.c.d), to derive nearby addresses. */
  readonly bytes16: Uint8Array;
}

function mask(b: Uint8Array, prefix: number): Uint8Array {
  const out = b.slice();
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return out;
}

function mapped16(v4: Uint8Array): Uint8Array {
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(v4, 12);
  return b;
}

const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

const v4Cidr = fc.tuple(bytes(4), fc.integer({ min: 0, max: 32 })).map(([b, p]): CidrCase => {
  const net = mask(b, p);
  const address = formatIPv4(net);
  return { kind: 'v4', text: `${address}/${p}`, address, prefix: p, bytes16: mapped16(net) };
});

// IPv6 networks, biased towards the ones around the mapped block (::/0, ::/80, ::fffe:0:0/95, ...)
// where BlockList and our policy could disagree.
const v6Bytes = fc.oneof(
  bytes(16),
  bytes(4).map(mapped16),
  fc.constant(new Uint8Array(16)),
  bytes(16).map((b) => mapped16(b.subarray(12)).map((x, i) => (i < 10 ? 0 : i < 12 ? b[i]! : x))),
);
const v6Cidr = fc
  .tuple(v6Bytes, fc.integer({ min: 0, max: 128 }))
  .map(([b, p]) => ({ net: mask(b, p), p }))
  // A network in the mapped block with a /96+ prefix is a mapped CIDR: the next generator's case.
  .filter(({ net, p }) => !(p >= 96 && isMapped(net)))
  .map(({ net, p }): CidrCase => {
    const address = formatIPv6(net);
    return { kind: 'v6', text: `${address}/${p}`, address, prefix: p, bytes16: net };
  });

const mappedCidr = fc
  .tuple(bytes(4), fc.integer({ min: 96, max: 128 }), fc.boolean())
  .map(([b, p, dotted]): CidrCase => {
    const net = mask(b, p - 96);
    const address = dotted ? `::ffff:${formatIPv4(net)}` : formatIPv6(mapped16(net));
    return { kind: 'mapped', text: `${address}/${p}`, address, prefix: p, bytes16: mapped16(net) };
  });

function isMapped(b: Uint8Array): boolean {
  return b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff;
}

/** Address text in one of the forms a socket or a header may give. */
function addressForms(b16: Uint8Array): string[] {
  if (!isMapped(b16)) return [formatIPv6(b16)];
  const v4 = formatIPv4(b16, 12);
  return [v4, `::ffff:${v4}`, formatIPv6(b16)];
}

const cidrCase = fc.oneof(v4Cidr, v6Cidr, mappedCidr);
// Random addresses, plus addresses near the CIDR (its network with random bits from some point on),
// so that both members and non-members are common.
const addressFor = (c: CidrCase) =>
  fc.oneof(
    bytes(16),
    bytes(4).map(mapped16),
    fc.tuple(bytes(16), fc.integer({ min: 0, max: 128 })).map(([r, from]) => {
      const out = c.bytes16.slice();
      for (let bit = from; bit < 128; bit++) {
        const m = 0x80 >> (bit & 7);
        out[bit >> 3] = (out[bit >> 3]! & ~m) | (r[bit >> 3]! & m);
      }
      return out;
    }),
  );

test('membership agrees with node:net BlockList (IPv4, IPv6, IPv4-mapped CIDRs and addresses)', () => {
  fc.assert(
    fc.property(
      cidrCase.chain((c) => fc.tuple(fc.constant(c), addressFor(c), fc.nat())),
      ([c, addr16, pick]) => {
        const parsed = parseCidr(c.text);
        assert.ok(typeof parsed !== 'string', `${c.text} must parse: ${parsed}`);
        const ours = new CidrSet([parsed]);
        const reference = new BlockList();
        reference.addSubnet(c.address, c.prefix, c.kind === 'v4' ? 'ipv4' : 'ipv6');
        const forms = addressForms(addr16);
        const address = forms[pick % forms.length]!;
        const got = ours.has(address);
        const want = reference.check(address, isIPv4(address) ? 'ipv4' : 'ipv6');
        if (c.kind === 'v6' && isMapped(addr16)) {
          // The intended difference: BlockList matches an IPv4 address against an IPv6 subnet that
          // covers ::ffff:a.b.c.d; our trust list matches IPv4 only against IPv4 (or mapped) CIDRs.
          assert.equal(got, false, `${address} in ${c.text}: an IPv6 CIDR must not match IPv4`);
        } else {
          assert.equal(got, want, `${address} in ${c.text}: ours ${got}, BlockList ${want}`);
        }
        // The same address in every form gets the same answer.
        for (const other of forms) assert.equal(ours.has(other), got, `${other} vs ${address} in ${c.text}`);
      },
    ),
    { numRuns: 20000 },
  );
});

test('host bits set: refused, and the suggested network is what BlockList would have masked to', () => {
  fc.assert(
    fc.property(
      cidrCase.chain((c) => fc.tuple(fc.constant(c), bytes(16), addressFor(c))),
      ([c, noise, addr16]) => {
        // Set random host bits in the written address.
        const b = c.bytes16.slice();
        const from = c.kind === 'v4' ? c.prefix + 96 : c.prefix;
        let changed = false;
        for (let bit = from; bit < 128; bit++) {
          const m = 0x80 >> (bit & 7);
          if (noise[bit >> 3]! & m) {
            b[bit >> 3]! |= m;
            changed = true;
          }
        }
        fc.pre(changed);
        const written =
          c.kind === 'v4'
            ? formatIPv4(b, 12)
            : c.address.includes('.')
              ? `::ffff:${formatIPv4(b, 12)}`
              : formatIPv6(b);
        const text = `${written}/${c.prefix}`;
        const problem = parseCidr(text);
        assert.equal(typeof problem, 'string', `${text} must be refused`);
        if (c.kind === 'v6' && isMapped(b)) {
          // The host bits made it a mapped address below /96: refused for that first.
          assert.match(problem as string, /is an IPv4-mapped address with a prefix below \/96/);
          return;
        }
        const m = /^"(.+)" has host bits set; did you mean (\S+)\/(\d+)\?$/.exec(problem as string);
        assert.ok(m, `message names the network form: ${problem}`);
        assert.equal(m[1], text);
        assert.equal(`${m[2]}/${m[3]}`, c.text, 'the suggestion is the network form as written');
        // BlockList masks host bits silently; the suggestion means exactly that set.
        const reference = new BlockList();
        reference.addSubnet(written, c.prefix, c.kind === 'v4' ? 'ipv4' : 'ipv6');
        const suggested = parseCidr(c.text);
        assert.ok(typeof suggested !== 'string');
        const address = addressForms(addr16)[0]!;
        if (!(c.kind === 'v6' && isMapped(addr16))) {
          assert.equal(
            new CidrSet([suggested]).has(address),
            reference.check(address, isIPv4(address) ? 'ipv4' : 'ipv6'),
            `${address} in ${c.text}`,
          );
        }
      },
    ),
    { numRuns: 5000 },
  );
});
