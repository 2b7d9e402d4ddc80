// The header reader on real loopback sockets: trust policy, required/optional, timeouts, and the
// bytes after the header arriving intact however they are split.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { describe, test } from 'node:test';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { recordingListener, type TestListener } from '../support/recording-hop.ts';

async function connect(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  await once(s, 'connect');
  s.on('error', () => {});
  return s;
}

async function closedBy(s: net.Socket, timeoutMs = 5000): Promise<number> {
  const t0 = Date.now();
  await Promise.race([
    once(s, 'close'),
    new Promise((_, rej) => setTimeout(() => rej(new Error('socket was not closed')), timeoutMs)),
  ]);
  return Date.now() - t0;
}

const writeSplit = async (s: net.Socket, buf: Buffer, sizes: number[]) => {
  let at = 0;
  for (let i = 0; at < buf.length; i++) {
    const n = sizes[i % sizes.length]!;
    s.write(buf.subarray(at, at + n));
    at += n;
    await new Promise((r) => setTimeout(r, 2));
  }
};

async function withListener(
  opts: Parameters<typeof recordingListener>[0],
  fn: (l: TestListener) => Promise<void>,
) {
  const l = await recordingListener(opts);
  try {
    await fn(l);
  } finally {
    await l.close();
  }
}

describe('header reader', () => {
  test('trusted v2 header split into 1..7-byte segments: client attributed, payload intact', () =>
    withListener({}, async (l) => {
      const head = encodeV2({
        family: 'TCP4',
        source: { address: '198.51.100.7', port: 40000 },
        destination: { address: '10.0.0.1', port: 80 },
      });
      const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
      const s = await connect(l.port);
      await writeSplit(s, Buffer.concat([head, payload]), [1, 2, 3, 5, 7]);
      const rec = await l.hop.next(0);
      s.end();
      await rec.ended;
      assert.deepEqual(rec.conn.client, { address: '198.51.100.7', port: 40000, family: 4 });
      assert.equal(rec.conn.outcome, 'proxy');
      assert.ok(rec.data.equals(payload), `payload: ${rec.data.length} bytes, want ${payload.length}`);
    }));

  test('v1 header and payload in one segment, IPv6 client', () =>
    withListener({}, async (l) => {
      const head = encodeV1({
        family: 'TCP6',
        source: { address: '2001:db8::7', port: 1234 },
        destination: { address: '2001:db8::1', port: 443 },
      });
      const s = await connect(l.port);
      s.end(Buffer.concat([head, Buffer.from('hello')]));
      const rec = await l.hop.next(0);
      await rec.ended;
      assert.deepEqual(rec.conn.client, { address: '2001:db8::7', port: 1234, family: 6 });
      assert.equal(rec.data.toString(), 'hello');
    }));

  test('a header from an untrusted source is refused and counted, never honoured', () =>
    withListener({ trusted: ['127.0.0.1/32'] }, async (l) => {
      const s = await connect(l.port, '127.0.0.2');
      s.write(
        encodeV1({
          family: 'TCP4',
          source: { address: '1.2.3.4', port: 1 },
          destination: { address: '5.6.7.8', port: 2 },
        }),
      );
      await closedBy(s);
      assert.equal(l.hop.seen.length, 0);
      assert.equal(
        l.metrics.connections.get({
          listener: 0,
          mode: 'tcp',
          outcome: 'untrusted',
          code: 'PP_UNTRUSTED_SOURCE',
        }),
        1,
      );
    }));

  test('an IPv4-mapped trusted CIDR trusts exactly its addresses, not everybody (dual-stack socket)', () =>
    // Regression: ::ffff:127.0.0.1/32 was read as 0.0.0.0/0, so a header from any source was believed.
    withListener({ trusted: ['::ffff:127.0.0.1/128'] }, async (l) => {
      const header = encodeV1({
        family: 'TCP4',
        source: { address: '203.0.113.9', port: 4000 },
        destination: { address: '10.0.0.1', port: 80 },
      });
      const stranger = await connect(l.port, '127.0.0.2');
      stranger.write(header);
      await closedBy(stranger);
      assert.equal(l.hop.seen.length, 0, 'a header from 127.0.0.2 must not be honoured');
      assert.equal(
        l.metrics.connections.get({
          listener: 0,
          mode: 'tcp',
          outcome: 'untrusted',
          code: 'PP_UNTRUSTED_SOURCE',
        }),
        1,
      );
      const edge = await connect(l.port, '127.0.0.1');
      edge.end(Buffer.concat([header, Buffer.from('hi')]));
      const rec = await l.hop.next(0);
      await rec.ended;
      assert.deepEqual(rec.conn.client, { address: '203.0.113.9', port: 4000, family: 4 });
    }));

  test('a mapped trusted CIDR below /96, or one with host bits set, is refused at start-up', async () => {
    const refused = async (trusted: string, want: RegExp) => {
      let l: TestListener | undefined;
      try {
        l = await recordingListener({ trusted: [trusted] });
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'CFG_INVALID');
        assert.match((err as Error).message, want);
        return;
      }
      await l.close();
      assert.fail(`--trusted-cidrs ${trusted} was accepted`);
    };
    await refused(
      '::ffff:127.0.0.1/32',
      /--trusted-cidrs \/ REALIP_TRUSTED_CIDRS: "::ffff:127\.0\.0\.1\/32" is an IPv4-mapped address with a prefix below \/96/,
    );
    await refused('127.0.0.1/8', /"127\.0\.0\.1\/8" has host bits set; did you mean 127\.0\.0\.0\/8\?/);
  });

  test('required mode: a trusted source without a header is closed', () =>
    withListener({}, async (l) => {
      const s = await connect(l.port);
      s.write('GET / HTTP/1.1\r\n\r\n');
      await closedBy(s);
      assert.equal(l.hop.seen.length, 0);
      assert.equal(
        l.metrics.connections.get({ listener: 0, mode: 'tcp', outcome: 'missing', code: 'PP_NOT_PROXY' }),
        1,
      );
    }));

  test('optional mode: no header -> the socket peer, with every byte kept', () =>
    withListener({ proxy: 'optional', trusted: ['127.0.0.1/32'] }, async (l) => {
      const s = await connect(l.port, '127.0.0.3');
      s.write('PRO'); // a prefix of "PROXY " that turns out not to be one
      await new Promise((r) => setTimeout(r, 20));
      s.end('FILE\n');
      const rec = await l.hop.next(0);
      await rec.ended;
      assert.equal(rec.conn.outcome, 'missing');
      assert.equal(rec.conn.client.address, '127.0.0.3');
      assert.equal(rec.data.toString(), 'PROFILE\n');
    }));

  test('optional mode: an untrusted source that sends a header is still refused', () =>
    withListener({ proxy: 'optional', trusted: ['127.0.0.1/32'] }, async (l) => {
      const s = await connect(l.port, '127.0.0.4');
      s.write(
        encodeV2({
          family: 'TCP4',
          source: { address: '1.2.3.4', port: 1 },
          destination: { address: '5.6.7.8', port: 2 },
        }),
      );
      await closedBy(s);
      assert.equal(l.hop.seen.length, 0);
    }));

  test('optional mode: a silent client (server speaks first) is handed on at the header timeout', () =>
    withListener({ proxy: 'optional', headerTimeoutMs: 300 }, async (l) => {
      const t0 = Date.now();
      const s = await connect(l.port);
      const rec = await l.hop.next(0);
      assert.ok(Date.now() - t0 >= 250);
      assert.equal(rec.conn.outcome, 'missing');
      s.destroy();
    }));

  test('a partial header is closed at the header timeout (slowloris)', () =>
    withListener({ headerTimeoutMs: 300 }, async (l) => {
      const s = await connect(l.port);
      s.write('PROXY TCP4 1.2.3.4');
      const took = await closedBy(s);
      assert.ok(took >= 250 && took < 3000, `closed after ${took} ms`);
      assert.equal(
        l.metrics.connections.get({
          listener: 0,
          mode: 'tcp',
          outcome: 'timeout',
          code: 'PP_HEADER_TIMEOUT',
        }),
        1,
      );
    }));

  test('v2 LOCAL (health check from the edge) uses the socket addresses', () =>
    withListener({}, async (l) => {
      const s = await connect(l.port);
      s.end(Buffer.concat([encodeV2({ command: 'LOCAL', family: 'UNKNOWN' }), Buffer.from('x')]));
      const rec = await l.hop.next(0);
      await rec.ended;
      assert.equal(rec.conn.outcome, 'local');
      assert.equal(rec.conn.client.address, '127.0.0.1');
      assert.equal(rec.data.toString(), 'x');
    }));

  test('an invalid header is closed with its code', () =>
    withListener({}, async (l) => {
      const s = await connect(l.port);
      s.write('PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n');
      await closedBy(s);
      assert.equal(
        l.metrics.connections.get({ listener: 0, mode: 'tcp', outcome: 'invalid', code: 'PP_V1_BAD_PORT' }),
        1,
      );
    }));

  test('a datagram family on a TCP connection is refused', () =>
    withListener({}, async (l) => {
      const s = await connect(l.port);
      s.write(
        encodeV2({
          family: 'UDP4',
          source: { address: '1.2.3.4', port: 1 },
          destination: { address: '5.6.7.8', port: 2 },
        }),
      );
      await closedBy(s);
      assert.equal(l.hop.seen.length, 0);
    }));

  test('a second PROXY header is application data, not a new identity', () =>
    withListener({}, async (l) => {
      const first = encodeV1({
        family: 'TCP4',
        source: { address: '198.51.100.7', port: 1 },
        destination: { address: '10.0.0.1', port: 2 },
      });
      const forged = encodeV1({
        family: 'TCP4',
        source: { address: '6.6.6.6', port: 1 },
        destination: { address: '10.0.0.1', port: 2 },
      });
      const s = await connect(l.port);
      s.end(Buffer.concat([first, forged]));
      const rec = await l.hop.next(0);
      await rec.ended;
      assert.equal(rec.conn.client.address, '198.51.100.7');
      assert.ok(rec.data.equals(forged));
    }));
});
