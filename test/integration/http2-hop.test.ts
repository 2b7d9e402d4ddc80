// The http2 listener through one real sidecar process: node:http2 (nghttp2) and curl clients, the
// Go h2c test app (golang.org/x/net/http2/h2c, which logs each stream's forwarding fields), and a
// node:http2 app where a test needs to steer the app's side (trailers, resets, GOAWAY). Every
// stream must reach the app with our forwarding fields and none of the client's, whatever else
// happens on the connection. Limits and the life cycle (nginx as the app, drain, timeouts):
// http2-lifecycle.test.ts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { freeEphemeralPort, freePortBelowEphemeral } from '../../devkit/ports.ts';
import { type GoApp, startGoApp } from '../support/go-app.ts';
import {
  getFrame,
  type H2App,
  h2Client,
  h2Request,
  PREFACE,
  parseFrames,
  proxyV1,
  rawH2,
  SETTINGS_ACK,
  SETTINGS_EMPTY,
  startH2App,
} from '../support/h2.ts';
import { resetStream } from '../../sidecar/http2/reset.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';

const run = promisify(execFile);
const CLIENT = '198.51.100.7';
const FORGED = {
  'x-forwarded-for': '6.6.6.6',
  'x-real-ip': '6.6.6.6',
  forwarded: 'for=6.6.6.6',
  'x-forwarded-proto': 'https',
  x_forwarded_for: '6.6.6.6',
  'true-client-ip': '6.6.6.6',
  'x-realip-unique-id': 'forged',
};
const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

let go: GoApp;
let app: H2App;
/** What the node app should do with the next stream, by path. */
const handlers = new Map<string, (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void>();
let sidecar: Sidecar;
let goPort: number;
let appPort: number;
let refusedPort: number;

before(async () => {
  go = await startGoApp('h2c');
  app = await startH2App((s, h) => {
    const f = handlers.get(String(h[':path']));
    if (f) f(s, h);
    else {
      s.respond({ ':status': 200 });
      s.end(String(h[':path']));
    }
  });
  goPort = await freePortBelowEphemeral();
  appPort = await freePortBelowEphemeral();
  refusedPort = await freePortBelowEphemeral();
  const closedApp = await freeEphemeralPort();
  sidecar = await startSidecar({
    listeners: [
      `http2:${goPort}:${go.port}`,
      `http2:${appPort}:${app.port}`,
      `http2:${refusedPort}:${closedApp}`,
    ],
    args: ['--access-log'],
  });
});

after(async () => {
  await sidecar?.stop('SIGKILL');
  go?.stop();
  await app?.close();
});

test('many streams on one connection: each reaches the Go h2c app with the PROXY client, forged fields gone', {
  timeout: 30_000,
}, async () => {
  const before = go.seen().length;
  const s = h2Client(goPort, CLIENT);
  try {
    const answers = await Promise.all(
      Array.from({ length: 24 }, (_, i) =>
        h2Request(s, { ':method': 'GET', ':path': `/many/${i}`, ...FORGED }),
      ),
    );
    for (const a of answers) assert.equal(a.status, 200);
  } finally {
    s.close();
  }
  const seen = go.seen().slice(before);
  assert.equal(seen.length, 24);
  for (const r of seen) {
    assert.equal(r.proto, 'HTTP/2.0');
    assert.equal(r.xff, CLIENT);
    assert.equal(r.xRealIp, CLIENT);
    assert.equal(r.forwarded, `for=${CLIENT}`);
  }
});

test('the node app sees exactly our forwarding fields, x-forwarded-port from the PROXY header', {
  timeout: 30_000,
}, async () => {
  const s = h2Client(appPort, CLIENT);
  try {
    const r = await h2Request(s, { ':method': 'GET', ':path': '/fields', ...FORGED });
    assert.equal(r.status, 200);
  } finally {
    s.close();
  }
  const h = app.seen.at(-1)!;
  assert.equal(h[':path'], '/fields');
  assert.equal(h['x-forwarded-for'], CLIENT);
  assert.equal(h['x-real-ip'], CLIENT);
  assert.equal(h.forwarded, `for=${CLIENT}`);
  assert.equal(h['x-forwarded-proto'], 'http');
  assert.equal(h['x-forwarded-port'], '443');
  for (const forged of ['x_forwarded_for', 'true-client-ip', 'x-realip-unique-id']) {
    assert.equal(h[forged], undefined, forged);
  }
});

test('curl --http2-prior-knowledge --haproxy-protocol, and HTTP/1.1 on the same http2 listener', {
  timeout: 30_000,
}, async () => {
  const before = go.seen().length;
  /** curl with a PROXY v1 header and a forged X-Forwarded-For: "<http version> <status>". */
  const curl = async (version: string, path: string) =>
    (
      await run('curl', [
        '-sS',
        version,
        '--haproxy-protocol',
        '-H',
        'X-Forwarded-For: 6.6.6.6',
        '-o',
        '/dev/null',
        '-w',
        '%{http_version} %{http_code}',
        `http://127.0.0.1:${goPort}${path}`,
      ])
    ).stdout;
  assert.equal(await curl('--http2-prior-knowledge', '/curl-h2'), '2 200');
  assert.equal(await curl('--http1.1', '/curl-h1'), '1.1 200');
  const seen = go.seen().slice(before);
  assert.deepEqual(
    seen.map((r) => [r.proto, r.path, r.xff]),
    [
      ['HTTP/2.0', '/curl-h2', '127.0.0.1'],
      ['HTTP/1.1', '/curl-h1', '127.0.0.1'],
    ],
  );
});

test('HTTP/1.1 bytes that arrive one at a time still go to the HTTP/1.1 hop', {
  timeout: 30_000,
}, async () => {
  const before = go.seen().length;
  const sock = net.connect(goPort, '127.0.0.1');
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(proxyV1(CLIENT));
  const req = 'GET /drip HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n';
  for (const ch of req) {
    sock.write(ch);
    await new Promise((r) => setTimeout(r, 2));
  }
  // The whole response (the Go app's JSON line ends it), not the close: after a `Connection:
  // close` response the HTTP/1.1 hop may take its linger time to close (on http listeners too).
  const until = Date.now() + 10_000;
  while (!Buffer.concat(got).toString('latin1').endsWith('}\n') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 10));
  }
  sock.destroy();
  assert.match(Buffer.concat(got).toString('latin1'), /^HTTP\/1\.1 200/);
  const seen = go.seen().slice(before);
  assert.deepEqual(
    seen.map((r) => [r.proto, r.path, r.xff]),
    [['HTTP/1.1', '/drip', CLIENT]],
  );
});

test('the preface a byte at a time, and in one segment with the PROXY header: both are HTTP/2', {
  timeout: 30_000,
}, async () => {
  const sock = net.connect(appPort, '127.0.0.1');
  const got: Buffer[] = [];
  sock.on('data', (d: Buffer) => got.push(d));
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(proxyV1(CLIENT));
  for (const b of PREFACE) {
    sock.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 2));
  }
  sock.write(Buffer.concat([SETTINGS_EMPTY, SETTINGS_ACK, getFrame(1, [['x-forwarded-for', '6.6.6.6']])]));
  await new Promise((r) => setTimeout(r, 300));
  sock.destroy();
  const frames = parseFrames(Buffer.concat(got));
  assert.ok(
    frames.some((f) => f.type === 0x1 && f.stream === 1),
    `a response HEADERS frame on stream 1: ${JSON.stringify(frames.map((f) => [f.type, f.stream]))}`,
  );
  assert.equal(app.seen.at(-1)?.['x-forwarded-for'], CLIENT);
  // rawH2 sends the PROXY header, the preface and SETTINGS in one write.
  const one = await rawH2(appPort, CLIENT, [getFrame(1)], 300);
  assert.ok(one.some((f) => f.type === 0x1 && f.stream === 1));
});

test('trailers both ways, without forwarding fields', { timeout: 30_000 }, async () => {
  let appTrailers: http2.IncomingHttpHeaders | null = null;
  handlers.set('/trailers', (s) => {
    s.on('trailers', (t) => {
      appTrailers = t;
    });
    s.resume();
    s.on('end', () => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      s.on('wantTrailers', () =>
        s.sendTrailers({ 'grpc-status': '0', 'x-real-ip': '6.6.6.6', 'x-forwarded-for': '6.6.6.6' }),
      );
      s.end('payload');
    });
  });
  const s = h2Client(appPort, CLIENT);
  let r: Awaited<ReturnType<typeof h2Request>>;
  try {
    r = await h2Request(s, { ':method': 'POST', ':path': '/trailers' }, 'body', {
      'x-checksum': 'abc',
      'x-forwarded-for': '6.6.6.6',
      forwarded: 'for=6.6.6.6',
    });
  } finally {
    s.close();
  }
  assert.equal(r.status, 200);
  assert.equal(r.body.toString(), 'payload');
  assert.equal(r.trailers?.['grpc-status'], '0');
  assert.equal(r.trailers?.['x-real-ip'], undefined);
  assert.equal(r.trailers?.['x-forwarded-for'], undefined);
  assert.ok(appTrailers, 'the app got the request trailers');
  const t = appTrailers as http2.IncomingHttpHeaders;
  assert.equal(t['x-checksum'], 'abc');
  assert.equal(t['x-forwarded-for'], undefined);
  assert.equal(t.forwarded, undefined);
});

test('a 1xx from the app reaches the client before the response', { timeout: 30_000 }, async () => {
  handlers.set('/continue', (s) => {
    s.additionalHeaders({ ':status': 103, link: '</a.css>; rel=preload' });
    s.respond({ ':status': 200 });
    s.end('ok');
  });
  const s = h2Client(appPort, CLIENT);
  try {
    const info = new Promise<http2.IncomingHttpHeaders>((resolve) => {
      const req = s.request({ ':method': 'GET', ':path': '/continue' });
      req.on('headers', (h) => resolve(h));
      req.on('error', () => {});
      req.resume();
    });
    const h = await info;
    assert.equal(h[':status'], 103);
    assert.equal(h.link, '</a.css>; rel=preload');
  } finally {
    s.close();
  }
});

test('RST_STREAM both ways keeps its error code', { timeout: 30_000 }, async () => {
  // Client -> app: a cancelled call (gRPC cancellation is RST_STREAM CANCEL).
  const appClosed = new Promise<number>((resolve) => {
    handlers.set('/cancel-me', (st) => {
      st.respond({ ':status': 200 });
      st.write('first');
      st.on('close', () => resolve(st.rstCode ?? -1));
    });
  });
  const s = h2Client(appPort, CLIENT);
  try {
    const req = s.request({ ':method': 'GET', ':path': '/cancel-me' });
    req.on('error', () => {});
    await new Promise<void>((r) => req.once('data', () => r()));
    req.close(NGHTTP2_CANCEL);
    assert.equal(await appClosed, NGHTTP2_CANCEL);
    // App -> client.
    handlers.set('/app-resets', (st) => {
      st.respond({ ':status': 200 });
      // resetStream: a plain close(code) would end the stream cleanly first (sidecar/http2/reset.ts).
      st.write('partial', () => resetStream(st, NGHTTP2_INTERNAL_ERROR));
    });
    const r = await h2Request(s, { ':method': 'GET', ':path': '/app-resets' });
    assert.equal(r.rstCode, NGHTTP2_INTERNAL_ERROR);
    handlers.set('/app-refuses', (st) => st.close(NGHTTP2_REFUSED_STREAM));
    const r2 = await h2Request(s, { ':method': 'GET', ':path': '/app-refuses' });
    assert.equal(r2.rstCode, NGHTTP2_REFUSED_STREAM);
    // The connection is still good after both.
    const ok = await h2Request(s, { ':method': 'GET', ':path': '/after-resets' });
    assert.equal(ok.status, 200);
  } finally {
    s.close();
  }
});

test("the app's GOAWAY and loss: later streams get a new app session; a lost one is 502 or INTERNAL_ERROR", {
  timeout: 20_000,
}, async () => {
  const sessionsBefore = new Set<http2.ServerHttp2Session>();
  handlers.set('/bye', (st) => {
    sessionsBefore.add(st.session as http2.ServerHttp2Session);
    st.respond({ ':status': 200 });
    st.end('bye');
    // A graceful GOAWAY from the app: it takes no new streams on this session.
    st.session!.close();
  });
  handlers.set('/who', (st) => {
    st.respond({ ':status': 200 });
    st.end(sessionsBefore.has(st.session as http2.ServerHttp2Session) ? 'old' : 'new');
  });
  handlers.set('/die-before', (st) => st.session!.destroy());
  handlers.set('/die-after', (st) => {
    st.respond({ ':status': 200 });
    st.write('partial', () => st.session!.destroy());
  });
  const s = h2Client(appPort, CLIENT);
  try {
    assert.equal((await h2Request(s, { ':method': 'GET', ':path': '/bye' })).status, 200);
    const who = await h2Request(s, { ':method': 'GET', ':path': '/who' });
    assert.equal(who.body.toString(), 'new');
    const before = await h2Request(s, { ':method': 'GET', ':path': '/die-before' });
    assert.equal(before.status, 502, `rst ${before.rstCode}`);
    assert.equal(before.headers['x-realip-error'], 'H2_APP_LOST');
    const afterStart = await h2Request(s, { ':method': 'GET', ':path': '/die-after' });
    assert.equal(afterStart.status, 200);
    assert.equal(
      afterStart.rstCode,
      NGHTTP2_INTERNAL_ERROR,
      'a truncated response is a reset, never a clean end',
    );
    // And the client connection still serves.
    assert.equal((await h2Request(s, { ':method': 'GET', ':path': '/after-loss' })).status, 200);
  } finally {
    s.close();
  }
});

test('app refused: 502 with H2_APP_REFUSED; CONNECT: 405 with H2_CONNECT_REFUSED', {
  timeout: 30_000,
}, async () => {
  const s = h2Client(refusedPort, CLIENT);
  try {
    const r = await h2Request(s, { ':method': 'GET', ':path': '/nobody' });
    assert.equal(r.status, 502);
    assert.equal(r.headers['x-realip-error'], 'H2_APP_REFUSED');
  } finally {
    s.close();
  }
  const c = h2Client(appPort, CLIENT);
  try {
    const r = await h2Request(c, { ':method': 'CONNECT', ':authority': 'example.com:443' });
    assert.equal(r.status, 405);
    assert.equal(r.headers['x-realip-error'], 'H2_CONNECT_REFUSED');
  } finally {
    c.close();
  }
  assert.ok(!app.seen.some((h) => h[':method'] === 'CONNECT'), 'no CONNECT reached the app');
});

test('the connection log line and the access log say h2, and the metrics count the streams', {
  timeout: 30_000,
}, async () => {
  const out = sidecar.output();
  assert.match(out, /"protocol":"h2"[^\n]*"msg":"connection closed"/);
  assert.match(out, /"protocol":"h2","method":"GET","path":"\/fields","status":200[^\n]*"msg":"request"/);
  const metrics = await (await fetch(`http://127.0.0.1:${sidecar.adminPort}/metrics`)).text();
  assert.match(
    metrics,
    new RegExp(`realip_http2_streams_total\\{listener="${goPort}",outcome="ok"\\} (\\d+)`),
  );
  const ok = Number(
    new RegExp(`realip_http2_streams_total\\{listener="${goPort}",outcome="ok"\\} (\\d+)`).exec(metrics)![1],
  );
  assert.ok(ok >= 25, `ok streams: ${ok}`);
  assert.match(
    metrics,
    new RegExp(`realip_http2_streams_total\\{listener="${appPort}",outcome="client_reset"\\} [1-9]`),
  );
  assert.match(
    metrics,
    new RegExp(`realip_http2_streams_total\\{listener="${appPort}",outcome="app_reset"\\} [1-9]`),
  );
  assert.match(
    metrics,
    new RegExp(`realip_http2_streams_total\\{listener="${refusedPort}",outcome="app_error"\\} [1-9]`),
  );
});
