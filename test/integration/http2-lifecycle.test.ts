// The http2 listener's limits and life cycle, each case with its own real sidecar process:
// --h2-max-concurrent-streams and --h2-max-header-list against raw frames, the trust options over
// PROXY v2, nginx as the h2c app, SIGTERM drain, keep-alive and preface timeouts. The per-stream
// behaviour through one shared sidecar is in http2-hop.test.ts.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { freeEphemeralPort, freePortBelowEphemeral } from '../../devkit/ports.ts';
import { encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { getFrame, type H2App, h2Client, h2Request, proxyV1, rawH2, startH2App } from '../support/h2.ts';
import { type Proc, startNginx } from '../support/procs.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';

const CLIENT = '198.51.100.7';
const FORGED = {
  'x-forwarded-for': '6.6.6.6',
  'x-real-ip': '6.6.6.6',
  forwarded: 'for=6.6.6.6',
  x_forwarded_for: '6.6.6.6',
};
const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

let app: H2App;

before(async () => {
  app = await startH2App();
});

after(async () => {
  await app?.close();
});

test('limits: a stream over --h2-max-concurrent-streams is refused, an oversized header list is reset', {
  timeout: 30_000,
}, async () => {
  const holding = await startH2App(() => {
    // Never answers: the streams stay in flight until the connection goes.
  });
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({
    listeners: [`http2:${listen}:${holding.port}`],
    args: ['--h2-max-concurrent-streams', '4', '--h2-max-header-list', '4096'],
  });
  try {
    const frames = await rawH2(
      listen,
      CLIENT,
      [1, 3, 5, 7, 9].map((id) => getFrame(id)),
      800,
    );
    // The fifth stream breaks the announced limit after the client acknowledged it: nghttp2 makes
    // that a connection error (RFC 9113 5.1.2 allows it), GOAWAY PROTOCOL_ERROR with the last
    // stream it took, 7. (The four before it die with the connection, nothing over them reaches
    // the app.)
    const goaway = frames.find((f) => f.type === 0x7);
    assert.ok(goaway, `frames: ${JSON.stringify(frames.map((f) => [f.type, f.stream]))}`);
    assert.equal(goaway.payload.readUInt32BE(0), 7, 'last stream id');
    assert.equal(goaway.payload.readUInt32BE(4), http2.constants.NGHTTP2_PROTOCOL_ERROR);
    assert.ok(holding.seen.length <= 4, `the app saw ${holding.seen.length} streams`);
    const seenBefore = holding.seen.length;
    const big = await rawH2(listen, CLIENT, [getFrame(1, [['x-big', 'a'.repeat(5000)]])], 300);
    const reset = big.find((f) => f.type === 0x3 && f.stream === 1);
    assert.ok(reset, `frames: ${JSON.stringify(big.map((f) => [f.type, f.stream]))}`);
    assert.equal(reset.payload.readUInt32BE(0), NGHTTP2_ENHANCE_YOUR_CALM);
    assert.equal(holding.seen.length, seenBefore, 'the oversized stream never reached the app');
  } finally {
    await sc.stop('SIGKILL');
    await holding.close();
  }
});

test('--forwarded append and --tlv-headers through PROXY v2 from an IPv6 client', {
  timeout: 30_000,
}, async () => {
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({
    listeners: [`http2:${listen}:${app.port}`],
    args: ['--forwarded', 'append', '--tlv-headers', 'unique-id'],
  });
  const header = encodeV2({
    family: 'TCP6',
    source: { address: '2001:db8::7', port: 40000 },
    destination: { address: '2001:db8::1', port: 8443 },
    tlvs: [{ type: 0x05, value: Buffer.from('req-42') }],
  });
  const s = h2Client(listen, '', {}, header);
  try {
    const r = await h2Request(s, {
      ':method': 'GET',
      ':path': '/append',
      'x-forwarded-for': '10.0.0.1',
      forwarded: 'for=10.0.0.1',
      'x-real-ip': '6.6.6.6',
      'x-realip-unique-id': 'forged',
    });
    assert.equal(r.status, 200);
  } finally {
    s.close();
    await sc.stop('SIGKILL');
  }
  const h = app.seen.at(-1)!;
  assert.equal(h[':path'], '/append');
  assert.equal(h['x-forwarded-for'], '10.0.0.1, 2001:db8::7');
  assert.equal(h.forwarded, 'for=10.0.0.1, for="[2001:db8::7]"');
  assert.equal(h['x-real-ip'], '2001:db8::7');
  assert.equal(h['x-forwarded-port'], '8443');
  assert.equal(h['x-realip-unique-id'], 'req-42');
});

test('nginx as the h2c app: every stream carries the PROXY client', { timeout: 30_000 }, async () => {
  const port = await freeEphemeralPort();
  const nginx: Proc = startNginx(
    `http { access_log off; server { listen 127.0.0.1:${port} http2; location / { return 200 "$http_x_forwarded_for|$http_x_real_ip|$http_forwarded|$server_protocol"; } } }`,
  );
  let sc: Sidecar | undefined;
  try {
    await nginx.ready(port);
    const listen = await freePortBelowEphemeral();
    sc = await startSidecar({ listeners: [`http2:${listen}:${port}`] });
    const s = h2Client(listen, CLIENT);
    try {
      const answers = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          h2Request(s, { ':method': 'GET', ':path': `/n${i}`, ...FORGED }),
        ),
      );
      for (const a of answers) {
        assert.equal(a.status, 200);
        assert.equal(a.body.toString(), `${CLIENT}|${CLIENT}|for=${CLIENT}|HTTP/2.0`);
      }
    } finally {
      s.close();
    }
  } finally {
    await sc?.stop('SIGKILL');
    await nginx.stop();
  }
});

test('SIGTERM: GOAWAY to the client, the stream in flight finishes, then the sidecar exits', {
  timeout: 30_000,
}, async () => {
  const slowApp = await startH2App((st) => {
    setTimeout(() => {
      st.respond({ ':status': 200 });
      st.end('late but complete');
    }, 700);
  });
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({ listeners: [`http2:${listen}:${slowApp.port}`], killAfterMs: 10_000 });
  try {
    const s = h2Client(listen, CLIENT);
    const goaway = new Promise<number>((r) => s.once('goaway', (code) => r(code)));
    const inFlight = h2Request(s, { ':method': 'GET', ':path': '/slow' });
    await new Promise((r) => setTimeout(r, 200));
    sc.child.kill('SIGTERM');
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'late but complete');
    assert.equal(await sc.exited, 0);
    s.destroy();
  } finally {
    await sc.stop('SIGKILL');
    await slowApp.close();
  }
});

test('no stream open for --keepalive-timeout: GOAWAY, then the connection closes (keepalive_timeout)', {
  timeout: 30_000,
}, async () => {
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({
    listeners: [`http2:${listen}:${app.port}`],
    args: ['--keepalive-timeout', '300'],
  });
  try {
    const s = h2Client(listen, CLIENT);
    const goaway = new Promise<number>((r) => s.once('goaway', (code) => r(code)));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    assert.equal((await h2Request(s, { ':method': 'GET', ':path': '/then-idle' })).status, 200);
    const t0 = Date.now();
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR);
    await closed;
    assert.ok(Date.now() - t0 < 5000);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(sc.output(), /"requests":1,[^\n]*"reason":"keepalive_timeout"[^\n]*"protocol":"h2"/);
  } finally {
    await sc.stop('SIGKILL');
  }
});

test('a client that sends nothing after the PROXY header is closed with H2_PREFACE_TIMEOUT', {
  timeout: 30_000,
}, async () => {
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({
    listeners: [`http2:${listen}:${app.port}`],
    args: ['--request-head-timeout', '300'],
  });
  try {
    const sock = net.connect(listen, '127.0.0.1');
    sock.on('error', () => {});
    sock.write(proxyV1(CLIENT));
    const t0 = Date.now();
    await new Promise<void>((r) => sock.once('close', () => r()));
    assert.ok(Date.now() - t0 < 3000);
    await new Promise((r) => setTimeout(r, 100));
    assert.match(sc.output(), /"reason":"head_timeout","code":"H2_PREFACE_TIMEOUT"/);
  } finally {
    await sc.stop('SIGKILL');
  }
});
