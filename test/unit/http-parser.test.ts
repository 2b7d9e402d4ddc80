// The HTTP hop's pure parts: request-head parser, chunked scanner, response tracker, head rewrite,
// TLV headers. Property tests split inputs at arbitrary offsets (data arrives in pieces).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { CHUNKED_ERROR, CHUNKED_TRAILER, ChunkedScanner } from '../../sidecar/http/chunked.ts';
import {
  classify,
  H_CLIENT_IP,
  H_CONTENT_LENGTH,
  H_FORWARDED,
  H_OTHER,
  H_REALIP,
  H_TRANSFER_ENCODING,
  H_X_REAL_IP,
  H_XFF,
  parseContentLength,
} from '../../sidecar/http/fields.ts';
import { M_CONNECT, M_HEAD, RequestHead } from '../../sidecar/http/request-head.ts';
import {
  E_COMPLETE,
  E_LOST,
  E_REFUSED,
  E_TUNNEL,
  K_HEAD,
  K_UPGRADE,
  ResponseTracker,
} from '../../sidecar/http/response.ts';
import { HeadRewriter } from '../../sidecar/http/rewrite.ts';
import { tlvHeaderLines } from '../../sidecar/http/tlv-headers.ts';

function parse(text: string): RequestHead {
  const h = new RequestHead();
  const b = Buffer.from(text, 'latin1');
  h.parse(b, 0, b.length);
  return h;
}

test('request heads: framing, method, version and close are read', () => {
  let h = parse('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(h.status, 0);
  assert.equal(h.contentLength, -1);
  assert.equal(h.chunked, false);
  assert.equal(h.close, false);
  h = parse('POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 5, 5\r\nconnection: Keep-Alive, Close\r\n\r\n');
  assert.equal(h.contentLength, 5);
  assert.equal(h.close, true);
  h = parse('POST /x HTTP/1.1\r\nHost: a\r\nTRANSFER-ENCODING:  Chunked \r\n\r\n');
  assert.equal(h.chunked, true);
  h = parse('HEAD / HTTP/1.0\r\n\r\n');
  assert.equal(h.method, M_HEAD);
  assert.equal(h.version, 10);
  assert.equal(h.close, true);
  h = parse('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(h.close, false);
  h = parse('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n');
  assert.equal(h.method, M_CONNECT);
  assert.equal(h.status, 405);
  h = parse('GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nExpect: 100-Continue\r\n\r\n');
  assert.equal(h.upgrade, true);
  assert.equal(h.expectContinue, true);
  h = parse('\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(h.status, 0);
  assert.equal(h.lineStart, 4);
  h = parse('GET / HTTP/1.1\r\nHost: a\r\nX-Obs: caf\xe9\r\n\r\n');
  assert.equal(h.status, 0, 'obs-text is allowed in values');
});

test('request heads: refusals carry status and code', () => {
  const cases: [string, number, string][] = [
    [
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
      400,
      'HTTP_BAD_CONTENT_LENGTH',
    ],
    [
      'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n',
      400,
      'HTTP_CONTENT_LENGTH_AND_CHUNKED',
    ],
    ['GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, \r\n\r\n', 400, 'HTTP_BAD_TRANSFER_ENCODING'],
    [
      'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n',
      400,
      'HTTP_BAD_TRANSFER_ENCODING',
    ],
    [
      'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: deflate,chunked\r\n\r\n',
      501,
      'HTTP_UNSUPPORTED_TRANSFER_ENCODING',
    ],
    ['GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n', 400, 'HTTP_OBS_FOLD'],
    ['GET / HTTP/1.1\r\nHost: a\r\nA\x7fB: 1\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
    ['GET / HTTP/1.1\r\nHost: a\r\n: empty name\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
    ['GET / HTTP/1.1\r\nHost: a\r\nA: \x01\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
    ['GET / HTTP/3.0\r\nHost: a\r\n\r\n', 505, 'HTTP_VERSION_NOT_SUPPORTED'],
    ['GET / HTTP/1.1 \r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
    ['GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
    ['G@T / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
    ['GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
    ['GET / HTTP/1.1\r\n\r\n', 400, 'HTTP_BAD_HOST'],
    ['GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_HOST'],
    ['CONNECT a:1 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n', 405, 'HTTP_CONNECT_REFUSED'],
    ['CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n', 405, 'HTTP_CONNECT_REFUSED'],
  ];
  for (const [text, status, code] of cases) {
    const h = parse(text);
    assert.equal(h.status, status, JSON.stringify(text));
    assert.equal(h.code, code, JSON.stringify(text));
  }
});

test('Content-Length values', () => {
  const cl = (s: string) => parseContentLength(Buffer.from(s), 0, s.length);
  assert.equal(cl('0'), 0);
  assert.equal(cl('007'), 7);
  assert.equal(cl('123456789012345'), 123456789012345);
  assert.equal(cl('1234567890123456'), -1);
  assert.equal(cl('5,5'), 5);
  assert.equal(cl('5 , 5'), 5);
  for (const bad of ['', ' ', '-1', '+1', '1.0', '1 2', '5,', ',5', '5,6', '0x5', '1e3'])
    assert.equal(cl(bad), -1, bad);
});

test('field names are classified in any casing; lookalikes are not', () => {
  const c = (s: string) => classify(Buffer.from(s), 0, s.length);
  fc.assert(
    fc.property(
      fc.constantFrom(
        'x-forwarded-for',
        'forwarded',
        'x-real-ip',
        'content-length',
        'transfer-encoding',
        'true-client-ip',
      ),
      fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
      (name, ups) => {
        const mixed = [...name].map((ch, i) => (ups[i] ? ch.toUpperCase() : ch)).join('');
        return c(mixed) === c(name) && c(name) !== H_OTHER;
      },
    ),
  );
  assert.equal(c('X-Forwarded-For'), H_XFF);
  assert.equal(c('FORWARDED'), H_FORWARDED);
  assert.equal(c('X-Real-Ip'), H_X_REAL_IP);
  assert.equal(c('CF-Connecting-IP'), H_CLIENT_IP);
  assert.equal(c('X-Realip-Whatever'), H_REALIP);
  // CGI stacks read X_Forwarded_For as X-Forwarded-For: so do we (and remove it).
  assert.equal(c('X_Forwarded_For'), H_XFF);
  assert.equal(c('x_realip_a'), H_REALIP);
  assert.equal(c('X-Realip-A'), H_REALIP, 'a 10-byte name still reaches the prefix check');
  assert.equal(c('Content-Length'), H_CONTENT_LENGTH);
  assert.equal(c('Transfer-Encoding'), H_TRANSFER_ENCODING);
  for (const other of [
    'X-Forwarded-Fo',
    'X-Forwarded-For2',
    'X~Forwarded~For',
    'Forwarde',
    'X-Real^IP',
    'Content-Lengths',
  ])
    assert.equal(c(other), H_OTHER, other);
});

/** Feeds `data` to a scanner in pieces cut at `cuts`; returns [stop offset, state]. */
function scanInPieces(data: Buffer, cuts: number[]): [number, number] {
  const s = new ChunkedScanner();
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const p of [...points, data.length]) {
    if (p < prev) continue;
    const piece = data.subarray(prev, p);
    const stop = s.scan(piece, 0, piece.length);
    if (s.state === CHUNKED_TRAILER || s.state === CHUNKED_ERROR) return [prev + stop, s.state];
    prev = p;
  }
  return [data.length, s.state];
}

test('chunked scanner: the body end is found exactly, however the bytes are split', () => {
  const chunk = fc.record({
    size: fc.integer({ min: 1, max: 300 }),
    ext: fc.constantFrom('', ';a=b', ' ;name', ';q="x y"', '\t;x'),
    upper: fc.boolean(),
  });
  fc.assert(
    fc.property(fc.array(chunk, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (chunks, cuts) => {
      let text = '';
      for (const c of chunks) {
        const hex = c.size.toString(16);
        text += `${c.upper ? hex.toUpperCase() : hex}${c.ext}\r\n${'d'.repeat(c.size)}\r\n`;
      }
      text += '0\r\n';
      const data = Buffer.from(`${text}TRAILER-AND-NEXT`, 'latin1');
      const [stop, state] = scanInPieces(data, cuts);
      return state === CHUNKED_TRAILER && stop === text.length;
    }),
  );
});

test('chunked scanner: malformed size lines are errors', () => {
  for (const bad of [
    'g\r\n',
    ' 5\r\n',
    '5 \r\n',
    '5\n',
    '5\rx',
    '-1\r\n',
    '5;\x00\r\n',
    '5\r\nhelloX',
    `${'1'.repeat(17)}\r\n`,
  ]) {
    const [, state] = scanInPieces(Buffer.from(bad, 'latin1'), []);
    assert.equal(state, CHUNKED_ERROR, JSON.stringify(bad));
  }
});

const RESPONSES: [string, number][] = [
  ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 0],
  ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX: y\r\n\r\n', 0],
  ['HTTP/1.1 204 No Content\r\nContent-Length: 99\r\n\r\n', 0],
  ['HTTP/1.1 304 Not Modified\r\n\r\n', 0],
  ['HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', 0],
  ['HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', 0],
  ['HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n', K_HEAD],
];

test('response tracker: every response completes and none is left over, however the bytes are split', () => {
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom(...RESPONSES), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (list, cuts) => {
        const t = new ResponseTracker();
        for (const [, kind] of list) t.push(kind);
        const data = Buffer.from(list.map(([r]) => r).join(''), 'latin1');
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        let prev = 0;
        let completes = 0;
        for (const p of [...points, data.length]) {
          if (p <= prev) continue;
          const ev = t.feed(data.subarray(prev, p));
          if (ev & E_LOST) return false;
          if (ev & E_COMPLETE) completes++;
          prev = p;
        }
        return t.outstanding === 0 && completes >= 1 && !t.lost;
      },
    ),
  );
});

test('response tracker: upgrade accepted, refused, and unframeable responses', () => {
  let t = new ResponseTracker();
  t.push(K_UPGRADE);
  assert.equal(
    t.feed(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nraw')) & E_TUNNEL,
    E_TUNNEL,
  );
  assert.equal(t.tunnel, true);
  t = new ResponseTracker();
  t.push(K_UPGRADE);
  const ev = t.feed(Buffer.from('HTTP/1.1 400 Bad\r\nContent-Length: 1\r\n\r\nx'));
  assert.equal(ev & E_REFUSED, E_REFUSED);
  assert.equal(ev & E_COMPLETE, E_COMPLETE);
  t = new ResponseTracker();
  t.push(0);
  assert.equal(t.feed(Buffer.from('HTTP/1.1 101 Switching\r\n\r\n')), E_LOST, '101 without Upgrade');
  t = new ResponseTracker();
  assert.equal(t.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), E_LOST, 'no request outstanding');
  t = new ResponseTracker();
  t.push(0);
  assert.equal(t.feed(Buffer.from('garbage\r\n\r\n')), E_LOST);
  t = new ResponseTracker();
  t.push(0);
  assert.equal(
    t.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n')),
    E_LOST,
  );
  // Read until close: complete at EOF.
  t = new ResponseTracker();
  t.push(0);
  assert.equal(t.feed(Buffer.from('HTTP/1.0 200 OK\r\n\r\nbody...')), 0);
  assert.equal(t.closing, true);
  t.eof();
  assert.equal(t.outstanding, 0);
});

test('head rewrite: replace removes every forwarding field, append merges in order', () => {
  const client = { address: '198.51.100.7', port: 1, family: 4 as const };
  const text =
    'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nA: b\r\nx-forwarded-for: 2.2.2.2\r\nX-Forwarded-Proto: https\r\n\r\n';
  const buf = Buffer.from(text);
  const h = new RequestHead();
  assert.ok(h.parse(buf, 0, buf.length));
  const replaced = new HeadRewriter('replace', client, 8080, '').rewrite(buf, buf.length, h).toString();
  assert.equal(
    replaced,
    'GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nX-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.7\r\n' +
      'Forwarded: for=198.51.100.7\r\nX-Forwarded-Port: 8080\r\nX-Forwarded-Proto: http\r\n\r\n',
  );
  const appended = new HeadRewriter('append', client, 8080, 'X-Realip-Authority: a.example\r\n')
    .rewrite(buf, buf.length, h)
    .toString();
  assert.equal(
    appended,
    'GET / HTTP/1.1\r\nHost: a\r\nA: b\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 1.1.1.1, 2.2.2.2, 198.51.100.7\r\n' +
      'X-Real-IP: 198.51.100.7\r\nForwarded: for=198.51.100.7\r\nX-Forwarded-Port: 8080\r\nX-Realip-Authority: a.example\r\n\r\n',
  );
});

test('TLV headers: safe values only; nothing can inject a line', () => {
  const header = (tlvs: { type: number; value: Buffer }[]) => ({
    version: 2 as const,
    command: 'PROXY' as const,
    family: 'TCP4' as const,
    source: { address: '1.2.3.4', port: 1 },
    destination: { address: '5.6.7.8', port: 2 },
    tlvs,
  });
  const all = ['aws-vpce-id', 'azure-link-id', 'gcp-psc-id', 'authority', 'unique-id'];
  const ok = tlvHeaderLines(
    all,
    header([
      { type: 0xea, value: Buffer.from('\x01vpce-abc', 'latin1') },
      { type: 0xee, value: Buffer.from([1, 0x2a, 0, 0, 0]) },
      { type: 0xe0, value: Buffer.from([0, 0, 0, 0, 0, 0, 1, 0]) },
      { type: 0x02, value: Buffer.from('api.example.com') },
      { type: 0x05, value: Buffer.from('req-1') },
    ]),
  );
  assert.equal(
    ok.lines,
    'X-Realip-Aws-Vpce-Id: vpce-abc\r\nX-Realip-Azure-Link-Id: 42\r\nX-Realip-Gcp-Psc-Id: 256\r\n' +
      'X-Realip-Authority: api.example.com\r\nX-Realip-Unique-Id: req-1\r\n',
  );
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      const r = tlvHeaderLines(
        ['authority', 'aws-vpce-id'],
        header([
          { type: 0x02, value: Buffer.from(bytes) },
          { type: 0xea, value: Buffer.concat([Buffer.from([1]), Buffer.from(bytes)]) },
        ]),
      );
      // Every emitted line is "Name: safe-value\r\n" and nothing else.
      return r.lines
        .split('\r\n')
        .every((l) => l === '' || /^X-Realip-[A-Za-z-]+: [A-Za-z0-9._~:/+=@-]+$/.test(l));
    }),
  );
  assert.deepEqual(tlvHeaderLines([], header([{ type: 0x02, value: Buffer.from('a') }])).lines, '');
});
