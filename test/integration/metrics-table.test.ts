// Logs and metrics from real traffic through a real `realip sidecar` process with an http and a
// tcp listener: every metric family /metrics exposes is in docs/metrics.md with its type and
// labels (and every documented one is exposed), label values are the same in both modes,
// histograms count, and the `connection closed` and access-log lines carry every field.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLOSE_REASONS } from '../../sidecar/close-reasons.ts';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { TlvType } from '../../sidecar/proxy-protocol/tlv.ts';
import { documentedMetrics, labelValues, parseExposition, sample } from '../support/metrics-doc.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const CLIENT = { address: '198.51.100.7', port: 40007 };
const TLVS = [
  { type: TlvType.AUTHORITY, value: Buffer.from('shop.example') },
  { type: 0xc3, value: Buffer.from('x') },
];
const headerV2 = (port = CLIENT.port) =>
  encodeV2({
    family: 'TCP4',
    source: { ...CLIENT, port },
    destination: { address: '203.0.113.10', port: 443 },
    tlvs: TLVS,
  });

/** Writes `data`, ends, and collects what comes back until the peer closes. */
function exchange(port: number, data: Buffer, endAfterMs = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let got = '';
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1');
    });
    s.on('error', reject);
    s.on('end', () => s.end());
    s.on('close', () => resolve(got));
    s.write(data);
    setTimeout(() => s.end(), endAfterMs);
  });
}

async function scrape(adminPort: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

interface LogLine {
  msg: string;
  [k: string]: unknown;
}
function lines(out: string): LogLine[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

describe('logs and metrics from real traffic, http and tcp', () => {
  let sidecar: Sidecar;
  let httpApp: http.Server;
  let tcpApp: net.Server;
  let httpPort = 0;
  let tcpPort = 0;

  before(async () => {
    httpApp = http.createServer((req, res) => {
      const status = req.url?.startsWith('/missing') ? 404 : req.url?.startsWith('/boom') ? 503 : 200;
      const body = `${status} ${req.headers['x-forwarded-for']}\n`;
      res.writeHead(status, { 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    // A PROXY-aware echo app for the tcp listener.
    tcpApp = net.createServer({ allowHalfOpen: true }, (s) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const r = decode(buf);
        if (r.kind === 'need-more') return;
        s.removeListener('data', onData);
        if (r.kind === 'error') return void s.destroy();
        s.write(`hello ${r.header.source?.address}\n`);
        s.write(buf.subarray(r.consumed));
        s.on('data', (more: Buffer) => s.write(more));
        s.on('end', () => s.end());
      };
      s.on('data', onData);
      s.on('error', () => {});
    });
    await new Promise<void>((r) => httpApp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => tcpApp.listen(0, '127.0.0.1', r));
    httpPort = await freePortBelowEphemeral();
    tcpPort = await freePortBelowEphemeral();
    sidecar = await startSidecar({
      listeners: [
        `http:${httpPort}:${(httpApp.address() as net.AddressInfo).port}`,
        `tcp:${tcpPort}:${(tcpApp.address() as net.AddressInfo).port}`,
      ],
      args: ['--access-log'],
    });
  });

  after(async () => {
    await sidecar?.stop();
    httpApp?.closeAllConnections();
    await new Promise((r) => httpApp?.close(r));
    await new Promise((r) => tcpApp?.close(r));
  });

  test('traffic in both modes, then the logs and /metrics agree with the docs', async () => {
    // http: 200, 404 (query left out of the log), 503 on one kept-alive connection.
    const reqs =
      'GET /ok HTTP/1.1\r\nHost: a\r\n\r\n' +
      'GET /missing?token=secret HTTP/1.1\r\nHost: a\r\n\r\n' +
      'GET /boom HTTP/1.1\r\nHost: a\r\n\r\n';
    const answer = await exchange(httpPort, Buffer.concat([headerV2(), Buffer.from(reqs)]), 300);
    assert.match(answer, /^HTTP\/1\.1 200 [\s\S]*HTTP\/1\.1 404 [\s\S]*HTTP\/1\.1 503 /);
    assert.ok(answer.includes('200 198.51.100.7'), answer);
    // tcp: a v1 connection and a v2 one with TLVs.
    const echoed = await exchange(tcpPort, Buffer.concat([headerV2(40008), Buffer.from('ping')]), 200);
    assert.equal(echoed, 'hello 198.51.100.7\nping');
    const v1 = encodeV1({
      family: 'TCP4',
      source: { address: '198.51.100.9', port: 40009 },
      destination: { address: '203.0.113.10', port: 443 },
    });
    assert.equal(
      await exchange(tcpPort, Buffer.concat([v1, Buffer.from('x')]), 200),
      'hello 198.51.100.9\nx',
    );
    // Refused in both modes: no PROXY header at all (the default is --proxy required).
    await exchange(httpPort, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n'));
    await exchange(tcpPort, Buffer.from('hello'));

    // The close lines are written when both sockets are closed, and pino writes asynchronously.
    const until = Date.now() + 10_000;
    let all: LogLine[] = [];
    for (;;) {
      all = lines(sidecar.output());
      if (all.filter((l) => l.msg === 'connection closed').length >= 5) break;
      assert.ok(Date.now() < until, `5 connection closed lines expected:\n${sidecar.output()}`);
      await sleep(50);
    }
    const closed = all.filter((l) => l.msg === 'connection closed');
    const httpLine = closed.find((l) => l.mode === 'http' && l.reason !== 'refused')!;
    assert.ok(httpLine, 'an http connection closed line');
    assert.deepEqual(httpLine.client, CLIENT);
    assert.deepEqual((httpLine.edge as { address: string }).address, '127.0.0.1');
    assert.equal(httpLine.listener, httpPort);
    assert.equal(httpLine.outcome, 'proxy');
    assert.deepEqual(httpLine.proxy, {
      version: 2,
      command: 'PROXY',
      family: 'TCP4',
      tlvs: ['authority', '0xc3'],
    });
    assert.equal(httpLine.requests, 3);
    assert.equal(httpLine.toApp, reqs.length);
    assert.equal(httpLine.toClient, answer.length);
    assert.equal(typeof httpLine.ms, 'number');
    assert.equal(httpLine.reason, 'client_closed');
    assert.equal(typeof httpLine.conn, 'string');

    const tcpLines = closed.filter((l) => l.mode === 'tcp' && l.reason !== 'refused');
    assert.equal(tcpLines.length, 2);
    const tcpV2 = tcpLines.find((l) => (l.client as { port: number }).port === 40008)!;
    assert.deepEqual(tcpV2.proxy, {
      version: 2,
      command: 'PROXY',
      family: 'TCP4',
      tlvs: ['authority', '0xc3'],
    });
    assert.deepEqual(tcpV2.toApp, 4);
    assert.deepEqual(tcpV2.toClient, 'hello 198.51.100.7\nping'.length);
    assert.equal(tcpV2.reason, 'client_closed');
    assert.equal(tcpV2.listener, tcpPort);
    const tcpV1 = tcpLines.find((l) => (l.client as { port: number }).port === 40009)!;
    assert.deepEqual(tcpV1.proxy, { version: 1, command: 'PROXY', family: 'TCP4', tlvs: [] });
    // The same keys in both modes (http adds its request count).
    const keys = (l: LogLine) =>
      Object.keys(l)
        .filter((k) => k !== 'requests')
        .sort();
    assert.deepEqual(keys(tcpV2), keys(httpLine));

    for (const mode of ['http', 'tcp']) {
      const refused = closed.find((l) => l.mode === mode && l.reason === 'refused');
      assert.ok(refused, `a refused ${mode} line`);
      assert.equal(refused.code, 'PP_NOT_PROXY');
      assert.equal((refused.edge as { address: string }).address, '127.0.0.1');
      assert.equal(refused.outcome, 'missing');
    }
    for (const l of closed)
      assert.ok((CLOSE_REASONS as readonly string[]).includes(l.reason as string), l.reason as string);

    const access = all.filter((l) => l.msg === 'request');
    assert.deepEqual(
      access.map((l) => [l.method, l.path, l.status]),
      [
        ['GET', '/ok', 200],
        ['GET', '/missing', 404],
        ['GET', '/boom', 503],
      ],
    );
    for (const l of access) {
      assert.deepEqual(l.client, CLIENT);
      assert.equal(l.conn, httpLine.conn);
      assert.ok((l.bytes as number) > 0 && typeof l.ms === 'number');
    }
    assert.ok(!sidecar.output().includes('secret'), 'the query string is never logged');

    // /metrics: the documented table, exactly.
    const families = parseExposition(await scrape(sidecar.adminPort));
    const doc = documentedMetrics('Sidecar');
    const expected = doc
      .filter((d) => ['always', 'an http listener', 'a tcp or transparent listener'].includes(d.when))
      .map((d) => d.name);
    assert.deepEqual([...families.keys()].sort(), expected.sort());
    for (const d of doc) {
      const f = families.get(d.name);
      if (!f) continue;
      assert.equal(f.type, d.type, `type of ${d.name}`);
      if (f.samples.length > 0) assert.deepEqual([...f.labels].sort(), d.labels, `labels of ${d.name}`);
    }
    // Label values identical across modes.
    for (const mode of ['http', 'tcp']) {
      assert.deepEqual(labelValues(families, 'realip_bytes_total', 'direction', { mode }), [
        'to_app',
        'to_client',
      ]);
      assert.deepEqual(labelValues(families, 'realip_connections_closed_total', 'reason', { mode }), [
        'client_closed',
        'refused',
      ]);
      assert.deepEqual(labelValues(families, 'realip_proxy_connections_total', 'outcome', { mode }), [
        'missing',
        'proxy',
      ]);
    }
    const m = (family: string, suffix: string, where: Record<string, string>) =>
      sample(families, family, suffix, where);
    assert.equal(m('realip_bytes_total', '', { mode: 'http', direction: 'to_app' }), reqs.length);
    assert.equal(m('realip_bytes_total', '', { mode: 'tcp', direction: 'to_app' }), 5);
    // Histograms count, in both modes.
    const http_ = { listener: String(httpPort), mode: 'http' };
    const tcp_ = { listener: String(tcpPort), mode: 'tcp' };
    assert.equal(m('realip_connection_duration_seconds', '_count', http_), 1);
    assert.equal(m('realip_connection_duration_seconds', '_count', tcp_), 2);
    assert.equal(m('realip_connection_duration_seconds', '_bucket', { ...tcp_, le: '+Inf' }), 2);
    assert.equal(m('realip_app_connect_duration_seconds', '_count', http_), 1);
    assert.equal(m('realip_app_connect_duration_seconds', '_count', tcp_), 2);
    for (const status_class of ['2xx', '4xx', '5xx']) {
      assert.equal(m('realip_http_requests_total', '', { ...http_, status_class }), 1, status_class);
      assert.equal(m('realip_http_request_duration_seconds', '_count', { ...http_, status_class }), 1);
    }
    assert.equal(m('realip_http_requests_total', '', { ...http_, status_class: '3xx' }), 0);
    assert.deepEqual(labelValues(families, 'realip_http_requests_total', 'status_class'), [
      '1xx',
      '2xx',
      '3xx',
      '4xx',
      '5xx',
      'none',
    ]);
    assert.equal(m('realip_active_connections', '', http_), 0);
    assert.equal(m('realip_http_requests_in_flight', '', http_), 0);
    assert.equal(m('realip_build_info', '', { component: 'sidecar' }), 1);
    assert.ok(m('process_resident_memory_bytes', '', {})! > 10_000_000);
    assert.ok(m('process_cpu_seconds_total', '', {})! > 0);
  });

  test('--log-connections sample:N writes one line in N and says how many it left out', async () => {
    const appPort = (tcpApp.address() as net.AddressInfo).port;
    const port = await freePortBelowEphemeral();
    const sampled = await startSidecar({
      listeners: [`tcp:${port}:${appPort}`],
      args: ['--log-connections', 'sample:3'],
    });
    try {
      for (let i = 0; i < 7; i++)
        await exchange(port, Buffer.concat([headerV2(41000 + i), Buffer.from('x')]), 50);
      await sleep(300);
      const closed = lines(sampled.output()).filter((l) => l.msg === 'connection closed');
      assert.deepEqual(
        closed.map((l) => [(l.client as { port: number }).port, l.suppressed]),
        [
          [41000, undefined],
          [41003, 2],
          [41006, 2],
        ],
      );
      const families = parseExposition(await scrape(sampled.adminPort));
      assert.equal(sample(families, 'realip_connections_closed_total', '', { reason: 'client_closed' }), 7);
    } finally {
      await sampled.stop();
    }
  });
});
