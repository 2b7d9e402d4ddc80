// The header the tcp hop sends to the app: always a real address (never LOCAL/UNKNOWN), v1 or v2,
// chosen TLVs passed through, CRC32C recomputed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { TlvType } from '../../sidecar/proxy-protocol/tlv.ts';
import type { ProxyHeader } from '../../sidecar/proxy-protocol/types.ts';
import { buildAppHeader, type EmitInput } from '../../sidecar/tcp/relay-hop.ts';
import { appAddressFor } from '../../sidecar/tcp/transparent-hop.ts';

function parse(buf: Buffer): ProxyHeader {
  const r = decode(buf);
  assert.equal(r.kind, 'header');
  if (r.kind !== 'header') throw new Error('unreachable');
  assert.equal(r.consumed, buf.length, 'the header is the whole buffer');
  return r.header;
}

const v4: EmitInput = {
  client: { address: '198.51.100.7', port: 40007, family: 4 },
  destination: { address: '203.0.113.10', port: 443, family: 4 },
  tlvs: [
    { type: TlvType.AUTHORITY, value: Buffer.from('shop.example') },
    { type: TlvType.UNIQUE_ID, value: Buffer.from('abc') },
    { type: 0xea, value: Buffer.from([1, 2, 3]) },
    { type: TlvType.CRC32C, value: Buffer.from([0, 0, 0, 0]) },
  ],
};
const v6: EmitInput = {
  client: { address: '2001:db8::7', port: 1, family: 6 },
  destination: { address: '2001:db8::10', port: 65535, family: 6 },
  tlvs: [],
};

test('v1: TCP4 and TCP6 lines with the client as source', () => {
  assert.equal(
    buildAppHeader(v4, 'v1', []).toString('latin1'),
    'PROXY TCP4 198.51.100.7 203.0.113.10 40007 443\r\n',
  );
  assert.equal(
    buildAppHeader(v6, 'v1', [0x02]).toString('latin1'),
    'PROXY TCP6 2001:db8::7 2001:db8::10 1 65535\r\n',
  );
});

test('v2: PROXY command with the client, no TLVs unless asked', () => {
  const h = parse(buildAppHeader(v4, 'v2', []));
  assert.equal(h.version, 2);
  assert.equal(h.command, 'PROXY');
  assert.equal(h.family, 'TCP4');
  assert.deepEqual(h.source, { address: '198.51.100.7', port: 40007 });
  assert.deepEqual(h.destination, { address: '203.0.113.10', port: 443 });
  assert.deepEqual(h.tlvs, []);
  const h6 = parse(buildAppHeader(v6, 'v2', []));
  assert.equal(h6.family, 'TCP6');
  assert.deepEqual(h6.source, { address: '2001:db8::7', port: 1 });
});

test('v2: only the listed TLVs pass, in wire order, unknown types included', () => {
  const h = parse(buildAppHeader(v4, 'v2', [0xea, TlvType.AUTHORITY]));
  assert.deepEqual(
    h.tlvs.map((t) => [t.type, t.value.toString('hex')]),
    [
      [TlvType.AUTHORITY, Buffer.from('shop.example').toString('hex')],
      [0xea, '010203'],
    ],
  );
});

test('v2: a passed CRC32C is recomputed over the new header (the decoder verifies it)', () => {
  const buf = buildAppHeader(v4, 'v2', [TlvType.CRC32C, TlvType.UNIQUE_ID]);
  const h = parse(buf);
  assert.deepEqual(
    h.tlvs.map((t) => t.type),
    [TlvType.UNIQUE_ID, TlvType.CRC32C],
  );
  // Flip one address byte: the decoder must now reject the checksum.
  const bad = Buffer.from(buf);
  bad[16] = (bad[16] ?? 0) ^ 1;
  const r = decode(bad);
  assert.equal(r.kind, 'error');
});

test('CRC32C asked for but absent from the incoming header: none is added', () => {
  const h = parse(buildAppHeader({ ...v4, tlvs: [] }, 'v2', [TlvType.CRC32C]));
  assert.deepEqual(h.tlvs, []);
});

test('LOCAL / no header: the socket peer is sent as a real PROXY address, never LOCAL or UNKNOWN', () => {
  const local: EmitInput = {
    client: { address: '10.0.0.5', port: 5555, family: 4 },
    destination: { address: '10.0.0.9', port: 15001, family: 4 },
    tlvs: [],
  };
  const h = parse(buildAppHeader(local, 'v2', []));
  assert.equal(h.command, 'PROXY');
  assert.deepEqual(h.source, { address: '10.0.0.5', port: 5555 });
  assert.match(buildAppHeader(local, 'v1', []).toString(), /^PROXY TCP4 10\.0\.0\.5 /);
});

test('mixed families keep the client and use the unspecified destination of its family', () => {
  const mixed: EmitInput = {
    client: { address: '2001:db8::7', port: 9, family: 6 },
    destination: { address: '10.0.0.9', port: 15001, family: 4 },
    tlvs: [],
  };
  assert.equal(buildAppHeader(mixed, 'v1', []).toString(), 'PROXY TCP6 2001:db8::7 :: 9 15001\r\n');
});

test('transparent: the app address follows the client family', () => {
  assert.equal(appAddressFor('127.0.0.1', 4), '127.0.0.1');
  assert.equal(appAddressFor('127.0.0.1', 6), '::1');
  assert.equal(appAddressFor('::1', 4), '127.0.0.1');
  assert.equal(appAddressFor('127.0.0.2', 4), '127.0.0.2');
  assert.equal(appAddressFor('localhost', 6), '::1');
});
