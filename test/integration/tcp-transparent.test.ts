// transparent mode in network namespaces made here (root): a client namespace (198.51.100.7,
// 2001:db8::7), an edge namespace running HAProxy send-proxy-v2, and a "pod" namespace running
// `realip sidecar` with a transparent listener and an unmodified app that answers with the peer
// address it sees. The app must see the client. Also: our encoder as the edge (client port reuse
// -> port fallback), and the start failures without the routing and without the capability.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Defaults } from '../../common/contract.ts';
import { CLOSE_REASONS } from '../../sidecar/close-reasons.ts';
import { encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { fixCommands } from '../../sidecar/tcp/preflight.ts';
import { documentedMetrics, labelValues, parseExposition, sample } from '../support/metrics-doc.ts';
import { requireTool } from '../../devkit/tools.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';
import { CLI, ROOT, startHaproxy, startProc } from '../support/tcp.ts';

const tag = randomBytes(3).toString('hex');
const NS = { client: `rip-${tag}-c`, edge: `rip-${tag}-e`, pod: `rip-${tag}-p`, bare: `rip-${tag}-b` };
const APP_PORT = 6379;
const SIDECAR_PORT = 15001;
const EDGE_PORT = 8080;
const CLIENT_SCRIPT = join(ROOT, 'test/support/tcp-client.ts');
const APP_SCRIPT =
  "require('net').createServer({allowHalfOpen:true},(s)=>{s.write(s.remoteAddress+' '+s.remotePort+'\\n');s.on('error',()=>{});s.pipe(s)})" +
  `.listen(${APP_PORT},'::')`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}
function inNs(ns: string, ...args: string[]): void {
  ip('netns', 'exec', ns, ...args);
}
function nsPrefix(ns: string): string[] {
  return ['ip', 'netns', 'exec', ns];
}

function clientRun(ns: string, o: Record<string, unknown>): string[] {
  const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, CLIENT_SCRIPT, JSON.stringify(o)], {
    encoding: 'utf8',
    timeout: 20000,
  });
  if (r.status !== 0) throw new Error(`client failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

// Everything started, stopped in reverse at the end (the sidecar and its peers).
const procs: Array<{ stop(): Promise<void> }> = [];
let sidecar: Sidecar;

function makeNamespaces(): void {
  for (const ns of Object.values(NS)) ip('netns', 'add', ns);
  for (const ns of Object.values(NS)) inNs(ns, 'ip', 'link', 'set', 'lo', 'up');
  // client <-> edge
  ip(
    'link',
    'add',
    `rc${tag}`,
    'netns',
    NS.client,
    'type',
    'veth',
    'peer',
    'name',
    `re${tag}`,
    'netns',
    NS.edge,
  );
  inNs(NS.client, 'ip', 'addr', 'add', '198.51.100.7/24', 'dev', `rc${tag}`);
  inNs(NS.client, 'ip', '-6', 'addr', 'add', '2001:db8::7/64', 'dev', `rc${tag}`, 'nodad');
  inNs(NS.client, 'ip', 'link', 'set', `rc${tag}`, 'up');
  inNs(NS.edge, 'ip', 'addr', 'add', '198.51.100.1/24', 'dev', `re${tag}`);
  inNs(NS.edge, 'ip', '-6', 'addr', 'add', '2001:db8::1/64', 'dev', `re${tag}`, 'nodad');
  inNs(NS.edge, 'ip', 'link', 'set', `re${tag}`, 'up');
  // edge <-> pod
  ip(
    'link',
    'add',
    `rf${tag}`,
    'netns',
    NS.edge,
    'type',
    'veth',
    'peer',
    'name',
    `rp${tag}`,
    'netns',
    NS.pod,
  );
  inNs(NS.edge, 'ip', 'addr', 'add', '10.99.0.1/24', 'dev', `rf${tag}`);
  inNs(NS.edge, 'ip', 'link', 'set', `rf${tag}`, 'up');
  inNs(NS.pod, 'ip', 'addr', 'add', '10.99.0.2/24', 'dev', `rp${tag}`);
  inNs(NS.pod, 'ip', 'link', 'set', `rp${tag}`, 'up');
  // The pod's policy routing, exactly as `realip init` installs it (and the preflight message says).
  for (const cmd of fixCommands(Defaults.transparentRouteTable, true)) inNs(NS.pod, ...cmd.split(' '));
}

function removeNamespaces(): void {
  for (const ns of Object.values(NS)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
}

before(async () => {
  requireTool('ip');
  requireTool('haproxy');
  removeNamespaces();
  makeNamespaces();
  procs.push(startProc(process.execPath, ['-e', APP_SCRIPT], nsPrefix(NS.pod)));
  sidecar = await startSidecar({
    listeners: [`transparent:${SIDECAR_PORT}:${APP_PORT}`],
    trusted: '10.99.0.1/32',
    prefix: nsPrefix(NS.pod),
    // In the pod namespace the admin port is out of reach from here: wait for the log line.
    ready: 'log',
  });
  procs.push(sidecar);
  procs.push(
    await startHaproxy(
      `defaults
  mode tcp
  timeout connect 5s
  timeout client 10s
  timeout server 10s
listen edge
  bind 0.0.0.0:${EDGE_PORT}
  bind :::${EDGE_PORT} v6only
  server pod 10.99.0.2:${SIDECAR_PORT} send-proxy-v2
`,
      [],
      nsPrefix(NS.edge),
    ),
  );
  await sleep(500);
});

after(async () => {
  for (const p of procs.reverse()) await p.stop();
  removeNamespaces();
});

describe('transparent mode: the unmodified app sees the client', () => {
  for (const [family, edgeAddr, clientAddr] of [
    ['IPv4', '198.51.100.1', '198.51.100.7'],
    ['IPv6', '2001:db8::1', '2001:db8::7'],
  ] as const) {
    test(`${family}: client ${clientAddr} -> HAProxy send-proxy-v2 -> sidecar -> app peer is ${clientAddr}`, () => {
      const [line] = clientRun(NS.client, { host: edgeAddr, port: EDGE_PORT });
      const [addr, port] = (line ?? '').replace(/^::ffff:/, '').split(' ');
      assert.equal(addr, clientAddr, `app saw "${line}"\n${sidecar.output()}`);
      assert.ok(Number(port) > 1024, `client port ${port}`);
    });
  }

  test('our encoder as the edge: the exact client address and port; a port still in use falls back to another port', async () => {
    const header = encodeV2({
      family: 'TCP4',
      source: { address: '198.51.100.9', port: 41000 },
      destination: { address: '10.99.0.2', port: SIDECAR_PORT },
    }).toString('hex');
    // Two connections at once with the same client address and port: the second cannot use it.
    const lines = clientRun(NS.edge, { host: '10.99.0.2', port: SIDECAR_PORT, header, count: 2 }).sort();
    const ports = lines.map((l) => l.replace(/^::ffff:/, '').split(' '));
    assert.deepEqual(
      ports.map((p) => p[0]),
      ['198.51.100.9', '198.51.100.9'],
    );
    assert.ok(
      ports.some((p) => p[1] === '41000'),
      `one connection keeps the client port: ${lines}`,
    );
    assert.ok(
      ports.some((p) => p[1] !== '41000'),
      `the other falls back: ${lines}`,
    );
    const m = spawnSync(
      'ip',
      [...nsPrefix(NS.pod).slice(1), 'curl', '-s', `http://127.0.0.1:${sidecar.adminPort}/metrics`],
      { encoding: 'utf8' },
    );
    assert.match(m.stdout, /realip_transparent_port_fallbacks_total 1\b/);
    assert.match(
      m.stdout,
      /realip_bytes_total\{listener="\d+",mode="transparent",direction="to_client"\} [1-9]/,
    );
  });

  test('logs and metrics: the documented families, the same label values and log fields as http and tcp', async () => {
    // The close lines are written once both sockets are closed, and pino writes asynchronously.
    const closedLines = () =>
      sidecar
        .output()
        .split('\n')
        .filter((l) => l.includes('"msg":"connection closed"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    const until = Date.now() + 10_000;
    while (!closedLines().some((l) => (l.client as { address: string }).address === '198.51.100.9')) {
      assert.ok(Date.now() < until, `no connection closed line for 198.51.100.9:\n${sidecar.output()}`);
      await sleep(50);
    }
    const m = spawnSync(
      'ip',
      [...nsPrefix(NS.pod).slice(1), 'curl', '-s', `http://127.0.0.1:${sidecar.adminPort}/metrics`],
      { encoding: 'utf8' },
    );
    const families = parseExposition(m.stdout);
    const doc = documentedMetrics('Sidecar');
    const expected = doc.filter((d) =>
      ['always', 'a transparent listener', 'a tcp or transparent listener'].includes(d.when),
    );
    assert.deepEqual([...families.keys()].sort(), expected.map((d) => d.name).sort());
    for (const d of expected) {
      const f = families.get(d.name)!;
      assert.equal(f.type, d.type, d.name);
      if (f.samples.length > 0) assert.deepEqual([...f.labels].sort(), d.labels, `labels of ${d.name}`);
    }
    const mode = { mode: 'transparent' };
    assert.deepEqual(labelValues(families, 'realip_bytes_total', 'direction', mode), ['to_app', 'to_client']);
    const reasons = labelValues(families, 'realip_connections_closed_total', 'reason', mode);
    assert.ok(reasons.includes('client_closed'), reasons.join());
    for (const r of reasons) assert.ok((CLOSE_REASONS as readonly string[]).includes(r), r);
    assert.ok(sample(families, 'realip_connection_duration_seconds', '_count', mode)! >= 3);
    assert.ok(sample(families, 'realip_app_connect_duration_seconds', '_count', mode)! >= 3);
    const closed = closedLines();
    const ours = closed.find((l) => (l.client as { address: string }).address === '198.51.100.9');
    assert.ok(ours, sidecar.output());
    assert.equal(ours.mode, 'transparent');
    assert.equal(ours.listener, SIDECAR_PORT);
    assert.equal((ours.edge as { address: string }).address, '10.99.0.1');
    assert.deepEqual(ours.proxy, { version: 2, command: 'PROXY', family: 'TCP4', tlvs: [] });
    assert.ok(closed.some((l) => (l.extra as { portFallback?: boolean } | undefined)?.portFallback === true));
    for (const k of ['conn', 'outcome', 'toApp', 'toClient', 'ms', 'reason']) assert.ok(k in ours, k);
  });
});

describe('transparent mode: stream semantics through the transparent socket', () => {
  test('8 MiB echoed byte-exact after the client half-closes (sha256), IPv6 client', () => {
    const [line, back, sent] = clientRun(NS.client, {
      host: '2001:db8::1',
      port: EDGE_PORT,
      echo: 8 * 1024 * 1024,
    });
    assert.match(line ?? '', /^2001:db8::7 \d+$/);
    assert.equal(back, sent, 'what came back is what was sent');
  });
});

describe('transparent mode refuses to start when it cannot work', () => {
  test('without the policy routing: exit 1 before listening, naming the missing rule and the fix', async () => {
    const p = startProc(
      process.execPath,
      [
        CLI,
        'sidecar',
        '--listener',
        `transparent:${SIDECAR_PORT}:${APP_PORT}`,
        '--trusted-cidrs',
        '10.0.0.0/8',
      ],
      nsPrefix(NS.bare),
    );
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
    const code = await p.exited;
    clearTimeout(timer);
    const out = p.output();
    assert.equal(code, 1, out);
    assert.match(out, /TCP_ROUTING_MISSING/);
    assert.match(out, /from 127\.0\.0\.1\/8 iif lo lookup 15100/);
    assert.match(out, /ip route add local 0\.0\.0\.0\/0 dev lo table 15100/);
    assert.match(out, /ip -6 rule add from ::1\/128 iif lo table 15100/);
    assert.doesNotMatch(out, /sidecar ready/);
  });

  test('after `realip init --listener transparent:...` in that namespace the sidecar starts (the contract)', async () => {
    const init = spawnSync(
      'ip',
      [
        'netns',
        'exec',
        NS.bare,
        process.execPath,
        CLI,
        'init',
        '--listener',
        `transparent:${SIDECAR_PORT}:${APP_PORT}`,
      ],
      { encoding: 'utf8', timeout: 30000 },
    );
    assert.equal(init.status, 0, `realip init failed: ${init.stdout}${init.stderr}`);
    const sc = await startSidecar({
      listeners: [`transparent:${SIDECAR_PORT}:${APP_PORT}`],
      trusted: '10.0.0.0/8',
      prefix: nsPrefix(NS.bare),
      ready: 'log',
    });
    await sc.stop();
    assert.match(sc.output(), /sidecar ready/);
  });

  test('without NET_ADMIN and NET_RAW: exit 1 with TCP_NO_CAPABILITY', async () => {
    const setpriv = requireTool('setpriv');
    const p = startProc(
      setpriv,
      [
        '--inh-caps=-all',
        '--bounding-set=-net_admin,-net_raw',
        process.execPath,
        CLI,
        'sidecar',
        '--listener',
        `transparent:${SIDECAR_PORT + 1}:${APP_PORT}`,
        '--trusted-cidrs',
        '10.0.0.0/8',
        '--admin-port',
        '15022',
      ],
      nsPrefix(NS.pod),
    );
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10000);
    const code = await p.exited;
    clearTimeout(timer);
    const out = p.output();
    assert.equal(code, 1, out);
    assert.match(out, /TCP_NO_CAPABILITY/);
    assert.match(out, /NET_ADMIN or NET_RAW/);
    assert.doesNotMatch(out, /missing policy rule/, 'the routing is in place in this namespace');
  });
});
