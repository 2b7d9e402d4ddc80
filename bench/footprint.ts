/**
 * `npm run bench:footprint`: what a pod pays for the sidecar at rest, and what the webhook costs
 * idle, in the images' own configuration: started through bin/realip.js from folders laid out as
 * each runtime stage lays out /app (the sidecar's: the bundle, dist/bundle/, and the native helper,
 * no node_modules; the webhook's: compiled dist/ and node_modules), with each Dockerfile's ENV
 * (NODE_ENV=production; the sidecar's NODE_OPTIONS). The sidecar is also started from dist/ and
 * node_modules (the layout before the bundle), in the same run, as the bundle's reference.
 *
 * - idle RSS of the sidecar with one http and one tcp listener, right after "sidecar ready" and after
 *   a settle; of the webhook after /readyz; of nginx and HAProxy configured for the same two
 *   listeners (process tree: nginx's master and worker), as ratios;
 * - start to ready of the sidecar: from spawn to its "sidecar ready" log line (logged right after
 *   /readyz turns 200), median and spread over BENCH_STARTS starts, next to a bare `node -e ""`;
 * - what each module costs at start: RSS and time of importing it, each in a fresh process.
 *
 * node_modules of the /app folder links to the checkout's: the same package versions as the image's
 * workspace install (test/integration/image-deps.test.ts installs and runs that set), and only what
 * the code imports is loaded.
 *
 * Ports come from devkit/ports.ts (below the ephemeral range), the sidecar argv from devkit/sidecar-argv.ts.
 *
 * Options (env): BENCH_STARTS (default 10), BENCH_IDLE_RUNS (default 3: processes whose idle RSS is
 * sampled, median shown), BENCH_SETTLE_MS (default 3000), BENCH_MODULE_RUNS (default 3).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePortBelowEphemeral, waitForPort } from '../devkit/ports.ts';
import { sidecarArgv } from '../devkit/sidecar-argv.ts';
import { generateCertBundle } from '../webhook/certs.ts';
import { haproxy, nginx, processTree, tempDir } from './lib/procs.ts';
import { childEnv, copyNativeHelper, imageEnv, sidecarImage, webhookImage } from './lib/images.ts';

const REPO = new URL('../', import.meta.url).pathname;
const APP = join(REPO, '.cache/footprint-app');
/** The sidecar image's /app: the bundle (packages/sidecar-image/bundle.ts), no node_modules. */
const SIDECAR_APP = join(REPO, '.cache/footprint-sidecar-app');
const STARTS = Number(process.env.BENCH_STARTS ?? 10);
const IDLE_RUNS = Number(process.env.BENCH_IDLE_RUNS ?? 3);
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);
const MODULE_RUNS = Number(process.env.BENCH_MODULE_RUNS ?? 3);

// The goals of issue 17.
const GOAL = { sidecarIdleMB: 48, sidecarStartMs: 150, webhookIdleMB: 80 } as const;

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- cleanup on every exit path: children are killed and temp dirs removed even on SIGINT -------
const live = new Set<ChildProcess>();
const dirs: string[] = [];
function cleanupNow(): void {
  for (const c of live) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
process.on('exit', cleanupNow);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    cleanupNow();
    process.exit(130);
  });
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

// ---- small helpers --------------------------------------------------------------------------------
/** Distinct ports below the ephemeral range (devkit/ports.ts says why). */
async function ports(n: number): Promise<number[]> {
  const out = new Set<number>();
  while (out.size < n) out.add(await freePortBelowEphemeral('127.0.0.1'));
  return [...out];
}

function getStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', () => resolve(0));
  });
}

async function waitFor(what: string, ok: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms`);
    await sleep(20);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spread(xs: readonly number[], digits: number): string {
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
}

const verdict = (value: number, goal: number) => (value <= goal ? 'met' : 'MISSED');

/**
 * RSS of a process tree in MB, and its anonymous part (heap, stacks: the process's own). The rest
 * is file-backed (the executable, libraries, ICU data): page cache that every process mapping the
 * same files shares, e.g. all sidecars of one image on a node.
 */
interface Rss {
  readonly total: number;
  readonly anon: number;
}

function rss(pid: number): Rss {
  let total = 0;
  let anon = 0;
  for (const p of processTree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      anon += Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { total: total / 1024, anon: anon / 1024 };
}

// ---- the /app folder ------------------------------------------------------------------------------
/**
 * The webhook image's /app (also the sidecar's layout before the bundle, dist/ + node_modules, with
 * the native helper: the reference rows), and the sidecar image's.
 */
async function buildApp(): Promise<void> {
  await webhookImage('footprint-app');
  writeFileSync(join(APP, 'empty.js'), '');
  copyNativeHelper(APP);
  await sidecarImage('footprint-sidecar-app');
}

// ---- the sidecar: start to ready, idle RSS --------------------------------------------------------
interface SidecarRun {
  readonly readyMs: number;
  readonly rssReady: Rss;
  readonly rssSettled?: Rss;
}

/** One start of the sidecar from `app` (the image's layout unless said). */
async function sidecarOnce(settle: boolean, app = SIDECAR_APP): Promise<SidecarRun> {
  const [httpPort, tcpPort, admin, app1, app2] = await ports(5);
  const args = sidecarArgv(join(app, 'bin/realip.js'), {
    listeners: [`http:${httpPort}:${app1}`, `tcp:${tcpPort}:${app2}`],
    trusted: '127.0.0.0/8',
    adminPort: admin!,
    adminHost: '127.0.0.1',
  });
  const t0 = performance.now();
  const child = track(
    spawn(process.execPath, args, {
      cwd: app,
      env: childEnv(imageEnv('Dockerfile.sidecar')),
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  try {
    let err = '';
    const readyMs = await new Promise<number>((resolve, reject) => {
      child.stderr!.on('data', (c: Buffer) => {
        err += c.toString();
        if (err.includes('"msg":"sidecar ready"')) resolve(performance.now() - t0);
      });
      child.once('exit', (code) => reject(new Error(`sidecar exited ${code} before ready: ${err}`)));
    });
    const rssReady = rss(child.pid!);
    if ((await getStatus(admin!, '/readyz')) !== 200) throw new Error('ready logged but /readyz is not 200');
    if (!settle) return { readyMs, rssReady };
    await sleep(SETTLE_MS);
    return { readyMs, rssReady, rssSettled: rss(child.pid!) };
  } finally {
    await stop(child);
  }
}

/** Start to exit of `node -e ""`: the floor under any start time. */
async function bareNodeMs(): Promise<number> {
  const t0 = performance.now();
  await run(process.execPath, ['-e', ''], { env: childEnv(imageEnv('Dockerfile.sidecar')) });
  return performance.now() - t0;
}

// ---- the webhook: idle RSS ------------------------------------------------------------------------
async function webhookIdle(certDir: string): Promise<Rss> {
  const [port, metricsPort] = await ports(2);
  const env = childEnv(imageEnv('Dockerfile.webhook'), {
    REALIP_TLS_CERT_FILE: join(certDir, 'tls.crt'),
    REALIP_TLS_KEY_FILE: join(certDir, 'tls.key'),
    REALIP_NATIVE_SIDECAR: 'on',
    REALIP_TRUSTED_CIDRS: '10.0.0.0/8',
    REALIP_SIDECAR_IMAGE: 'registry.example/realip/sidecar:bench',
  });
  const args = [
    join(APP, 'bin/realip.js'),
    'webhook',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    '--metrics-port',
    String(metricsPort),
  ];
  const child = track(spawn(process.execPath, args, { cwd: APP, env, stdio: 'ignore' }));
  try {
    await waitFor('webhook', async () => (await getStatus(metricsPort!, '/readyz')) === 200);
    await sleep(SETTLE_MS);
    return rss(child.pid!);
  } finally {
    await stop(child);
  }
}

// ---- nginx and HAProxy with the same two listeners ------------------------------------------------
async function peersIdle(dir: string): Promise<{ nginx: Rss; haproxy: Rss }> {
  const [nh, nt, hh, ht, app] = await ports(5);
  const n = nginx(
    dir,
    'nginx',
    `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1; events { worker_connections 4096; }
http { access_log off;
  upstream app { server 127.0.0.1:${app}; keepalive 256; }
  server { listen 127.0.0.1:${nh} proxy_protocol;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_protocol_addr; } } }
stream { server { listen 127.0.0.1:${nt} proxy_protocol; proxy_pass 127.0.0.1:${app}; } }
`,
  );
  track(n.proc);
  const h = haproxy(
    dir,
    'haproxy',
    `global
  maxconn 8000
  nbthread 1
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend web
  mode http
  bind 127.0.0.1:${hh} accept-proxy
  http-request set-header X-Forwarded-For %[src]
  default_backend app_http
frontend raw
  mode tcp
  bind 127.0.0.1:${ht} accept-proxy
  default_backend app_tcp
backend app_http
  mode http
  server app 127.0.0.1:${app}
backend app_tcp
  mode tcp
  server app 127.0.0.1:${app}
`,
  );
  track(h.proc);
  try {
    for (const p of [nh, nt, hh, ht]) {
      await waitForPort(p!, '127.0.0.1', 20_000).catch((e: Error) => {
        throw new Error(`${e.message}; nginx: ${n.stderr()}; haproxy: ${h.stderr()}`);
      });
    }
    await sleep(SETTLE_MS);
    return { nginx: rss(n.proc.pid!), haproxy: rss(h.proc.pid!) };
  } finally {
    await Promise.all([n.stop(), h.stop()]);
  }
}

// ---- module costs ---------------------------------------------------------------------------------
interface ModuleRow {
  readonly name: string;
  /** A module body for `node --input-type=module -e`, run in the /app folder. */
  readonly load: string;
  /** Whose environment (Dockerfile ENV) it runs in; the sidecar's unless said. */
  readonly image?: 'webhook';
}

const MODULES: readonly ModuleRow[] = [
  { name: 'nothing (bare node: absolute RSS)', load: '' },
  {
    name: "an empty module (the ESM loader's first-import cost, part of every row below)",
    load: "await import('./empty.js');",
  },
  { name: 'node:net', load: "await import('node:net');" },
  {
    name: "node:http by require() (the sidecar's way)",
    load: "(await import('node:module')).createRequire(import.meta.url)('node:http');",
  },
  { name: 'node:http by ESM import', load: "await import('node:http');" },
  { name: 'pino', load: "await import('pino');" },
  { name: 'env-var', load: "await import('env-var');" },
  { name: 'dist/common/logger.js (pino + ours)', load: "await import('./dist/common/logger.js');" },
  {
    name: 'dist/common/option-schema.js (env-var + ours)',
    load: "await import('./dist/common/option-schema.js');",
  },
  { name: 'dist/common/metrics.js', load: "await import('./dist/common/metrics.js');" },
  { name: 'dist/sidecar/admin.js (node:http, metrics)', load: "await import('./dist/sidecar/admin.js');" },
  { name: 'dist/sidecar/http/hop.js (http hop)', load: "await import('./dist/sidecar/http/hop.js');" },
  {
    name: 'dist/sidecar/tcp/relay-hop.js (tcp hop)',
    load: "await import('./dist/sidecar/tcp/relay-hop.js');",
  },
  // The webhook's libraries (in the webhook image's environment).
  {
    name: 'webhook: @kubernetes/client-node',
    load: "await import('@kubernetes/client-node');",
    image: 'webhook',
  },
  { name: 'webhook: fastify', load: "await import('fastify');", image: 'webhook' },
  {
    name: 'webhook: reflect-metadata + @peculiar/x509',
    load: "await import('reflect-metadata'); await import('@peculiar/x509');",
    image: 'webhook',
  },
  { name: 'webhook: yaml', load: "await import('yaml');", image: 'webhook' },
];

// Entry points measured through bin/realip.js (whatever file a command lives in): the whole module
// graph a command loads before it does anything, as RSS and time since process start at exit. The
// sidecar image's commands run from its bundle, the webhook's from dist/.
const COMMANDS: readonly { name: string; args: readonly string[]; image?: 'webhook' }[] = [
  { name: 'realip --version (bin + CLI)', args: ['--version'] },
  { name: 'realip sidecar --help (the sidecar command, no hop)', args: ['sidecar', '--help'] },
  { name: 'realip webhook --help (the webhook command)', args: ['webhook', '--help'], image: 'webhook' },
];

async function moduleCost(row: ModuleRow): Promise<{ mb: number; ms: number } | undefined> {
  const path = /'\.\/(dist\/[^']+)'/.exec(row.load)?.[1];
  if (path && !existsSync(join(APP, path))) return undefined; // moved by a refactor: say so, go on
  const script = `const r0 = process.memoryUsage.rss(); const t0 = performance.now(); ${row.load}
const t1 = performance.now();
process.stdout.write(JSON.stringify({ mb: (process.memoryUsage.rss() - ${row.load ? 'r0' : '0'}) / 1048576, ms: t1 - t0 }));`;
  const mbs: number[] = [];
  const mss: number[] = [];
  for (let i = 0; i < MODULE_RUNS; i++) {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
      cwd: APP,
      env: childEnv(imageEnv(row.image === 'webhook' ? 'Dockerfile.webhook' : 'Dockerfile.sidecar')),
    });
    const r = JSON.parse(stdout) as { mb: number; ms: number };
    mbs.push(r.mb);
    mss.push(r.ms);
  }
  return { mb: median(mbs), ms: median(mss) };
}

async function commandCost(
  args: readonly string[],
  image: 'webhook' | undefined,
): Promise<{ mb: number; ms: number }> {
  const app = image === 'webhook' ? APP : SIDECAR_APP;
  const probe = join(app, 'exit-probe.mjs');
  writeFileSync(
    probe,
    "import { writeSync } from 'node:fs';\nprocess.on('exit', () => writeSync(3, JSON.stringify({ mb: process.memoryUsage.rss() / 1048576, ms: performance.now() })));\n",
  );
  const mbs: number[] = [];
  const mss: number[] = [];
  for (let i = 0; i < MODULE_RUNS; i++) {
    const r = await new Promise<{ mb: number; ms: number }>((resolve, reject) => {
      const child = track(
        spawn(process.execPath, ['--import', probe, join(app, 'bin/realip.js'), ...args], {
          cwd: app,
          env: childEnv(imageEnv(image === 'webhook' ? 'Dockerfile.webhook' : 'Dockerfile.sidecar')),
          stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
        }),
      );
      let out = '';
      child.stdio[3]!.on('data', (c: Buffer) => (out += c.toString()));
      child.once('close', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`realip ${args.join(' ')} exited ${code}`)),
      );
    });
    mbs.push(r.mb);
    mss.push(r.ms);
  }
  return { mb: median(mbs), ms: median(mss) };
}

// ---- main -----------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const dir = tempDir('realip-bench-footprint-');
  dirs.push(dir);
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  process.stdout.write(`node ${process.version}, ${cpus().length} cores, load average before: ${load()}\n`);
  await buildApp();
  const sidecarEnv = imageEnv('Dockerfile.sidecar');
  process.stdout.write(
    `image configuration: through bin/realip.js, the sidecar from dist/bundle/, the webhook from dist/; sidecar ENV ${JSON.stringify(sidecarEnv)}; webhook ENV ${JSON.stringify(imageEnv('Dockerfile.webhook'))}\n\n`,
  );

  // Module costs first, while nothing else of ours runs.
  process.stdout.write(`module costs at start, each in a fresh process (median of ${MODULE_RUNS})\n`);
  process.stdout.write('| module | RSS added MB | import ms |\n|---|---:|---:|\n');
  let bare = { mb: 0, ms: 0 };
  for (const row of MODULES) {
    const c = await moduleCost(row);
    if (!c) {
      process.stdout.write(`| ${row.name} | n/a (file not found) | |\n`);
      continue;
    }
    if (row.load === '') bare = c;
    process.stdout.write(
      `| ${row.name} | ${c.mb.toFixed(1)} | ${row.load === '' ? '' : c.ms.toFixed(1)} |\n`,
    );
  }
  process.stdout.write(
    '\ncommands through bin/realip.js: RSS and time since process start at exit, above bare node\n',
  );
  process.stdout.write('| command | RSS MB (above bare) | ms since start |\n|---|---:|---:|\n');
  for (const c of COMMANDS) {
    const r = await commandCost(c.args, c.image);
    process.stdout.write(
      `| ${c.name} | ${r.mb.toFixed(1)} (+${(r.mb - bare.mb).toFixed(1)}) | ${r.ms.toFixed(1)} |\n`,
    );
  }

  // The sidecar: every start is timed; the first IDLE_RUNS also settle for the idle RSS.
  const bareMs: number[] = [];
  for (let i = 0; i < Math.min(STARTS, 5); i++) bareMs.push(await bareNodeMs());
  // Alternating with starts from dist/ and node_modules, the layout before the bundle (reference).
  const runs: SidecarRun[] = [];
  const fromDist: SidecarRun[] = [];
  for (let i = 0; i < Math.max(STARTS, IDLE_RUNS); i++) {
    runs.push(await sidecarOnce(i < IDLE_RUNS));
    fromDist.push(await sidecarOnce(i < IDLE_RUNS, APP));
  }
  const readyMs = runs.map((r) => r.readyMs);
  const distReadyMs = fromDist.map((r) => r.readyMs);
  const rssReady = runs.map((r) => r.rssReady);
  const rssSettled = runs.flatMap((r) => (r.rssSettled === undefined ? [] : [r.rssSettled]));

  // The webhook and the peers.
  const bundle = await generateCertBundle({
    commonName: 'realip-webhook',
    sans: ['127.0.0.1'],
    validityDays: 1,
  });
  const certDir = join(dir, 'certs');
  mkdirSync(certDir);
  writeFileSync(join(certDir, 'tls.crt'), bundle.cert);
  writeFileSync(join(certDir, 'tls.key'), bundle.key);
  const webhook: Rss[] = [];
  for (let i = 0; i < IDLE_RUNS; i++) webhook.push(await webhookIdle(certDir));
  const peers = await peersIdle(dir);

  const idle = median(rssSettled.map((r) => r.total));
  const webhookIdleMB = median(webhook.map((r) => r.total));
  process.stdout.write(
    `\nidle RSS, MB (median (min-max) of ${IDLE_RUNS} processes; sidecar: one http and one tcp listener, settle ${SETTLE_MS} ms; anonymous = the process's own, the rest is file-backed page cache shared by every process of the same image)\n`,
  );
  process.stdout.write(
    '| process | RSS MB | anonymous MB | vs nginx | vs HAProxy |\n|---|---:|---:|---:|---:|\n',
  );
  const row = (name: string, xs: readonly Rss[]) => {
    const total = median(xs.map((r) => r.total));
    process.stdout.write(
      `| ${name} | ${spread(
        xs.map((r) => r.total),
        1,
      )} | ${spread(
        xs.map((r) => r.anon),
        1,
      )} | ${(total / peers.nginx.total).toFixed(2)}x | ${(total / peers.haproxy.total).toFixed(2)}x |\n`,
    );
  };
  row('realip sidecar, at ready', rssReady);
  row('realip sidecar, settled', rssSettled);
  row(
    'realip sidecar from dist/ + node_modules (reference), settled',
    fromDist.flatMap((r) => (r.rssSettled === undefined ? [] : [r.rssSettled])),
  );
  row('realip webhook, settled', webhook);
  row('nginx (master + worker), same two listeners', [peers.nginx]);
  row('HAProxy, same two listeners', [peers.haproxy]);
  process.stdout.write(
    `\nsidecar start to ready (spawn to "sidecar ready"), ${readyMs.length} starts: ${spread(readyMs, 0)} ms; from dist/ + node_modules (reference, alternating): ${spread(distReadyMs, 0)} ms, bundle/dist ${(median(readyMs) / median(distReadyMs)).toFixed(2)}x; bare node -e "" start to exit: ${spread(bareMs, 0)} ms\n`,
  );

  process.stdout.write(`\ngoals (issue 17)\n`);
  process.stdout.write(
    `  sidecar idle RSS ${idle.toFixed(1)} MB (<= ${GOAL.sidecarIdleMB}): ${verdict(idle, GOAL.sidecarIdleMB)}; ${(idle / peers.nginx.total).toFixed(2)}x nginx, ${(idle / peers.haproxy.total).toFixed(2)}x HAProxy\n`,
  );
  process.stdout.write(
    `  sidecar start to ready ${median(readyMs).toFixed(0)} ms (<= ${GOAL.sidecarStartMs}): ${verdict(median(readyMs), GOAL.sidecarStartMs)}\n`,
  );
  process.stdout.write(
    `  webhook idle RSS ${webhookIdleMB.toFixed(1)} MB (<= ${GOAL.webhookIdleMB}): ${verdict(webhookIdleMB, GOAL.webhookIdleMB)}\n`,
  );
  process.stdout.write(`load average after: ${load()}\n`);
}

await main();
