// Properties of the codec (fast-check): hostile bytes only ever produce our typed error, the
// decoder never claims bytes past the header, and decode(encode(h)) == h. proxy-protocol-js is used
// as an independent cross-check of our encoder on TLV-free headers (see docs/decisions.md).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import ppjs from 'proxy-protocol-js';
import { formatIPv4, formatIPv6 } from '../../common/ip.ts';
import { crc32c } from '../../sidecar/proxy-protocol/crc32c.ts';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { type EncodeInput, encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { PP_CODES, ProxyProtocolError } from '../../sidecar/proxy-protocol/errors.ts';
import { V2_SIGNATURE } from '../../sidecar/proxy-protocol/types.ts';

const RUNS = 2000;
const ipv4 = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const ipv6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => formatIPv6(b));
const port = fc.integer({ min: 0, max: 65535 });
const tlv = fc.record({
  // Exclude CRC32C (0x03) and types with a fixed-size rule; they are covered by vectors.
  type: fc.constantFrom(0x01, 0x02, 0x04, 0x30, 0xea, 0xf0, 0xf1),
  value: fc.uint8Array({ maxLength: 40 }).map((u) => Buffer.from(u)),
});
const header = fc.oneof(
  fc.record({
    family: fc.constant('TCP4' as const),
    source: fc.record({ address: ipv4, port }),
    destination: fc.record({ address: ipv4, port }),
  }),
  fc.record({
    family: fc.constant('TCP6' as const),
    source: fc.record({ address: ipv6, port }),
    destination: fc.record({ address: ipv6, port }),
  }),
);

/** Bytes that look enough like a header to get past detection, then go wrong anywhere. */
const hostile = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)),
  fc
    .tuple(fc.constantFrom(V2_SIGNATURE, Buffer.from('PROXY ')), fc.uint8Array({ maxLength: 300 }))
    .map(([p, u]) => Buffer.concat([p, Buffer.from(u)])),
  fc.string({ maxLength: 120 }).map((s) => Buffer.from(`PROXY ${s}`, 'latin1')),
  header.chain((h) =>
    fc.tuple(fc.constant(encodeV2(h)), fc.nat(), fc.integer({ min: 0, max: 255 })).map(([b, at, v]) => {
      const copy = Buffer.from(b);
      copy[at % copy.length] = v;
      return copy;
    }),
  ),
);

describe('codec properties', () => {
  test('random and mutated bytes never throw, and errors are our typed errors with known codes', () => {
    fc.assert(
      fc.property(hostile, (buf) => {
        const r = decode(buf);
        if (r.kind === 'error') {
          assert.ok(r.error instanceof ProxyProtocolError);
          assert.ok((PP_CODES as readonly string[]).includes(r.error.code), r.error.code);
        }
        if (r.kind === 'header') assert.ok(r.consumed > 0 && r.consumed <= buf.length);
      }),
      { numRuns: RUNS * 5 },
    );
  });

  test('decode never consumes application bytes that follow the header', () => {
    fc.assert(
      fc.property(
        header,
        fc.array(tlv, { maxLength: 4 }),
        fc.uint8Array({ maxLength: 64 }),
        fc.boolean(),
        (h, tlvs, tail, v1) => {
          const head = v1 ? encodeV1(h) : encodeV2({ ...h, tlvs });
          const r = decode(Buffer.concat([head, Buffer.from(tail)]));
          assert.equal(r.kind, 'header');
          if (r.kind === 'header') assert.equal(r.consumed, head.length);
        },
      ),
      { numRuns: RUNS },
    );
  });

  test('decode(encode(h)) == h for v1 and v2 (with TLVs and with CRC32C)', () => {
    fc.assert(
      fc.property(header, fc.array(tlv, { maxLength: 5 }), fc.boolean(), (h, tlvs, crc) => {
        const r1 = decode(encodeV1(h));
        assert.ok(r1.kind === 'header');
        assert.deepEqual(
          { family: r1.header.family, source: r1.header.source, destination: r1.header.destination },
          { family: h.family, source: { ...h.source }, destination: { ...h.destination } },
        );
        const r2 = decode(encodeV2({ ...h, tlvs }, { crc32c: crc }));
        assert.ok(r2.kind === 'header', r2.kind === 'error' ? r2.error.message : '');
        assert.equal(r2.header.command, 'PROXY');
        assert.deepEqual(r2.header.source, { ...h.source });
        assert.deepEqual(r2.header.destination, { ...h.destination });
        const got = r2.header.tlvs
          .filter((t) => t.type !== 0x03)
          .map((t) => [t.type, Buffer.from(t.value).toString('hex')]);
        assert.deepEqual(
          got,
          tlvs.map((t) => [t.type, t.value.toString('hex')]),
        );
      }),
      { numRuns: RUNS },
    );
  });

  test('LOCAL and UNKNOWN round-trip', () => {
    const local = decode(encodeV2({ command: 'LOCAL', family: 'UNKNOWN' }));
    assert.ok(local.kind === 'header' && local.header.command === 'LOCAL');
    const unknown = decode(encodeV1({ family: 'UNKNOWN' }));
    assert.ok(unknown.kind === 'header' && unknown.header.family === 'UNKNOWN' && !unknown.header.source);
  });
});

describe('CRC32C TLV', () => {
  /** A v2 header with two CRC32C TLVs, `right` of them holding the header's real checksum. */
  function twoCrcs(right: 'first' | 'second' | 'both', command: 'PROXY' | 'LOCAL' = 'PROXY'): Buffer {
    const buf = encodeV2({
      ...(command === 'LOCAL'
        ? { command: 'LOCAL' as const, family: 'UNKNOWN' as const }
        : {
            family: 'TCP4' as const,
            source: { address: '198.51.100.7', port: 40000 },
            destination: { address: '10.0.0.1', port: 80 },
          }),
      tlvs: [
        { type: 0x03, value: Buffer.alloc(4) },
        { type: 0x03, value: Buffer.from('bad!') },
      ],
    });
    const second = buf.length - 4;
    const first = second - 3 - 4;
    // Each checksum covers the header with its own field zeroed and the other as sent.
    if (right !== 'second') buf.writeUInt32BE(crc32c(buf), first);
    if (right !== 'first') {
      const copy = Buffer.from(buf);
      copy.fill(0, second, second + 4);
      buf.writeUInt32BE(crc32c(copy), second);
    }
    return buf;
  }

  test('a header with two CRC32C TLVs is refused, whichever of them is right', () => {
    // Regression: only the first was checked, so a wrong second checksum passed.
    for (const right of ['first', 'second', 'both'] as const) {
      for (const command of ['PROXY', 'LOCAL'] as const) {
        const r = decode(twoCrcs(right, command));
        assert.ok(r.kind === 'error', `${command}, ${right} right: ${r.kind}`);
        assert.equal(r.error.code, 'PP_V2_DUPLICATE_CRC');
        assert.match(r.error.message, /2 CRC32C TLVs; at most one/);
      }
    }
  });

  test('one right CRC32C TLV is accepted, one wrong is PP_V2_BAD_CRC', () => {
    const h: EncodeInput = {
      family: 'TCP4',
      source: { address: '198.51.100.7', port: 40000 },
      destination: { address: '10.0.0.1', port: 80 },
    };
    const good = encodeV2(h, { crc32c: true });
    assert.equal(decode(good).kind, 'header');
    good[good.length - 1]! ^= 1;
    const bad = decode(good);
    assert.ok(bad.kind === 'error' && bad.error.code === 'PP_V2_BAD_CRC');
  });
});

describe('cross-check with proxy-protocol-js (TLV-free headers)', () => {
  test('our v1 bytes equal proxy-protocol-js v1 bytes, and it parses ours back', () => {
    fc.assert(
      fc.property(
        header,
        (
          h: EncodeInput & {
            source: { address: string; port: number };
            destination: { address: string; port: number };
          },
        ) => {
          const theirs = new ppjs.V1ProxyProtocol(
            h.family === 'TCP4' ? ppjs.INETProtocol.TCP4 : ppjs.INETProtocol.TCP6,
            new ppjs.Peer(h.source.address, h.source.port),
            new ppjs.Peer(h.destination.address, h.destination.port),
          ).build();
          assert.equal(encodeV1(h).toString('latin1'), theirs);
          const parsed = ppjs.V1ProxyProtocol.parse(encodeV1(h).toString('latin1'));
          assert.equal(parsed.source.ipAddress, h.source.address);
          assert.equal(parsed.destination.port, h.destination.port);
        },
      ),
      { numRuns: 500 },
    );
  });

  test('our v2 bytes equal proxy-protocol-js v2 bytes', () => {
    fc.assert(
      fc.property(header, (h) => {
        const v4 = h.family === 'TCP4';
        const bytes = (a: string) =>
          Array.from(encodeV2({ ...h, source: { address: a, port: 0 } }).subarray(16, 16 + (v4 ? 4 : 16)));
        const addr = v4
          ? new ppjs.IPv4ProxyAddress(
              ppjs.IPv4Address.createFrom(bytes(h.source.address)),
              h.source.port,
              ppjs.IPv4Address.createFrom(bytes(h.destination.address)),
              h.destination.port,
            )
          : new ppjs.IPv6ProxyAddress(
              ppjs.IPv6Address.createFrom(bytes(h.source.address)),
              h.source.port,
              ppjs.IPv6Address.createFrom(bytes(h.destination.address)),
              h.destination.port,
            );
        const theirs = Buffer.from(
          new ppjs.V2ProxyProtocol(ppjs.Command.PROXY, ppjs.TransportProtocol.STREAM, addr).build(),
        );
        assert.equal(encodeV2(h).toString('hex'), theirs.toString('hex'));
      }),
      { numRuns: 500 },
    );
  });

  test('documented proxy-protocol-js defects that made us write our own parser', () => {
    // It rejects the valid "PROXY UNKNOWN\r\n" ...
    assert.throws(() => ppjs.V1ProxyProtocol.parse('PROXY UNKNOWN\r\n'));
    // ... accepts invalid v1 lines (an address octet of 999, a port of 99999, leading zeros) ...
    for (const line of [
      'PROXY TCP4 999.2.3.4 5.6.7.8 1 2\r\n',
      'PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n',
      'PROXY TCP4 01.2.3.4 5.6.7.8 01 2\r\n',
    ]) {
      assert.doesNotThrow(() => ppjs.V1ProxyProtocol.parse(line), line);
      const ours = decode(Buffer.from(line));
      assert.equal(ours.kind, 'error', line);
    }
    // ... reads v2 TLV bytes as application payload ...
    const withTlv = Buffer.from(
      '0d0a0d0a000d0a515549540a211100147f0000017f000001002a05390200053132333435',
      'hex',
    );
    assert.equal(
      Buffer.from(ppjs.V2ProxyProtocol.parse(withTlv).data ?? []).toString('hex'),
      '0200053132333435',
    );
    // ... and returns null ports on a truncated header instead of failing.
    const truncated = ppjs.V2ProxyProtocol.parse(
      Buffer.from('0d0a0d0a000d0a515549540a2111000c7f0000017f00', 'hex'),
    );
    assert.ok(!Number.isInteger((truncated.proxyAddress as { sourcePort?: unknown }).sourcePort));
    assert.equal(
      decode(Buffer.from('0d0a0d0a000d0a515549540a2111000c7f0000017f00', 'hex')).kind,
      'need-more',
    );
  });
});
