/**
 * `npm run bench:tcp`: the tcp hop side by side with nginx stream and HAProxy, each re-emitting
 * PROXY to a backend, each pinned to one core (taskset -c 1) while the load and the backend run on
 * core 0. Then the transparent hop in a network namespace (go-mmproxy when it is installed in
 * $HOME/.cache/realip-tools; see docs/tcp.md).
 *
 *   bulk      4 connections uploading for DURATION s: MB/s and proxy CPU seconds per GB
 *   connect   50 concurrent loops of connect, header + 1 byte, 1-byte reply, close: conn/s and
 *             proxy CPU microseconds per connection
 *   rss       proxy resident memory (whole process tree) with 1000 connections open
 *
 * realip runs three times: splice relay, JS relay, and splice relay with --log-connections none
 * (its default writes one "connection closed" line per connection; nginx stream writes none).
 *
 * Then issue 17's goals, each with its figures, ratios and "met" or "missed" (one run: the
 * machine's noise is in the spread between runs, not in these lines).
 *
 * Env: BENCH_SECONDS (default 4), BENCH_CONNS (default 1000), BENCH_SKIP_TRANSPARENT=1,
 * BENCH_SIDECAR_NODE_OPTIONS (NODE_OPTIONS for the sidecar only, in place of the image's). The
 * sidecar runs as its image runs it (bench/lib/images.ts: the bundle, the Dockerfile's ENV).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freeEphemeralPort } from '../devkit/ports.ts';
import { encodeV2 } from '../sidecar/proxy-protocol/encode.ts';
import { sidecarImage } from './lib/images.ts';

const ROOT = new URL('..', import.meta.url).pathname;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const CONNS = Number(process.env.BENCH_CONNS ?? 1000);
let ENTRY = '';
/** The image's environment; BENCH_SIDECAR_NODE_OPTIONS replaces its NODE_OPTIONS. */
let SIDECAR_ENV: NodeJS.ProcessEnv = process.env;
const TICKS = 100; // USER_HZ
const PROXY_CORE = '1';
const LOAD_CORE = '0';

// ---------- process accounting ----------
function stat(pid: number): { ppid: number; cpu: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / TICKS };
  } catch {
    return undefined;
  }
}
function tree(root: number): number[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const s = stat(Number(d));
    if (s) parent.set(Number(d), s.ppid);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) for (const [p, pp] of parent) if (pp === out[i]) out.push(p);
  return out;
}
const cpuOf = (root: number) => tree(root).reduce((a, p) => a + (stat(p)?.cpu ?? 0), 0);
function rssMiB(root: number): number {
  let kib = 0;
  for (const p of tree(root)) {
    try {
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
    } catch {}
  }
  return kib / 1024;
}

// ---------- cleanup on every exit path ----------
/**
 * What must not outlive the bench: child pids and network namespaces. Undone synchronously on
 * exit, whatever the path (normal end, error, SIGINT/SIGTERM): an exit handler cannot wait.
 */
const livePids = new Set<number>();
const liveNamespaces = new Set<string>();
const liveLinks = new Set<string>();
let cleaned = false;
function cleanupNow(): void {
  if (cleaned) return;
  cleaned = true;
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const ns of liveNamespaces) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  for (const link of liveLinks) spawnSync('ip', ['link', 'del', link], { stdio: 'ignore' });
}
process.on('exit', cleanupNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    process.stderr.write(`\nbench:tcp: ${sig}, cleaning up\n`);
    cleanupNow();
    process.exit(130);
  });
}

/** Rejects when `p` has not settled within `ms` (a stuck peer must end the bench, not hang it). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

// ---------- processes ----------
interface Started {
  pid: number;
  stop(): Promise<void>;
}
function launch(cmd: string[], env: NodeJS.ProcessEnv = process.env): Started {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], env });
  if (child.pid !== undefined) livePids.add(child.pid);
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err = (err + d.toString()).slice(-4000);
  });
  child.on('exit', (code) => {
    if (child.pid !== undefined) livePids.delete(child.pid);
    if (code && code !== 0 && code !== 143) process.stderr.write(`${cmd.join(' ')} exited ${code}: ${err}\n`);
  });
  return {
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode !== null) return;
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    },
  };
}
async function waitPort(host: string, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host, port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${host}:${port} never answered`);
}

/** The backend (bench/tcp-backend.c, an epoll sink answering one byte), compiled on first use. */
function backendBinary(): string {
  const out = join(ROOT, 'node_modules/.cache/realip-bench/tcp-backend');
  const src = join(ROOT, 'bench/tcp-backend.c');
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, '..'), { recursive: true });
    execFileSync('gcc', ['-O2', '-o', out, src], { stdio: 'inherit' });
  }
  return out;
}

// ---------- load ----------
let clientPort = 1024;
function header(): Buffer {
  clientPort = clientPort >= 65000 ? 1024 : clientPort + 1;
  return encodeV2({
    family: 'TCP4',
    source: { address: `198.51.100.${(clientPort % 200) + 1}`, port: clientPort },
    destination: { address: '203.0.113.10', port: 443 },
  });
}
function openOne(host: string, port: number): Promise<net.Socket> {
  const opened = new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect({ host, port, noDelay: true }, () =>
      s.write(Buffer.concat([header(), Buffer.from('x')])),
    );
    s.once('data', () => resolve(s));
    s.once('error', reject);
    // A peer that closes without answering would otherwise leave this pending forever.
    s.once('close', () => reject(new Error(`${host}:${port} closed before answering`)));
  });
  return within(opened, 10_000, `connection to ${host}:${port}`);
}

async function bulk(host: string, port: number, proxyPid: number) {
  const block = Buffer.alloc(256 * 1024, 0x61);
  const socks = await Promise.all(Array.from({ length: 4 }, () => openOne(host, port)));
  let stop = false;
  for (const s of socks) {
    s.on('error', () => {});
    const pump = () => {
      while (!stop && s.write(block)) {}
      if (!stop) s.once('drain', pump);
    };
    pump();
  }
  await sleep(500);
  const sent = () => socks.reduce((a, s) => a + s.bytesWritten - s.writableLength, 0);
  const b0 = sent();
  const c0 = cpuOf(proxyPid);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const bytes = sent() - b0;
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuOf(proxyPid) - c0;
  stop = true;
  for (const s of socks) s.destroy();
  await sleep(300);
  return { mbps: bytes / 1e6 / secs, cpuPerGB: cpu / (bytes / 1e9) };
}

async function connectRate(host: string, port: number, proxyPid: number) {
  let stop = false;
  let done = 0;
  let errors = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ host, port, noDelay: true }, () =>
        s.write(Buffer.concat([header(), Buffer.from('x')])),
      );
      s.once('data', () => s.end());
      s.setTimeout(10_000, () => s.destroy());
      s.on('close', () => {
        done++;
        resolve();
      });
      s.on('error', () => {
        errors++;
      });
    });
  const loop = async () => {
    while (!stop) await one();
  };
  const loops = Array.from({ length: 50 }, loop);
  await sleep(500);
  const d0 = done;
  const c0 = cpuOf(proxyPid);
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const n = done - d0;
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuOf(proxyPid) - c0;
  stop = true;
  await within(Promise.all(loops), 30_000, 'the connect loops');
  await sleep(300);
  return { cps: n / secs, usPerConn: (cpu / n) * 1e6, errors };
}

async function rssAt(host: string, port: number, proxyPid: number) {
  const idle = rssMiB(proxyPid);
  const socks: net.Socket[] = [];
  for (let i = 0; i < CONNS; i += 50) {
    socks.push(
      ...(await Promise.all(Array.from({ length: Math.min(50, CONNS - i) }, () => openOne(host, port)))),
    );
  }
  await sleep(500);
  const open = rssMiB(proxyPid);
  for (const s of socks) s.destroy();
  await sleep(500);
  return { idle, open };
}

interface Row {
  name: string;
  mbps: number;
  cpuPerGB: number;
  cps: number;
  usPerConn: number;
  rssIdle: number;
  rssOpen: number;
  errors: number;
}
async function measure(name: string, host: string, port: number, proxy: Started): Promise<Row> {
  await waitPort(host, port);
  const r = await rssAt(host, port, proxy.pid);
  const c = await connectRate(host, port, proxy.pid);
  const b = await bulk(host, port, proxy.pid);
  const row = { name, ...b, ...c, rssIdle: r.idle, rssOpen: r.open };
  process.stdout.write(
    `  ${name.padEnd(26)} bulk ${b.mbps.toFixed(0).padStart(5)} MB/s ${b.cpuPerGB.toFixed(2).padStart(6)} CPU-s/GB | ` +
      `${c.cps.toFixed(0).padStart(5)} conn/s ${c.usPerConn.toFixed(0).padStart(4)} us CPU/conn | ` +
      `RSS ${r.idle.toFixed(1)} MiB idle, ${r.open.toFixed(1)} MiB at ${CONNS} conns${c.errors ? ` (${c.errors} errors)` : ''}\n`,
  );
  return row;
}

function ratios(ours: Row, peer: Row): string {
  return (
    `  ${ours.name} / ${peer.name}: bulk ${(ours.mbps / peer.mbps).toFixed(2)}x, CPU per GB ${(ours.cpuPerGB / peer.cpuPerGB).toFixed(2)}x, ` +
    `conn/s ${(ours.cps / peer.cps).toFixed(2)}x, CPU per conn ${(ours.usPerConn / peer.usPerConn).toFixed(2)}x, ` +
    `RSS at ${CONNS} ${(ours.rssOpen / peer.rssOpen).toFixed(2)}x`
  );
}

/** One goal of issue 17: its figures, ratios and whether they meet the bound. */
function goal(name: string, parts: readonly { what: string; ratio: number; ok: boolean }[]): string {
  const met = parts.every((p) => p.ok);
  const figures = parts.map((p) => `${p.what} ${p.ratio.toFixed(2)}x`).join(', ');
  return `  ${met ? 'met   ' : 'missed'} ${name}: ${figures}`;
}

function loopbackGoals(ours: Row, nginx: Row): string[] {
  const cps = ours.cps / nginx.cps;
  const cpc = ours.usPerConn / nginx.usPerConn;
  const bulk = ours.mbps / nginx.mbps;
  const gb = ours.cpuPerGB / nginx.cpuPerGB;
  return [
    goal('connections/s >= 0.9x nginx at <= 2x its CPU per connection', [
      { what: `conn/s ${ours.cps.toFixed(0)} vs ${nginx.cps.toFixed(0)}`, ratio: cps, ok: cps >= 0.9 },
      {
        what: `CPU per conn ${ours.usPerConn.toFixed(0)} vs ${nginx.usPerConn.toFixed(0)} us`,
        ratio: cpc,
        ok: cpc <= 2,
      },
    ]),
    goal('bulk >= 1.0x nginx stream at <= its CPU per GB', [
      { what: `bulk ${ours.mbps.toFixed(0)} vs ${nginx.mbps.toFixed(0)} MB/s`, ratio: bulk, ok: bulk >= 1 },
      {
        what: `CPU per GB ${ours.cpuPerGB.toFixed(2)} vs ${nginx.cpuPerGB.toFixed(2)} s`,
        ratio: gb,
        ok: gb <= 1,
      },
    ]),
    // In MiB, as every bench reports RSS (the issue's MB figures came from the same counting).
    goal(`RSS at ${CONNS} connections <= 64 MiB (image configuration)`, [
      {
        what: `RSS ${ours.rssOpen.toFixed(1)} vs ${nginx.rssOpen.toFixed(1)} MiB`,
        ratio: ours.rssOpen / nginx.rssOpen,
        ok: ours.rssOpen <= 64,
      },
    ]),
  ];
}

function transparentGoal(t: Row, tcp: Row): string {
  const bulk = t.mbps / tcp.mbps;
  const gb = t.cpuPerGB / tcp.cpuPerGB;
  return goal("transparent hop's bulk and CPU per GB within 10% of the tcp hop's, same path", [
    { what: `bulk ${t.mbps.toFixed(0)} vs ${tcp.mbps.toFixed(0)} MB/s`, ratio: bulk, ok: bulk >= 0.9 },
    { what: `CPU per GB ${t.cpuPerGB.toFixed(2)} vs ${tcp.cpuPerGB.toFixed(2)} s`, ratio: gb, ok: gb <= 1.1 },
  ]);
}

function need(tool: string): void {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    throw new Error(`bench:tcp needs "${tool}" (run: bash test/setup.sh)`);
  }
}

async function loopbackSuite(): Promise<Row[]> {
  for (const t of ['taskset', 'nginx', 'haproxy']) need(t);
  const dir = mkdtempSync(join(tmpdir(), 'realip-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const backendPort = await freeEphemeralPort();
  const backend = launch(['taskset', '-c', LOAD_CORE, backendBinary(), String(backendPort), '127.0.0.1']);
  const rows: Row[] = [];
  try {
    await waitPort('127.0.0.1', backendPort);

    // The third row is the first with no "connection closed" line per connection (the default,
    // --log-connections all, writes one; nginx stream writes none): what that line costs.
    const variants = [
      { name: 'realip tcp, splice relay', relay: 'splice', extra: [] },
      { name: 'realip tcp, js relay', relay: 'js', extra: [] },
      { name: 'realip tcp, splice, no conn log', relay: 'splice', extra: ['--log-connections', 'none'] },
    ] as const;
    for (const { name, relay, extra } of variants) {
      const rp = await freeEphemeralPort();
      const realip = launch(
        [
          'taskset',
          '-c',
          PROXY_CORE,
          process.execPath,
          ENTRY,
          'sidecar',
          '--listener',
          `tcp:${rp}:${backendPort}`,
          '--trusted-cidrs',
          '127.0.0.0/8',
          '--admin-port',
          String(await freeEphemeralPort()),
          '--admin-host',
          '127.0.0.1',
          '--tcp-relay',
          relay,
          ...extra,
        ],
        SIDECAR_ENV,
      );
      rows.push(await measure(name, '127.0.0.1', rp, realip));
      await realip.stop();
    }

    const np = await freeEphemeralPort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
worker_rlimit_nofile 20000;
events { worker_connections 10000; }
stream { server { listen 127.0.0.1:${np} proxy_protocol; proxy_pass 127.0.0.1:${backendPort}; proxy_protocol on; } }
`,
    );
    const nginx = launch([
      'taskset',
      '-c',
      PROXY_CORE,
      'nginx',
      '-p',
      dir,
      '-c',
      join(dir, 'nginx.conf'),
      '-e',
      'stderr',
      '-g',
      `daemon off; pid ${dir}/pid; error_log stderr crit;`,
    ]);
    rows.push(await measure('nginx stream (proxy_protocol)', '127.0.0.1', np, nginx));
    await nginx.stop();

    const hp = await freeEphemeralPort();
    writeFileSync(
      join(dir, 'haproxy.cfg'),
      `global
  nbthread 1
  maxconn 8000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen bench
  bind 127.0.0.1:${hp} accept-proxy
  server app 127.0.0.1:${backendPort} send-proxy-v2
`,
    );
    const haproxy = launch(['taskset', '-c', PROXY_CORE, 'haproxy', '-f', join(dir, 'haproxy.cfg'), '-db']);
    rows.push(await measure('HAProxy (send-proxy-v2)', '127.0.0.1', hp, haproxy));
    await haproxy.stop();
  } finally {
    await backend.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** The transparent hop: bench (root namespace) -> veth -> pod namespace (sidecar + backend). */
async function transparentSuite(): Promise<Row[]> {
  need('ip');
  const tag = Math.random().toString(16).slice(2, 8);
  const pod = `ripb-${tag}`;
  const veth = `rb${tag}`;
  const ip = (...a: string[]) => execFileSync('ip', a, { stdio: 'ignore' });
  const inPod = ['ip', 'netns', 'exec', pod];
  const rows: Row[] = [];
  const started: Started[] = [];
  try {
    liveNamespaces.add(pod);
    liveLinks.add(veth);
    ip('netns', 'add', pod);
    ip('-n', pod, 'link', 'set', 'lo', 'up');
    ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`, 'netns', pod);
    ip('addr', 'add', '10.98.0.1/24', 'dev', veth);
    ip('link', 'set', veth, 'up');
    ip('-n', pod, 'addr', 'add', '10.98.0.2/24', 'dev', `${veth}p`);
    ip('-n', pod, 'link', 'set', `${veth}p`, 'up');
    ip('-n', pod, 'rule', 'add', 'from', '127.0.0.1/8', 'iif', 'lo', 'table', '15100');
    ip('-n', pod, 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '15100');
    ip('-n', pod, '-6', 'rule', 'add', 'from', '::1/128', 'iif', 'lo', 'table', '15100');
    ip('-n', pod, '-6', 'route', 'add', 'local', '::/0', 'dev', 'lo', 'table', '15100');
    const backend = launch([...inPod, 'taskset', '-c', LOAD_CORE, backendBinary(), '7000', '::']);
    started.push(backend);
    const hop = async (mode: 'transparent' | 'tcp', port: number, relay: 'splice' | 'js', name: string) => {
      const p = launch(
        [
          ...inPod,
          'taskset',
          '-c',
          PROXY_CORE,
          process.execPath,
          ENTRY,
          'sidecar',
          '--listener',
          `${mode}:${port}:7000`,
          '--trusted-cidrs',
          '10.98.0.1/32',
          '--tcp-relay',
          relay,
        ],
        SIDECAR_ENV,
      );
      started.push(p);
      await sleep(1500);
      rows.push(await measure(name, '10.98.0.2', port, p));
      await p.stop();
    };
    await hop('transparent', 15001, 'splice', 'realip transparent, splice');
    await hop('tcp', 15002, 'splice', 'realip tcp, same path');
    await hop('transparent', 15004, 'js', 'realip transparent, js');
    const mm = join(homedir(), '.cache/realip-tools/go-mmproxy');
    if (existsSync(mm)) {
      const allowed = join(tmpdir(), `ripb-${tag}-allowed`);
      writeFileSync(allowed, '10.98.0.1/32\n');
      process.on('exit', () => rmSync(allowed, { force: true }));
      const gomm = launch([
        ...inPod,
        'taskset',
        '-c',
        PROXY_CORE,
        mm,
        '-l',
        '0.0.0.0:15003',
        '-4',
        '127.0.0.1:7000',
        '-6',
        '[::1]:7000',
        '-allowed-subnets',
        allowed,
      ]);
      started.push(gomm);
      await sleep(1000);
      rows.push(await measure('go-mmproxy', '10.98.0.2', 15003, gomm));
      await gomm.stop();
      rmSync(allowed, { force: true });
    } else {
      process.stdout.write(
        `  go-mmproxy: not available (${mm} missing; "go install github.com/kzemek/go-mmproxy@latest" ` +
          'and path-network/go-mmproxy are not served by the Go module proxy here)\n',
      );
    }
  } finally {
    for (const s of started) await s.stop();
    spawnSync('ip', ['netns', 'del', pod], { stdio: 'ignore' });
    spawnSync('ip', ['link', 'del', veth], { stdio: 'ignore' });
    liveNamespaces.delete(pod);
    liveLinks.delete(veth);
  }
  return rows;
}

async function main(): Promise<void> {
  // The load and this process's threads on core 0; each proxy on core 1.
  spawnSync('taskset', ['-a', '-cp', LOAD_CORE, String(process.pid)], { stdio: 'ignore' });
  const image = await sidecarImage();
  ENTRY = image.entry;
  SIDECAR_ENV = process.env.BENCH_SIDECAR_NODE_OPTIONS
    ? { ...image.env, NODE_OPTIONS: process.env.BENCH_SIDECAR_NODE_OPTIONS }
    : image.env;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(
    `bench:tcp  ${SECONDS}s per measurement, proxy on core ${PROXY_CORE}, load on core ${LOAD_CORE}\nsidecar: ${ENTRY.replace(ROOT, '')}; load average before: ${load}\n\nloopback: client -> proxy (PROXY v2 in, PROXY v2/v1 out) -> backend\n`,
  );
  const loop = await loopbackSuite();
  const row = (rows: Row[], name: string) => rows.find((r) => r.name === name);
  const splice = row(loop, 'realip tcp, splice relay');
  const js = row(loop, 'realip tcp, js relay');
  const quiet = row(loop, 'realip tcp, splice, no conn log');
  const nginx = row(loop, 'nginx stream (proxy_protocol)');
  const haproxy = row(loop, 'HAProxy (send-proxy-v2)');
  process.stdout.write('\nratios\n');
  for (const [a, b] of [
    [splice, nginx],
    [js, nginx],
    [splice, haproxy],
    [splice, js],
    [quiet, splice],
    [quiet, nginx],
  ] as const) {
    if (a && b) process.stdout.write(`${ratios(a, b)}\n`);
  }
  if (splice && nginx) {
    process.stdout.write(
      `\ngoals (issue 17), splice relay vs nginx stream\n${loopbackGoals(splice, nginx).join('\n')}\n`,
    );
  }
  if (process.env.BENCH_SKIP_TRANSPARENT !== '1') {
    process.stdout.write(
      '\ntransparent: client (root ns) -> veth -> pod ns: proxy -> app from the client address\n',
    );
    const rows = await transparentSuite();
    const t = row(rows, 'realip transparent, splice');
    process.stdout.write('\nratios\n');
    for (const peer of ['realip tcp, same path', 'realip transparent, js', 'go-mmproxy']) {
      const p = row(rows, peer);
      if (t && p) process.stdout.write(`${ratios(t, p)}\n`);
    }
    const tcp = row(rows, 'realip tcp, same path');
    if (t && tcp) process.stdout.write(`\ngoals (issue 17)\n${transparentGoal(t, tcp)}\n`);
  }
}

// Not a top-level await: a promise that never settles must not end the bench with "unsettled
// top-level await" and skip the cleanup. The interval holds the loop open until main settles
// (every wait in it is bounded), and cleanupNow runs on exit whatever happened.
const keepAlive = setInterval(() => {}, 60_000);
main().then(
  () => clearInterval(keepAlive),
  (err: unknown) => {
    clearInterval(keepAlive);
    process.stderr.write(
      `bench:tcp failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
