// The HTTP hop in front of real Go servers (test/apps/go, built by test/setup.d/25-go-test-apps.sh):
// net/http with a catch-all "/" handler, and the same behind golang.org/x/net/http2/h2c, the way
// gRPC and Connect servers run in cleartext. Regression tests for issue 11's findings 2 and 3:
// each case first shows, straight to the app, that the app would do the dangerous thing (answer a
// CONNECT 200, switch to HTTP/2 on "Upgrade: h2c"), then that through the hop it cannot: every
// request the app logs carries our X-Forwarded-For, and none arrives over a tunnel.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type GoApp, startGoApp } from '../support/go-app.ts';
import { type HopUnderTest, RawClient, send, sleep, startHop } from './http-helpers.ts';

const CLIENT = '198.51.100.7';

/** An HTTP/1.1 request asking to upgrade to h2c, with a forged X-Forwarded-For (RFC 7540 3.2). */
const H2C_UPGRADE =
  'GET /upgrade HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
  'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';

/** The HTTP/2 client preface, an empty SETTINGS, and a HEADERS frame on stream 3 with a forged x-forwarded-for. */
function h2ForgedStream(): Buffer {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  // HPACK: :method GET, :scheme http, :path / (static table), :authority "a" (literal, indexed
  // name 1), x-forwarded-for "6.6.6.6" (literal, new name, no Huffman).
  const name = Buffer.from('x-forwarded-for', 'latin1');
  const value = Buffer.from('6.6.6.6', 'latin1');
  const block = Buffer.concat([
    Buffer.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x61, 0x00, name.length]),
    name,
    Buffer.from([value.length]),
    value,
  ]);
  const head = Buffer.from([0, 0, block.length, 0x01, 0x05, 0, 0, 0, 3]);
  return Buffer.concat([preface, settings, head, block]);
}

let plain: GoApp;
let h2c: GoApp;
let hopPlain: HopUnderTest;
let hopH2c: HopUnderTest;

before(async () => {
  plain = await startGoApp('plain');
  h2c = await startGoApp('h2c');
  hopPlain = await startHop(plain.port);
  hopH2c = await startHop(h2c.port);
});

after(async () => {
  await hopPlain?.close();
  await hopH2c?.close();
  plain?.stop();
  h2c?.stop();
});

test('Go net/http catch-all: answers CONNECT 200 directly; through the hop CONNECT is 405 and nothing reaches it', async () => {
  const direct = new RawClient(plain.port);
  direct.write('CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.match(
    await direct.waitFor((s) => s.includes('\r\n\r\n')),
    /^HTTP\/1.1 200 OK/,
    'the app tunnels CONNECT',
  );
  direct.destroy();
  const before = plain.seen().length;

  const c = send(
    hopPlain.port,
    'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  assert.match(await c.waitClosed(), /^HTTP\/1.1 405 Method Not Allowed\r\n[\s\S]*HTTP_CONNECT_REFUSED/);
  await sleep(100);
  assert.deepEqual(plain.seen().slice(before), [], 'the app served nothing');

  // The same connection shape with an ordinary request first: that one is rewritten, CONNECT is not passed.
  const d = send(hopPlain.port, 'GET /first HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n');
  await d.waitFor((s) => s.includes('"path":"/first"'));
  d.write(
    'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  assert.match(await d.waitClosed(), /HTTP\/1.1 405 /);
  await sleep(100);
  const served = plain.seen().slice(before);
  assert.deepEqual(
    served.map((s) => [s.method, s.path, s.xff]),
    [['GET', '/first', CLIENT]],
  );
});

test('Go h2c server: switches on "Upgrade: h2c" directly; through the hop the upgrade is stripped and no HTTP/2 stream reaches it', async () => {
  const direct = new RawClient(h2c.port);
  direct.write(H2C_UPGRADE);
  assert.match(
    await direct.waitFor((s) => s.includes('\r\n\r\n')),
    /^HTTP\/1.1 101 Switching Protocols/,
    'the app upgrades',
  );
  direct.destroy();
  await sleep(100);
  const before = h2c.seen().length;

  const c = send(hopH2c.port, H2C_UPGRADE);
  const first = await c.waitFor((s) => s.includes('"path":"/upgrade"'));
  assert.match(first, /^HTTP\/1.1 200 OK/, 'an ordinary response, not 101');
  // What an attacker sends next, expecting an HTTP/2 connection: to the hop it is an HTTP/2.0
  // request line, refused (505) without reaching the app.
  c.write(h2ForgedStream());
  assert.match(await c.waitClosed(), /HTTP_VERSION_NOT_SUPPORTED/);
  await sleep(100);
  const served = h2c.seen().slice(before);
  assert.deepEqual(
    served.map((s) => [s.proto, s.path, s.xff, s.upgrade, s.http2Settings]),
    [['HTTP/1.1', '/upgrade', CLIENT, '', '']],
    'one HTTP/1.1 request, with our X-Forwarded-For; no HTTP/2 stream',
  );
});

test('Go h2c server: prior-knowledge HTTP/2 through an http listener reaches it as HTTP/2, with our x-forwarded-for in place of the forged one', async () => {
  // Straight to the app, a prior-knowledge client is served: labelling the namespace must not
  // break it (before, the hop answered 505), nor let its forged x-forwarded-for through.
  const before = h2c.seen().length;
  const c = send(hopH2c.port, h2ForgedStream());
  const t0 = Date.now();
  while (h2c.seen().length === before && Date.now() - t0 < 5000) await sleep(20);
  c.destroy();
  assert.deepEqual(
    h2c
      .seen()
      .slice(before)
      .map((s) => [s.proto, s.path, s.xff]),
    [['HTTP/2.0', '/', CLIENT]],
    'one HTTP/2 stream, with our X-Forwarded-For alone',
  );
});

test('Go h2c server: the HTTP/2 preface after an HTTP/1.1 request on the same connection is refused (505)', async () => {
  const before = h2c.seen().length;
  const c = send(
    hopH2c.port,
    Buffer.concat([Buffer.from('GET /first HTTP/1.1\r\nHost: a\r\n\r\n'), h2ForgedStream()]),
  );
  assert.match(await c.waitClosed(), /^HTTP\/1.1 200 [\s\S]*HTTP\/1.1 505 [\s\S]*HTTP_VERSION_NOT_SUPPORTED/);
  await sleep(100);
  assert.deepEqual(
    h2c
      .seen()
      .slice(before)
      .map((s) => [s.proto, s.path, s.xff]),
    [['HTTP/1.1', '/first', CLIENT]],
  );
});

test('a WebSocket upgrade still passes to the Go server (it answers it as an ordinary request: no websocket handler)', async () => {
  const before = plain.seen().length;
  const c = send(
    hopPlain.port,
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  await c.waitFor((s) => s.includes('"path":"/ws"'));
  c.destroy();
  assert.deepEqual(
    plain
      .seen()
      .slice(before)
      .map((s) => [s.path, s.xff, s.upgrade]),
    [['/ws', CLIENT, 'websocket']],
  );
});
