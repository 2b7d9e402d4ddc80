// The HTTP/2 hop's pure parts: the preface sniff and the one header rewrite every stream passes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FORWARDING_FIELDS } from '../../sidecar/http/forwarding-fields.ts';
import { H2HeaderRewriter, responseFields, trailerFields } from '../../sidecar/http2/headers.ts';
import {
  PREFACE,
  SNIFF_H2,
  SNIFF_NEED_MORE,
  SNIFF_OTHER,
  sniffPreface,
} from '../../sidecar/http2/preface.ts';

const V4 = { address: '198.51.100.7', port: 40000, family: 4 as const };
const V6 = { address: '2001:db8::7', port: 40000, family: 6 as const };

function raw(fields: Record<string, string | string[]>): string[] {
  const out: string[] = [':method', 'GET', ':scheme', 'http', ':authority', 'a', ':path', '/p'];
  for (const [n, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) out.push(n, x);
  return out;
}

test('preface sniff: every prefix of the preface needs more, the whole is h2, any other byte is not', () => {
  for (let i = 0; i < PREFACE.length; i++)
    assert.equal(sniffPreface(PREFACE.subarray(0, i)), SNIFF_NEED_MORE, `${i}`);
  assert.equal(sniffPreface(PREFACE), SNIFF_H2);
  assert.equal(sniffPreface(Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4])])), SNIFF_H2);
  assert.equal(sniffPreface(Buffer.from('G')), SNIFF_OTHER, 'an HTTP/1.1 request is known at its first byte');
  assert.equal(sniffPreface(Buffer.from('PRI * HTTP/1.1\r\n')), SNIFF_OTHER);
  assert.equal(sniffPreface(Buffer.from([0x16, 0x03, 0x01])), SNIFF_OTHER, 'a TLS ClientHello');
});

test('replace: every forwarding field of the HTTP/1.1 list is removed (any copy, _ spelling), ours added', () => {
  const forged: Record<string, string[]> = {};
  for (const f of FORWARDING_FIELDS) {
    forged[f.name] = ['6.6.6.6', '7.7.7.7'];
    forged[f.name.replaceAll('-', '_')] = ['6.6.6.6'];
  }
  const out = new H2HeaderRewriter('replace', V4, 443, []).request(
    raw({ ...forged, 'x-realip-aws-vpce-id': 'vpce-forged', 'user-agent': 'ua', cookie: ['a=1', 'b=2'] }),
  );
  assert.deepEqual(out, {
    ':method': 'GET',
    ':scheme': 'http',
    ':authority': 'a',
    ':path': '/p',
    'user-agent': 'ua',
    cookie: ['a=1', 'b=2'],
    'x-forwarded-for': '198.51.100.7',
    'x-real-ip': '198.51.100.7',
    forwarded: 'for=198.51.100.7',
    'x-forwarded-port': '443',
    'x-forwarded-proto': 'http',
  });
});

test('append: x-forwarded-for and forwarded keep the client values in order; x-real-ip replaced; proto/port kept', () => {
  const out = new H2HeaderRewriter('append', V6, 8443, []).request(
    raw({
      'x-forwarded-for': ['10.0.0.1', '10.0.0.2'],
      forwarded: 'for=10.0.0.1',
      'x-real-ip': '6.6.6.6',
      'x-forwarded-proto': 'https',
      'true-client-ip': '10.0.0.1',
    }),
  );
  assert.equal(out['x-forwarded-for'], '10.0.0.1, 10.0.0.2, 2001:db8::7');
  assert.equal(out.forwarded, 'for=10.0.0.1, for="[2001:db8::7]"');
  assert.equal(out['x-real-ip'], '2001:db8::7');
  assert.equal(out['x-forwarded-proto'], 'https');
  assert.equal(out['x-forwarded-port'], '8443');
  assert.equal(out['true-client-ip'], '10.0.0.1', 'append passes the other fields, as in HTTP/1.1');
});

test('TLV headers are ours alone; connection-specific fields are dropped, te: trailers kept', () => {
  const out = new H2HeaderRewriter('replace', V4, 443, [['X-Realip-Aws-Vpce-Id', 'vpce-0abc']]).request(
    raw({
      'x-realip-aws-vpce-id': 'forged',
      connection: 'close',
      upgrade: 'h2c',
      'http2-settings': 'AAA',
      te: 'trailers',
    }),
  );
  assert.equal(out['x-realip-aws-vpce-id'], 'vpce-0abc');
  for (const n of ['connection', 'upgrade', 'http2-settings']) assert.equal(out[n], undefined, n);
  assert.equal(out.te, 'trailers');
  const gzip = new H2HeaderRewriter('replace', V4, 443, []).request(raw({ te: 'gzip' }));
  assert.equal(gzip.te, undefined);
});

test('the input is not changed, and the rewrite is the same for every stream of a connection', () => {
  const r = new H2HeaderRewriter('replace', V4, 443, []);
  const input = raw({ 'x-forwarded-for': '6.6.6.6' });
  const copy = [...input];
  const a = r.request(input);
  const b = r.request(input);
  assert.deepEqual(input, copy);
  assert.deepEqual(a, b);
});

test('trailers lose every forwarding field and x-realip-*, in both directions; responses pass as they are', () => {
  const t = trailerFields({
    'grpc-status': '0',
    'x-forwarded-for': '6.6.6.6',
    x_real_ip: '6.6.6.6',
    'x-realip-unique-id': 'u',
    ':status': '200',
  });
  assert.deepEqual(t, { 'grpc-status': '0' });
  // node:http2 gives :status as a number.
  const head = { ':status': 200, 'set-cookie': ['a=1', 'b=2'], 'x-forwarded-for': 'app-said' };
  const r = responseFields(head as unknown as Parameters<typeof responseFields>[0]);
  assert.deepEqual(r, { ':status': 200, 'set-cookie': ['a=1', 'b=2'], 'x-forwarded-for': 'app-said' });
});
