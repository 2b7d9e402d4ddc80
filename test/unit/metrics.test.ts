// The metrics registry (labelled histograms render cumulative buckets), the webhook's /metrics
// against docs/metrics.md, --log-connections, the access log's path bound, and the close-reason
// vocabulary against docs/sidecar.md.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Registry } from '../../common/metrics.ts';
import { loggedPath, MAX_LOGGED_PATH } from '../../sidecar/http/access-log.ts';
import { CLOSE_REASONS } from '../../sidecar/close-reasons.ts';
import { LogGate, parseLogConnections } from '../../sidecar/log-gate.ts';
import { createSidecarMetrics } from '../../sidecar/metrics.ts';
import { tlvNames } from '../../sidecar/observer.ts';
import { silentLogger } from '../../common/logger.ts';
import { EventRecorder } from '../../webhook/events.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { documentedMetrics, parseExposition, sample } from '../support/metrics-doc.ts';

test('a labelled histogram renders cumulative buckets, +Inf, sum and count per series', () => {
  const r = new Registry();
  const h = r.histogram('x_seconds', 'x', [0.1, 1]);
  const a = h.series({ mode: 'http' });
  a.observe(0.05);
  a.observe(0.5);
  a.observe(5);
  h.observe(0.2, { mode: 'tcp' });
  const f = parseExposition(r.render());
  const at = (le: string, mode: string) => sample(f, 'x_seconds', '_bucket', { le, mode });
  assert.deepEqual([at('0.1', 'http'), at('1', 'http'), at('+Inf', 'http')], [1, 2, 3]);
  assert.deepEqual([at('0.1', 'tcp'), at('1', 'tcp'), at('+Inf', 'tcp')], [0, 1, 1]);
  assert.equal(sample(f, 'x_seconds', '_count', { mode: 'http' }), 3);
  assert.equal(sample(f, 'x_seconds', '_sum', { mode: 'http' }), 5.55);
  assert.equal(h.count({ mode: 'tcp' }), 1);
});

test('a metric name cannot be registered twice', () => {
  const r = new Registry();
  r.counter('a_total', 'a');
  assert.throws(() => r.gauge('a_total', 'again'), /registered twice/);
});

test('the webhook exposes exactly the documented metrics, with the documented types and labels', () => {
  const m = createWebhookMetrics();
  m.admissions.inc({ result: 'injected', reason: 'INJ_INJECTED' });
  m.duration.observe(0.001);
  m.tlsReloads.inc();
  m.certExpiry.set(1_900_000_000);
  new EventRecorder({ send: async () => {}, log: silentLogger(), registry: m.registry }).record(
    { uid: 'u', namespace: 'shop', object: {} } as never,
    { result: 'skipped', reasons: ['INJ_SKIP_NO_PORTS'] } as never,
  );
  const exposed = parseExposition(m.registry.render());
  const doc = documentedMetrics('Webhook');
  assert.deepEqual([...exposed.keys()].sort(), doc.map((d) => d.name).sort());
  for (const d of doc) {
    const f = exposed.get(d.name)!;
    assert.equal(f.type, d.type, d.name);
    assert.deepEqual([...f.labels].sort(), d.labels, `labels of ${d.name}`);
  }
  assert.equal(sample(exposed, 'realip_build_info', '', { component: 'webhook' }), 1);
  assert.ok(sample(exposed, 'process_resident_memory_bytes', '', {})! > 10_000_000);
  assert.ok(sample(exposed, 'process_open_fds', '', {})! > 2);
  assert.ok(sample(exposed, 'process_max_fds', '', {})! >= sample(exposed, 'process_open_fds', '', {})!);
  const start = sample(exposed, 'process_start_time_seconds', '', {})!;
  assert.ok(Math.abs(start - (Date.now() / 1000 - process.uptime())) < 2, `start time ${start}`);
});

test('nodejs_eventloop_lag_seconds sees a blocked loop, then resets at the next scrape', async () => {
  const m = createSidecarMetrics();
  await new Promise((r) => setTimeout(r, 250));
  const t = Date.now();
  while (Date.now() - t < 300);
  await new Promise((r) => setTimeout(r, 150));
  const first = parseExposition(m.registry.render());
  assert.ok(sample(first, 'nodejs_eventloop_lag_max_seconds', '', {})! >= 0.15);
  await new Promise((r) => setTimeout(r, 350));
  const second = parseExposition(m.registry.render());
  assert.ok(sample(second, 'nodejs_eventloop_lag_max_seconds', '', {})! < 0.1);
});

test('--log-connections: all, none, sample:N, rate:N, and refused values', () => {
  assert.deepEqual(parseLogConnections('all'), { kind: 'all' });
  assert.deepEqual(parseLogConnections('sample:10'), { kind: 'sample', every: 10 });
  assert.deepEqual(parseLogConnections('rate:5/s'), { kind: 'rate', perSecond: 5 });
  for (const bad of ['sample:0', 'sample:x', 'rate:', 'sample:3/s', 'some', 'rate:-1'])
    assert.equal(typeof parseLogConnections(bad), 'string', bad);

  const sampled = new LogGate({ kind: 'sample', every: 3 });
  assert.deepEqual(
    Array.from({ length: 7 }, () => sampled.allow(0)),
    [true, false, false, true, false, false, true],
  );
  assert.equal(sampled.takeSuppressed(), 4);
  assert.equal(sampled.takeSuppressed(), 0);

  const rated = new LogGate({ kind: 'rate', perSecond: 2 });
  assert.deepEqual(
    [rated.allow(0), rated.allow(10), rated.allow(999), rated.allow(1000), rated.allow(1001)],
    [true, true, false, true, true],
  );
  assert.equal(new LogGate({ kind: 'none' }).allow(0), false);
});

test('the access log path leaves the query out and is bounded', () => {
  const b = (s: string) => Buffer.from(s, 'latin1');
  assert.equal(loggedPath(b('/a/b?token=secret'), 0, 17), '/a/b');
  assert.equal(loggedPath(b('xx/p'), 2, 4), '/p');
  const long = `/${'x'.repeat(1000)}`;
  const p = loggedPath(b(long), 0, long.length);
  assert.equal(p.length, MAX_LOGGED_PATH + 3);
  assert.ok(p.endsWith('...'));
});

test('TLV names: known types by name, others as 0xNN, each once', () => {
  const tlvs = [0x02, 0xea, 0x02, 0xc3, 0x05].map((type) => ({ type, value: Buffer.alloc(0) }));
  const header = { version: 2, command: 'PROXY', family: 'TCP4', tlvs } as const;
  assert.deepEqual(tlvNames(header as never), ['authority', 'aws', '0xc3', 'unique_id']);
  assert.deepEqual(tlvNames(undefined), []);
});

test('every close reason is documented in docs/sidecar.md, and no undocumented one is', () => {
  const doc = readFileSync(new URL('../../docs/sidecar.md', import.meta.url), 'utf8');
  const start = doc.indexOf('#### Close reasons');
  assert.ok(start >= 0, 'docs/sidecar.md has a "#### Close reasons" section');
  const section = doc.slice(start, doc.indexOf('\n#', start + 5));
  const listed = [...section.matchAll(/^- `([a-z_]+)`/gm)].map((m) => m[1]);
  assert.deepEqual(listed, [...CLOSE_REASONS]);
});
