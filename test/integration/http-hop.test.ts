// The HTTP hop over real sockets with exact bytes: keep-alive, pipelining, HTTP/1.0, bodies,
// 100-continue, upgrades, CONNECT, and every request of a connection rewritten.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  count,
  RawClient,
  type RawApp,
  rawHop,
  send,
  sleep,
  startEchoApp,
  startHop,
  startRawApp,
  v1,
  v2,
  writeSlowly,
} from './http-helpers.ts';

const FWD4 =
  'X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.7\r\nForwarded: for=198.51.100.7\r\n' +
  'X-Forwarded-Port: 80\r\nX-Forwarded-Proto: http\r\n';

/** A raw app answering each complete request head with a fixed small response (no body parsing). */
function okOnHeads(body = 'ok'): (s: import('node:net').Socket, all: string, chunk: Buffer) => void {
  let seen = 0;
  return (s, all) => {
    const heads = count(all, '\r\n\r\n');
    while (seen < heads) {
      seen++;
      s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    }
  };
}

let echo: { port: number; close(): Promise<void> };
before(async () => {
  echo = await startEchoApp();
});
after(async () => {
  await echo.close();
});

test('a request head is rewritten exactly: forwarding fields added before the empty line', async (t) => {
  const { app, hop } = await rawHop(t, okOnHeads());
  const c = send(hop.port, 'GET /x?y=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n\r\n');
  await app.waitFor((s) => s.endsWith('\r\n\r\n'));
  assert.equal(app.all(), `GET /x?y=1 HTTP/1.1\r\nHost: a.example\r\nAccept: */*\r\n${FWD4}\r\n`);
  assert.equal(await c.waitFor((s) => s.endsWith('ok')), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  c.destroy();
});

test('forged forwarding fields in any casing and any number are removed (replace policy)', async (t) => {
  const { app, hop } = await rawHop(t, okOnHeads());
  const forged = [
    'X-Forwarded-For: 6.6.6.6',
    'x-forwarded-for: 6.6.6.7',
    'X-FORWARDED-FOR:6.6.6.8',
    'x-FoRwArDeD-fOr: 6.6.6.9, 1.1.1.1',
    'X-Real-IP: 6.6.6.6',
    'x-real-ip: 6.6.6.6',
    'Forwarded: for=6.6.6.6',
    'FORWARDED: for="[2001:db8::666]"',
    'X-Forwarded-Port: 1',
    'X-Forwarded-Proto: https',
    'X-Forwarded-Host: evil.example',
    'X-Client-IP: 6.6.6.6',
    'True-Client-IP: 6.6.6.6',
    'X-Cluster-Client-IP: 6.6.6.6',
    'CF-Connecting-IP: 6.6.6.6',
    'X-Realip-Aws-Vpce-Id: vpce-forged',
    'X_Forwarded_For: 6.6.6.6',
    'x_real_ip: 6.6.6.6',
    'X-Forwarded_Proto: https',
    'x-realip-anything: 1',
  ];
  const c = send(
    hop.port,
    `GET / HTTP/1.1\r\nHost: a\r\n${forged.join('\r\n')}\r\nZ: 1\r\n\r\n`,
    v2('198.51.100.7'),
  );
  await app.waitFor((s) => s.endsWith('\r\n\r\n'));
  assert.equal(app.all(), `GET / HTTP/1.1\r\nHost: a\r\nZ: 1\r\n${FWD4}\r\n`);
  assert.ok(!app.all().includes('6.6.6'));
  c.destroy();
});

test('append policy keeps the client chain and appends ours; proto from the L7 hop is kept', async (t) => {
  const { app, hop } = await rawHop(t, okOnHeads(), { forwarded: 'append' });
  const c = send(
    hop.port,
    'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.1\r\nx-forwarded-for: 203.0.113.2\r\n' +
      'X-Real-IP: 6.6.6.6\r\nForwarded: for=203.0.113.1\r\nX-Forwarded-Proto: https\r\n\r\n',
    v1('2001:db8::7'),
  );
  await app.waitFor((s) => s.endsWith('\r\n\r\n'));
  assert.equal(
    app.all(),
    'GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\n' +
      'X-Forwarded-For: 203.0.113.1, 203.0.113.2, 2001:db8::7\r\nX-Real-IP: 2001:db8::7\r\n' +
      'Forwarded: for=203.0.113.1, for="[2001:db8::7]"\r\nX-Forwarded-Port: 80\r\n\r\n',
  );
  c.destroy();
});

test('keep-alive and pipelining: every request of the connection is rewritten, responses in order', async (t) => {
  const hop = await startHop(echo.port);
  t.after(() => hop.close());
  const reqs = Array.from(
    { length: 20 },
    (_, i) => `GET /${i} HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.${i}\r\n\r\n`,
  );
  const c = send(hop.port, reqs.join(''));
  const text = await c.waitFor((s) => count(s, '"url"') === 20);
  const bodies = text.split(/HTTP\/1\.1 200 OK[\s\S]*?\r\n\r\n/).filter(Boolean);
  assert.equal(bodies.length, 20);
  bodies.forEach((b, i) => {
    const j = JSON.parse(b) as { url: string; headers: string[] };
    assert.equal(j.url, `/${i}`);
    assert.deepEqual(j.headers.slice(2, 4), ['X-Forwarded-For', '198.51.100.7']);
    assert.ok(!b.includes('6.6.6'));
  });
  c.destroy();
});

test('HTTP/1.0: keep-alive when asked, close otherwise; Host optional', async (t) => {
  const hop = await startHop(echo.port);
  t.after(() => hop.close());
  const c = send(hop.port, 'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', v1('198.51.100.8'));
  await c.waitFor((s) => s.includes('/a'));
  assert.ok(!c.isClosed());
  c.write('GET /b HTTP/1.0\r\n\r\n');
  const text = await c.waitClosed();
  assert.match(text, /"url":"\/b".*198\.51\.100\.8/);
});

test('bodies: Content-Length and chunked are forwarded byte for byte; trailers filtered', async (t) => {
  const { app, hop } = await rawHop(t, okOnHeads());
  // The body contains a fake request with a forged header: it must pass as body, untouched.
  const body = 'GET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
  const chunked = `${body.length.toString(16)};ext=1\r\n${body}\r\n3\r\nabc\r\n0\r\nX-Forwarded-For: 6.6.6.6\r\nT: 1\r\n\r\n`;
  const c = send(
    hop.port,
    `POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
      `POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}` +
      'GET /after HTTP/1.1\r\nHost: a\r\n\r\n',
  );
  await app.waitFor((s) => s.includes('GET /after'));
  await app.waitFor((s) => s.endsWith('\r\n\r\n') && s.includes('/after'));
  const expected =
    `POST /cl HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n${FWD4}\r\n${body}` +
    `POST /te HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${FWD4}\r\n` +
    `${body.length.toString(16)};ext=1\r\n${body}\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n` +
    `GET /after HTTP/1.1\r\nHost: a\r\n${FWD4}\r\n`;
  assert.equal(app.all(), expected);
  c.destroy();
});

test('chunked responses and HEAD responses pass through byte for byte and keep the connection framed', async (t) => {
  const responses = [
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n',
    'HTTP/1.1 204 No Content\r\n\r\n',
    'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n',
  ];
  let n = 0;
  const { app, hop } = await rawHop(t, (s, all) => {
    while (n < count(all, '\r\n\r\n')) s.write(responses[n++]!);
  });
  const c = new RawClient(hop.port);
  c.write(v1('198.51.100.7'));
  await writeSlowly(c, [
    'GET /1 HTTP/1.1\r\nHost: a\r\n\r\n',
    'HEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /3 HTTP/1.1\r\nHost: a\r\n\r\n',
    'GET /4 HTTP/1.1\r\nHost: a\r\n\r\n',
  ]);
  const text = await c.waitFor((s) => s.length >= responses.join('').length);
  assert.equal(text, responses.join(''));
  assert.equal(count(app.all(), 'X-Forwarded-For: 198.51.100.7'), 4);
  c.destroy();
});

test('Expect: 100-continue: the interim response passes, the body follows, the final response arrives', async (t) => {
  let state = 0;
  const { hop } = await rawHop(t, (s, all) => {
    if (state === 0 && all.includes('\r\n\r\n')) {
      state = 1;
      s.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    if (state === 1 && all.endsWith('hello')) {
      state = 2;
      s.write('HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
    }
  });
  const c = send(hop.port, 'PUT /u HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n');
  await c.waitFor((s) => s.includes('100 Continue'));
  c.write('hello');
  await c.waitFor((s) => s.includes('201 Created'));
  assert.equal(c.text(), 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n');
  c.destroy();
});

async function upgradeApp(accept: boolean): Promise<RawApp> {
  let upgraded = false;
  return startRawApp((s, all, chunk) => {
    if (upgraded) {
      s.write(Buffer.concat([Buffer.from('echo:'), chunk]));
      return;
    }
    if (!all.endsWith('\r\n\r\n')) return;
    const last = all.slice(all.lastIndexOf('GET '));
    if (last.includes('Upgrade: websocket') && accept) {
      upgraded = true;
      s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    } else if (last.includes('Upgrade: websocket')) {
      s.write('HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n\r\nnope');
    } else s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
}

test('Upgrade accepted (101): the connection becomes a raw tunnel both ways', async (t) => {
  const { app, hop } = await rawHop(t, await upgradeApp(true));
  const c = send(
    hop.port,
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  );
  await c.waitFor((s) => s.includes('101'));
  // Bytes that look like an HTTP request must now pass untouched (no rewrite in a tunnel).
  const raw = 'GET /not-http HTTP/1.1\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n\x00\xff';
  c.write(Buffer.from(raw, 'latin1'));
  await c.waitFor((s) => s.includes(`echo:${raw}`));
  assert.ok(app.all().endsWith(raw));
  assert.equal(count(app.all(), 'X-Forwarded-For: 198.51.100.7'), 1);
  c.destroy();
});

test('Upgrade refused: the connection stays HTTP and later requests are still rewritten', async (t) => {
  const { app, hop } = await rawHop(t, await upgradeApp(false));
  // Pipelined right behind the upgrade: must wait for the refusal, then be parsed as HTTP.
  const c = send(
    hop.port,
    'GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
      'GET /next HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  await c.waitFor((s) => s.includes('nope') && s.endsWith('ok'));
  assert.equal(count(app.all(), 'X-Forwarded-For: 198.51.100.7'), 2);
  assert.ok(!app.all().includes('6.6.6.6'));
  c.destroy();
});

test('CONNECT is refused with 405 (no blind tunnel), also after a request on the same connection', async (t) => {
  // A catch-all app that would answer 200 to CONNECT (Go's ServeMux "/" does): it must never see it.
  let answered = 0;
  const { app, hop } = await rawHop(t, (s, all) => {
    for (; answered < count(all, '\r\n\r\n'); answered++)
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const c = send(hop.port, 'GET /first HTTP/1.1\r\nHost: a\r\n\r\n');
  await c.waitFor((s) => s.endsWith('ok'));
  c.write(
    'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  const text = await c.waitClosed();
  assert.match(text, /HTTP\/1.1 405 Method Not Allowed\r\n[\s\S]*X-Realip-Error: HTTP_CONNECT_REFUSED/);
  assert.ok(!app.all().includes('CONNECT'), 'the app never sees the CONNECT');
  assert.ok(!app.all().includes('smuggled') && !app.all().includes('6.6.6.6'));
  assert.equal(count(app.all(), 'X-Forwarded-For: 198.51.100.7'), 1);
});

test('IPv6 client: Forwarded quotes and brackets the address', async (t) => {
  const hop = await startHop(echo.port);
  t.after(() => hop.close());
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', v2('2001:db8::7', 5555, 8443));
  const text = await c.waitFor((s) => s.includes('}'));
  const j = JSON.parse(text.slice(text.indexOf('{'))) as { headers: string[] };
  assert.deepEqual(j.headers.slice(2), [
    'X-Forwarded-For',
    '2001:db8::7',
    'X-Real-IP',
    '2001:db8::7',
    'Forwarded',
    'for="[2001:db8::7]"',
    'X-Forwarded-Port',
    '8443',
    'X-Forwarded-Proto',
    'http',
  ]);
  c.destroy();
});

test('TLV headers: exposed under documented names when enabled, unsafe values omitted', async (t) => {
  const { app, hop } = await rawHop(t, okOnHeads(), {
    tlvHeaders: ['aws-vpce-id', 'authority', 'unique-id'],
  });
  const tlvs = [
    { type: 0xea, value: Buffer.concat([Buffer.from([1]), Buffer.from('vpce-0123abcd')]) },
    { type: 0x02, value: Buffer.from('evil\r\nX-Forwarded-For: 6.6.6.6') },
    { type: 0x05, value: Buffer.from([0, 1, 2, 255]) },
  ];
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', v2('198.51.100.7', 1, 80, tlvs));
  await app.waitFor((s) => s.endsWith('\r\n\r\n'));
  assert.equal(
    app.all(),
    `GET / HTTP/1.1\r\nHost: a\r\n${FWD4}X-Realip-Aws-Vpce-Id: vpce-0123abcd\r\nX-Realip-Unique-Id: 000102ff\r\n\r\n`,
  );
  assert.equal(
    hop.metrics.registry.render().match(/tlv_headers_omitted_total\{tlv="authority"\} 1/)?.length,
    1,
  );
  c.destroy();
});

test('split writes at every offset give the same bytes to the app', async (t) => {
  const { app, hop } = await rawHop(t);
  const req =
    'POST /p HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '3;a=b\r\nabc\r\n0\r\nT: x\r\n\r\nGET /g HTTP/1.1\r\nHost: a\r\ncontent-length: 2\r\n\r\nhi';
  const expected =
    `POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n${FWD4}\r\n3;a=b\r\nabc\r\n0\r\nT: x\r\n\r\n` +
    `GET /g HTTP/1.1\r\nHost: a\r\ncontent-length: 2\r\n${FWD4}\r\nhi`;
  for (let cut = 1; cut < req.length; cut++) {
    const before = app.all().length;
    const c = new RawClient(hop.port);
    await c.ready;
    c.write(v1('198.51.100.7'));
    c.write(req.slice(0, cut));
    await sleep(1);
    c.write(req.slice(cut));
    await app.waitFor((s) => s.length >= before + expected.length);
    assert.equal(app.all().slice(before), expected, `split at ${cut}`);
    c.destroy();
  }
});

test('deep pipelining (150 requests in one write): reading pauses at 64 outstanding, nothing lost', async (t) => {
  const hop = await startHop(echo.port);
  t.after(() => hop.close());
  const reqs = Array.from({ length: 150 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
  const c = send(hop.port, reqs.join(''), v1('198.51.100.9'));
  const text = await c.waitFor((s) => count(s, '"url"') === 150, 10000);
  const urls = [...text.matchAll(/"url":"\/(\d+)"/g)].map((m) => Number(m[1]));
  assert.deepEqual(
    urls,
    Array.from({ length: 150 }, (_, i) => i),
  );
  assert.equal(count(text, '"198.51.100.9"'), 300);
  c.destroy();
});

test('client bytes sent right behind an Upgrade request wait for the 101, then pass raw', async (t) => {
  let upgraded = false;
  const { app, hop } = await rawHop(t, (s, all) => {
    if (!upgraded && all.includes('\r\n\r\n')) {
      upgraded = true;
      // Answer late: the eager bytes must be held, not parsed as a request.
      setTimeout(() => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n'), 100);
    }
  });
  const eager = 'GET /x HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';
  const c = send(
    hop.port,
    `GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n${eager}`,
  );
  await app.waitFor((s) => s.endsWith(eager));
  assert.equal(count(app.all(), 'X-Forwarded-For: 198.51.100.7'), 1);
  assert.equal(count(app.all(), '6.6.6.6'), 1, 'tunnel bytes are not rewritten');
  c.destroy();
});

test('half-close: a client that shuts down its sending side still gets its answer', async (t) => {
  const { hop } = await rawHop(t, (s, all) => {
    if (all.endsWith('\r\n\r\n'))
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate'), 100);
  });
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  c.socket.end();
  assert.equal(await c.waitClosed(), 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nlate');
});

test('app closes after "Connection: close": pipelined requests behind it get a clean close, not a 502', async (t) => {
  const { hop } = await rawHop(t, (s, all) => {
    if (all.includes('\r\n\r\n'))
      s.end('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye');
  });
  const c = send(hop.port, 'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(await c.waitClosed(), 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye');
});

test('a close-delimited response (HTTP/1.0 style, no length) reaches the client whole', async (t) => {
  const body = 'x'.repeat(100000);
  const { hop } = await rawHop(t, (s, all) => {
    if (all.includes('\r\n\r\n')) s.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${body}`);
  });
  const c = send(hop.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  assert.equal(await c.waitClosed(), `HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${body}`);
});
