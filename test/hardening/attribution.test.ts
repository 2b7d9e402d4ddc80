// Attribution under load: 1,000 concurrent keep-alive connections through a REAL sidecar (http
// listener), each with its own PROXY source address (IPv4 and IPv6, v1 and v2 headers, over IPv4
// and IPv6 loopback), sending interleaved, pipelined requests that also carry ANOTHER connection's
// address in a forged X-Forwarded-For. The app (node:http) echoes the X-Forwarded-For it received
// and the request id; the client checks every answer: it must carry its own connection's address.
// 10^5 requests in CI, 10^6 with REALIP_SOAK=full. Figure: requests, mis-attributed (0), errors.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import {
  closeServer,
  figure,
  percentile,
  rssSampler,
  type Sidecar,
  size,
  startSidecar,
} from './lib/harness.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const CONNECTIONS = size('attr_connections', 1000, 1000);
const REQUESTS = size('attr_requests', 100_000, 1_000_000);
const PER_CONNECTION = Math.ceil(REQUESTS / CONNECTIONS);

function addressOf(i: number): { family: 'TCP4' | 'TCP6'; address: string } {
  return i % 2 === 0
    ? { family: 'TCP4', address: `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}` }
    : { family: 'TCP6', address: `fd00:a7:${i.toString(16)}::${((i * 40503) & 0xffff).toString(16)}` };
}

interface Stats {
  requests: number;
  misattributed: number;
  errors: number;
  latencies: number[];
  examples: string[];
}

/** One keep-alive client connection: bursts of 1-4 pipelined requests, each answered before the next burst. */
function client(i: number, port: number, stats: Stats): Promise<void> {
  const me = addressOf(i);
  const other = addressOf((i + 1) % CONNECTIONS).address;
  const header =
    i % 4 < 2
      ? encodeV2({
          family: me.family,
          source: { address: me.address, port: 1024 + i },
          destination: { address: me.family === 'TCP4' ? '10.255.0.1' : 'fd00:a7::1', port: 80 },
        })
      : encodeV1({
          family: me.family,
          source: { address: me.address, port: 1024 + i },
          destination: { address: me.family === 'TCP4' ? '10.255.0.1' : 'fd00:a7::1', port: 80 },
        });
  return new Promise((resolve) => {
    const s = net.connect({ host: i % 3 === 0 ? '::1' : '127.0.0.1', port, noDelay: true });
    let sent = 0;
    let answered = 0;
    const outstanding: { id: string; at: number }[] = [];
    let buf: Buffer = Buffer.alloc(0);
    let done = false;
    const finish = (error?: string) => {
      if (done) return;
      done = true;
      if (error) {
        stats.errors += PER_CONNECTION - answered;
        if (stats.examples.length < 5) stats.examples.push(`conn ${i}: ${error}`);
      }
      s.destroy();
      resolve();
    };
    const burst = () => {
      if (sent >= PER_CONNECTION) {
        finish();
        return;
      }
      const n = Math.min(1 + ((i + sent) % 4), PER_CONNECTION - sent);
      let out = '';
      const now = performance.now();
      for (let k = 0; k < n; k++) {
        const id = `${i}-${sent}`;
        sent++;
        outstanding.push({ id, at: now });
        out += `GET /r/${id} HTTP/1.1\r\nHost: app\r\nX-Forwarded-For: ${other}\r\n\r\n`;
      }
      s.write(out);
    };
    s.on('connect', () => {
      s.write(header);
      burst();
    });
    s.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const m = /content-length: *(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('latin1');
        buf = buf.subarray(end + 4 + len);
        const want = outstanding.shift();
        answered++;
        stats.requests++;
        if (!want || !head.startsWith('HTTP/1.1 200')) {
          stats.errors++;
          if (stats.examples.length < 5) stats.examples.push(`conn ${i}: ${head.split('\r\n')[0]} ${body}`);
          continue;
        }
        stats.latencies.push(performance.now() - want.at);
        if (body !== `${me.address}|${want.id}`) {
          stats.misattributed++;
          if (stats.examples.length < 5)
            stats.examples.push(`conn ${i} (${me.address}) got "${body}" for ${want.id}`);
        }
        if (outstanding.length === 0) burst();
      }
    });
    s.on('error', (e) => finish(e.message));
    s.on('close', () => finish(answered < PER_CONNECTION ? `closed after ${answered} answers` : undefined));
    s.setTimeout(60_000, () => finish('no answer within 60 s'));
  });
}

describe(`attribution under load: ${CONNECTIONS} keep-alive connections, ${REQUESTS} requests`, () => {
  let app: http.Server;
  let sidecar: Sidecar;
  let port = 0;

  before(async () => {
    app = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => {
      const body = `${req.headers['x-forwarded-for'] ?? 'none'}|${(req.url ?? '').slice(3)}`;
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    });
    app.maxHeadersCount = 100;
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
    port = await freePortBelowEphemeral();
    sidecar = await startSidecar({
      listeners: [`http:${port}:${(app.address() as net.AddressInfo).port}`],
    });
  });

  after(async () => {
    await sidecar?.stop();
    if (app) await closeServer(app);
  });

  test('every request carries its own connection address (zero mis-attributed)', async (t) => {
    const stats: Stats = { requests: 0, misattributed: 0, errors: 0, latencies: [], examples: [] };
    const rss = rssSampler(sidecar.pid);
    const started = performance.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => client(i, port, stats)));
    const seconds = (performance.now() - started) / 1000;
    const peak = rss.stop();
    assert.equal(sidecar.child.exitCode, null, `sidecar died:\n${sidecar.output()}`);
    figure(t, {
      case: 'attribution under load',
      tried: CONNECTIONS * PER_CONNECTION,
      passed: stats.requests - stats.misattributed - stats.errors,
      violations: stats.misattributed,
      errors: stats.errors,
      peakRssMb: peak,
      p99Ms: percentile(stats.latencies, 99),
      note: `${CONNECTIONS} connections, ${Math.round(stats.requests / seconds)} req/s, p50 ${percentile(stats.latencies, 50)} ms`,
    });
    assert.deepEqual(stats.examples, []);
    assert.equal(stats.misattributed, 0);
    assert.equal(stats.errors, 0);
    assert.equal(stats.requests, CONNECTIONS * PER_CONNECTION);
  });
});
