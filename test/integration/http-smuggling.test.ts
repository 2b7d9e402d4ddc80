// Smuggling attempts and limits: each must be refused with the documented status and code, and
// nothing after the refused head may reach the app.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { count, RawClient, rawHop, send, sleep, startHop, startRawApp, v1, v2 } from './http-helpers.ts';

const REFUSED: [string, string, number, string][] = [
  [
    'CL + TE',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
    'HTTP_CONTENT_LENGTH_AND_CHUNKED',
  ],
  [
    'TE + CL',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n',
    400,
    'HTTP_CONTENT_LENGTH_AND_CHUNKED',
  ],
  [
    'two different CLs',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n',
    400,
    'HTTP_BAD_CONTENT_LENGTH',
  ],
  [
    'CL list with different values',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\n',
    400,
    'HTTP_BAD_CONTENT_LENGTH',
  ],
  [
    'CL with sign',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n',
    400,
    'HTTP_BAD_CONTENT_LENGTH',
  ],
  ['CL hex', 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\n', 400, 'HTTP_BAD_CONTENT_LENGTH'],
  [
    'CL huge',
    'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n',
    400,
    'HTTP_BAD_CONTENT_LENGTH',
  ],
  [
    'TE not chunked last',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
    400,
    'HTTP_BAD_TRANSFER_ENCODING',
  ],
  [
    'TE identity',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n',
    400,
    'HTTP_BAD_TRANSFER_ENCODING',
  ],
  [
    'TE chunked twice',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
    'HTTP_BAD_TRANSFER_ENCODING',
  ],
  [
    'TE with a trick value',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n',
    400,
    'HTTP_BAD_TRANSFER_ENCODING',
  ],
  [
    'TE gzip, chunked',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
    501,
    'HTTP_UNSUPPORTED_TRANSFER_ENCODING',
  ],
  [
    'TE in HTTP/1.0',
    'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n',
    400,
    'HTTP_BAD_TRANSFER_ENCODING',
  ],
  [
    'space before colon',
    'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n',
    400,
    'HTTP_BAD_HEADER',
  ],
  [
    'obs-fold',
    'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n X-Forwarded-For: 6.6.6.6\r\n\r\n',
    400,
    'HTTP_OBS_FOLD',
  ],
  ['obs-fold with tab', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n\tmore\r\n\r\n', 400, 'HTTP_OBS_FOLD'],
  ['bare LF inside', 'GET / HTTP/1.1\r\nHost: a\nX-Forwarded-For: 6.6.6.6\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
  ['bare LF only', 'GET / HTTP/1.1\nHost: a\n\n', 400, 'HTTP_BAD_HEADER'],
  ['lone CR', 'GET / HTTP/1.1\r\nHost: a\rX-Forwarded-For: 6.6.6.6\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
  ['NUL in value', 'GET / HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n', 400, 'HTTP_BAD_HEADER'],
  [
    'Content_Length (CGI stacks read it as Content-Length)',
    'POST / HTTP/1.1\r\nHost: a\r\nContent_Length: 5\r\n\r\n',
    400,
    'HTTP_BAD_HEADER',
  ],
  [
    'Transfer_Encoding',
    'POST / HTTP/1.1\r\nHost: a\r\nTransfer_encoding: chunked\r\n\r\n',
    400,
    'HTTP_BAD_HEADER',
  ],
  ['no Host', 'GET / HTTP/1.1\r\nX-A: 1\r\n\r\n', 400, 'HTTP_BAD_HOST'],
  ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n', 400, 'HTTP_BAD_HOST'],
  [
    'second PROXY v1 header',
    'PROXY TCP4 6.6.6.6 10.0.0.1 1 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
    400,
    'HTTP_BAD_REQUEST_LINE',
  ],
  // At the very start the preface goes to the HTTP/2 proxy (http-go-peers.test.ts); after anything
  // else, even an empty line, it is an HTTP/2.0 request line.
  [
    'HTTP/2 preface after an empty line',
    '\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
    505,
    'HTTP_VERSION_NOT_SUPPORTED',
  ],
  ['lowercase version', 'GET / http/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
  ['two spaces', 'GET  / HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
  ['space in target', 'GET /a b HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'HTTP_BAD_REQUEST_LINE'],
  ['binary garbage', '\x00\x01\x02\x03', 400, 'HTTP_BAD_REQUEST_LINE'],
  [
    'CONNECT with body',
    'CONNECT a:443 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc',
    405,
    'HTTP_CONNECT_REFUSED',
  ],
  [
    'CONNECT then a smuggled request with a forged X-Forwarded-For',
    'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
    405,
    'HTTP_CONNECT_REFUSED',
  ],
];

test('smuggling attempts and malformed heads are refused; nothing reaches the app', async (t) => {
  const { app, hop } = await rawHop(t);
  for (const [name, head, status, code] of REFUSED) {
    const c = send(hop.port, head);
    const text = await c.waitClosed();
    assert.match(text, new RegExp(`^HTTP/1.1 ${status} `), name);
    assert.ok(text.includes(`X-Realip-Error: ${code}\r\n`), `${name}: ${text}`);
    assert.equal(hop.metrics.httpErrors.get({ status, code }) > 0, true, name);
  }
  assert.equal(app.all(), '', 'no refused request reached the app');
});

test('a second PROXY v2 header after the first is refused', async (t) => {
  const { app, hop } = await rawHop(t);
  const c = send(
    hop.port,
    'GET / HTTP/1.1\r\nHost: a\r\n\r\n',
    Buffer.concat([v2('198.51.100.7'), v2('6.6.6.6')]),
  );
  const text = await c.waitClosed();
  assert.match(text, /^HTTP\/1.1 400 /);
  assert.equal(app.all(), '');
});

test('chunk-size tricks are refused after the head: 400 when the app has not answered', async (t) => {
  const tricks = [
    '5 \r\nhello\r\n0\r\n\r\n', // whitespace without extension
    '-5\r\nhello\r\n0\r\n\r\n',
    '0x5\r\nhello\r\n0\r\n\r\n',
    '5\nhello\r\n0\r\n\r\n', // bare LF
    '5\r\nhello\n0\r\n\r\n', // data not followed by CRLF
    '5\r\nhelloXX0\r\n\r\n',
    '11111111111111111\r\n', // 17 digits
    'fffffffffffffff\r\n', // > 2^53
    '5;a=\x00\r\nhello\r\n0\r\n\r\n', // control byte in extension
    '0\r\nX-A: 1\nX: 2\r\n\r\n', // bare LF in trailer
  ];
  const { app, hop } = await rawHop(t);
  for (const body of tricks) {
    const c = send(
      hop.port,
      `POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n`,
    );
    const text = await c.waitClosed();
    assert.match(
      text,
      /^HTTP\/1.1 400 .*\r\nX-Realip-Error: HTTP_BAD_(CHUNK|TRAILER)\r\n/s,
      JSON.stringify(body),
    );
  }
  assert.equal(count(app.all(), '/smuggled'), 0);
});

test('431 for an oversized head, whether it arrives at once or byte by byte', async (t) => {
  const { app, hop } = await rawHop(t, undefined, { maxRequestHeadBytes: 2048 });
  const big = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(3000)}\r\n\r\n`;
  const c = send(hop.port, big);
  assert.match(await c.waitClosed(), /^HTTP\/1.1 431 /);
  const d = new RawClient(hop.port);
  d.write(v1('198.51.100.7'));
  for (let i = 0; i < big.length && !d.isClosed(); i += 100) {
    d.write(big.slice(i, i + 100));
    await sleep(1);
  }
  assert.match(await d.waitClosed(), /^HTTP\/1.1 431 /);
  // Just under the limit passes.
  const ok = `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(1900)}\r\n\r\n`;
  const e = send(hop.port, ok);
  await app.waitFor((s) => s.includes('X-Forwarded-For: 198.51.100.7'));
  e.destroy();
  assert.equal(app.all().length > 1900, true);
});

test('408 when a request head is not completed in time', async (t) => {
  const { hop } = await rawHop(t, undefined, { requestHeadTimeoutMs: 200 });
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n');
  const t0 = Date.now();
  assert.match(await c.waitClosed(), /^HTTP\/1.1 408 .*HTTP_HEAD_TIMEOUT/s);
  assert.ok(Date.now() - t0 >= 200);
});

test('502 when the app refuses, resets or closes before answering; the sidecar stays up', async (t) => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const refusedPort = (closed.address() as net.AddressInfo).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const refused = await startHop(refusedPort);
  const resetting = await startRawApp((s, all) => {
    if (all.includes('\r\n\r\n')) s.resetAndDestroy();
  });
  const reset = await startHop(resetting.port);
  const closing = await startRawApp((s, all) => {
    if (all.includes('\r\n\r\n')) s.end();
  });
  const close = await startHop(closing.port);
  t.after(async () => {
    await refused.close();
    await reset.close();
    await close.close();
    await resetting.close();
    await closing.close();
  });
  for (const [hop, code] of [
    [refused, 'HTTP_APP_REFUSED'],
    [reset, 'HTTP_APP_RESET'],
    [close, 'HTTP_APP_CLOSED'],
  ] as const) {
    for (let i = 0; i < 2; i++) {
      const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      const text = await c.waitClosed();
      assert.match(text, /^HTTP\/1.1 502 /, code);
      assert.ok(text.includes(code), `${code}: ${text}`);
    }
  }
});

test('504 when the app does not answer in time; a pipelined second request still gets its answer first', async (t) => {
  let n = 0;
  const { hop } = await rawHop(
    t,
    (s, all) => {
      // Answers the first request only.
      if (n === 0 && all.includes('\r\n\r\n')) {
        n++;
        s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }
    },
    { appTimeoutMs: 300 },
  );
  const t0 = Date.now();
  const c = send(hop.port, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
  const text = await c.waitClosed();
  assert.ok(Date.now() - t0 >= 300, 'not before the timeout');
  assert.match(text, /^HTTP\/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP\/1.1 504 .*HTTP_APP_TIMEOUT/s);
});

test('a pipelined malformed request is answered after the responses owed before it', async (t) => {
  const { hop } = await rawHop(t, (s, all) => {
    if (all.includes('\r\n\r\n') && !all.includes('answered')) {
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'), 100);
      all += 'answered';
    }
  });
  const c = send(hop.port, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n\r\n');
  const text = await c.waitClosed();
  assert.match(text, /^HTTP\/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP\/1.1 400 /);
});

test('a TLS ClientHello on an http listener is detected, logged and closed', async (t) => {
  const { app, hop } = await rawHop(t);
  const c = send(hop.port, Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc]));
  const text = await c.waitClosed();
  assert.equal(text, '');
  assert.equal(hop.metrics.httpErrors.get({ status: 0, code: 'HTTP_TLS_ON_HTTP_LISTENER' }), 1);
  assert.equal(app.all(), '');
});

test('idle timeout: closes a silent keep-alive connection, never a request waiting for a slow app', async (t) => {
  const { hop } = await rawHop(
    t,
    (s, all) => {
      if (all.endsWith('\r\n\r\n'))
        setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 600);
    },
    { idleTimeoutMs: 200, appTimeoutMs: 3000 },
  );
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  await c.waitFor((s) => s.endsWith('slow'));
  assert.ok(!c.isClosed(), 'the slow answer arrived on an open connection');
  const t0 = Date.now();
  await c.waitClosed(3000);
  assert.ok(Date.now() - t0 >= 150, 'closed by the idle timeout after the answer');
});

test('504 when connecting to the app times out (a listener whose accept queue is full)', async (t) => {
  // A listener that never accepts, its queue filled: further SYNs are dropped, connect() hangs.
  const { spawn } = await import('node:child_process');
  const py = spawn(
    'python3',
    [
      '-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => py.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    py.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    py.once('error', () => reject(new Error('python3 is required for this test (apt-get install python3)')));
  });
  const fillers = [0, 1, 2].map(() => net.connect(port, '127.0.0.1').on('error', () => {}));
  t.after(() => {
    for (const f of fillers) f.destroy();
  });
  await sleep(200);
  const hop = await startHop(port, { connectTimeoutMs: 300 });
  t.after(() => hop.close());
  const t0 = Date.now();
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const text = await c.waitClosed();
  assert.match(text, /^HTTP\/1.1 504 .*HTTP_APP_CONNECT_TIMEOUT/s);
  assert.ok(Date.now() - t0 >= 300);
});
