/**
 * `npm run bench:http2`: the HTTP/2 hop (listener mode `http2`) against nginx doing the same job.
 *
 *   h2load --> HAProxy edge (mode tcp, send-proxy-v2) --> proxy under test (taskset -c 1) --> nginx h2c app
 *   h2load --> HAProxy edge (mode tcp) --> nginx h2c app                  ("direct", for added latency)
 *
 * Proxies under test: realip (`realip sidecar --listener http2:...`, required mode, the edge
 * trusted) and nginx (`listen ... http2 proxy_protocol`, `grpc_pass` to the same h2c app,
 * `grpc_set_header X-Forwarded-For/X-Real-IP $proxy_protocol_addr`, upstream keepalive). The app is
 * nginx answering a 13-byte body over h2c. Each proxy gets core 1; h2load, the edge and the app
 * share core 0.
 *
 * Why a HAProxy front rather than `--proxy optional`: h2load cannot write a PROXY header, and
 * realip's job is to take the client from one. With `--proxy optional` (and nginx without
 * proxy_protocol) both proxies would skip the header read and realip would attribute every stream
 * to the loopback peer: a configuration nobody deploys, and not the code path whose cost matters.
 * The edge is the L4 load balancer of a real deployment, is the same for both proxies, and runs on
 * the load core, so it shifts both req/s figures alike and does not enter the proxies' CPU. Each
 * h2load connection is one edge connection and one proxy connection, so "many streams over few
 * connections" stays that way through the edge.
 *
 * Shapes (BENCH_SHAPES, "CxM" = C connections, at most M concurrent streams each; default
 * "1x1,4x50,200x1"): 1x1 shows the added latency unloaded, 4x50 many streams over few
 * connections (gRPC's shape), 200x1 many connections. Prints req/s, h2load's time per request
 * (mean, sd, max: h2load 1.52 prints no percentiles), CPU per request (utime+stime of the proxy's
 * process tree from /proc over the run / requests done), RSS idle and peak at 200 connections,
 * ratios against nginx with their min-max over rounds, and issue 16's goal (req/s at least 0.8x
 * nginx's) met or missed per shape on the median ratio.
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_SHAPES, BENCH_ROUNDS (default 2, interleaved:
 * every target in every round; the spread is the noise), BENCH_ONLY (realip,nginx),
 * BENCH_NODE_FLAGS (extra node flags for realip, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
 */
import { spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { freeEphemeralPort, waitForPort } from '../devkit/ports.ts';
import { requireTool } from '../devkit/tools.ts';
import { forget, killOnExit, removeOnExit } from './lib/exit-cleanup.ts';
import { type Child, cpuMicros, haproxy, nginx, rssMB, tempDir } from './lib/procs.ts';
import { durationMs, loadAverage, median, print, spread } from './lib/table.ts';
import { edgeConfig, type ProxyUnderTest, startRealip } from './lib/edge.ts';

const NAME = 'bench:http2';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SHAPES = (process.env.BENCH_SHAPES ?? '1x1,4x50,200x1').split(',').map((s) => {
  const [c, m] = s.split('x').map(Number);
  if (!c || !m) throw new Error(`BENCH_SHAPES: "${s}" is not CxM`);
  return { c, m, key: s };
});
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const PROXY_CORE = 1;
const LOAD_CORE = 0;
const GOAL_RPS_RATIO = 0.8;

interface H2loadResult {
  rps: number;
  done: number;
  /** Time per request, ms. */
  mean: number;
  sd: number;
  max: number;
  errors: string;
}

/** One h2load run; its pid is killed with the bench if the bench is interrupted. */
function h2load(port: number, c: number, m: number, seconds: number): Promise<H2loadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'taskset',
      [
        '-c',
        String(LOAD_CORE),
        'h2load',
        '-c',
        String(c),
        '-m',
        String(m),
        '-D',
        String(seconds),
        '--warm-up-time=1',
        `http://127.0.0.1:${port}/`,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    killOnExit(NAME, child.pid);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      forget(child.pid);
      const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(out)?.[1] ?? Number.NaN);
      const req =
        /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
          out,
        );
      const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
      const t = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
      if (code !== 0 || !req || Number.isNaN(rps)) {
        reject(new Error(`h2load exited ${code}:\n${out.slice(-2000)}`));
        return;
      }
      const failed = Number(req[5]) + Number(req[6]) + Number(req[7]);
      const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0;
      resolve({
        rps,
        done: Number(req[3]),
        mean: durationMs(t?.[3]),
        sd: durationMs(t?.[4]),
        max: durationMs(t?.[2]),
        errors: [
          failed ? `failed/errored/timeout ${req[5]}/${req[6]}/${req[7]}` : '',
          non2xx ? `non-2xx ${non2xx}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      });
    });
  });
}

type Sample = { rps: number; cpu: number; mean: number };
type Results = Map<string, Sample[]>;

async function main(): Promise<void> {
  for (const t of ['haproxy', 'nginx', 'h2load', 'taskset']) requireTool(t);
  const dir = tempDir('realip-bench-http2-');
  removeOnExit(NAME, dir);
  const children: Child[] = [];
  const keep = (c: Child) => {
    children.push(c);
    killOnExit(NAME, c.proc.pid);
    c.proc.once('exit', () => forget(c.proc.pid));
    return c;
  };
  const only = process.env.BENCH_ONLY?.split(',');
  const want = (n: string) => !only || only.includes(n);
  try {
    const appPort = await freeEphemeralPort();
    keep(
      nginx(
        dir,
        'app',
        `worker_processes 1; events { worker_connections 4096; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s; http2_max_concurrent_streams 1000;
  server { listen 127.0.0.1:${appPort} http2 backlog=4096; location / { return 200 "hello, world\\n"; } } }`,
        LOAD_CORE,
      ),
    );
    await waitForPort(appPort);

    const proxies: ProxyUnderTest[] = [];
    if (want('realip')) {
      const realip = await startRealip('http2', appPort, PROXY_CORE);
      keep(realip.child);
      proxies.push(realip);
    }
    if (want('nginx')) {
      const port = await freeEphemeralPort();
      const child = keep(
        nginx(
          dir,
          'proxy',
          `worker_processes 1; events { worker_connections 8192; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 300s; http2_max_concurrent_streams 1000;
  upstream app { server 127.0.0.1:${appPort}; keepalive 256; keepalive_requests 10000000; }
  server { listen 127.0.0.1:${port} http2 proxy_protocol backlog=4096;
    location / { grpc_pass grpc://app;
      grpc_set_header X-Forwarded-For $proxy_protocol_addr; grpc_set_header X-Real-IP $proxy_protocol_addr; } } }`,
          PROXY_CORE,
        ),
      );
      proxies.push({ name: 'nginx', port, child });
    }
    const { conf: edgeConf, edges } = await edgeConfig(appPort, proxies);
    keep(haproxy(dir, 'edge', edgeConf, LOAD_CORE));
    for (const e of edges) await waitForPort(e.port);
    for (const p of proxies) await waitForPort(p.port, '127.0.0.1', 20_000);

    const pid = (c: Child) => c.proc.pid ?? 0;
    await new Promise((r) => setTimeout(r, 500));
    const rss = new Map(proxies.map((p) => [p.name, rssMB(pid(p.child))]));
    process.stdout.write(
      `${NAME}  ${SECONDS}s per run, ${ROUNDS} rounds (targets interleaved), proxy on core ${PROXY_CORE}, ` +
        `h2load/edge/app on core ${LOAD_CORE}; load average before: ${loadAverage()}\n`,
    );
    // Warm every path first (JIT, connection pools), so the first measured round is not a cold start.
    for (const e of edges) await h2load(e.port, 4, 50, 2);

    const rows: string[][] = [
      ['round', 'target', 'shape', 'req/s', 'mean ms', 'sd ms', 'max ms', 'CPU us/req', 'errors'],
    ];
    const results: Results = new Map();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const s of SHAPES) {
        for (const e of edges) {
          const p = proxies.find((x) => x.name === e.name);
          // CPU from the end of h2load's 1 s warm-up (its requests are not in `done`) to its exit.
          let cpu0 = p ? cpuMicros(pid(p.child)) : 0;
          const warm = setTimeout(() => {
            if (p) cpu0 = cpuMicros(pid(p.child));
          }, 1000);
          let peak = 0;
          const sampler = p
            ? setInterval(() => (peak = Math.max(peak, rssMB(pid(p.child)))), 250)
            : undefined;
          const r = await h2load(e.port, s.c, s.m, SECONDS).finally(() => {
            clearInterval(sampler);
            clearTimeout(warm);
          });
          const cpu = p ? (cpuMicros(pid(p.child)) - cpu0) / r.done : Number.NaN;
          const key = `${e.name}:${s.key}`;
          results.set(key, [...(results.get(key) ?? []), { rps: r.rps, cpu, mean: r.mean }]);
          if (p && s.c >= 200)
            rss.set(`${p.name}@${s.key}`, Math.max(peak, rss.get(`${p.name}@${s.key}`) ?? 0));
          rows.push([
            String(round),
            e.name,
            s.key,
            r.rps.toFixed(0),
            r.mean.toFixed(2),
            r.sd.toFixed(2),
            r.max.toFixed(2),
            Number.isNaN(cpu) ? '-' : cpu.toFixed(1),
            r.errors || '-',
          ]);
        }
      }
    }
    print(rows);
    printRatios(results, proxies);
    if (proxies.some((p) => p.name === 'realip') && proxies.some((p) => p.name === 'nginx'))
      printGoal(results);
    process.stdout.write(
      `load average after: ${loadAverage()} (on ${cpus().length} CPUs: anything above ~2 means other work shared the cores)\n`,
    );
    process.stdout.write('\nRSS (MB, process tree)\n');
    const big = SHAPES.filter((s) => s.c >= 200).map((s) => s.key);
    const mem: string[][] = [['target', 'idle', ...big.map((k) => `peak at ${k}`)]];
    for (const p of proxies) {
      mem.push([
        p.name,
        (rss.get(p.name) ?? 0).toFixed(1),
        ...big.map((k) => (rss.get(`${p.name}@${k}`) ?? 0).toFixed(1)),
      ]);
    }
    print(mem);
  } catch (err) {
    for (const c of children) if (c.stderr()) process.stderr.write(`--- ${c.name} stderr:\n${c.stderr()}\n`);
    throw err;
  } finally {
    // A graceful stop (realip drains, --cpu-prof writes its profile); the exit handler kills
    // whatever is left.
    await Promise.all(children.reverse().map((c) => c.stop()));
  }
}

function printRatios(results: Results, proxies: readonly ProxyUnderTest[]): void {
  process.stdout.write(
    '\nratios vs nginx, median over rounds (min-max across rounds = the machine noise); CPU: lower is better\n',
  );
  const rows: string[][] = [
    ['target', 'shape', 'req/s', 'req/s ratio', 'CPU us/req', 'CPU ratio', 'added mean ms vs direct'],
  ];
  for (const s of SHAPES) {
    const n = results.get(`nginx:${s.key}`);
    const d = results.get(`direct:${s.key}`)!;
    for (const p of proxies) {
      const r = results.get(`${p.name}:${s.key}`)!;
      const per = (f: (i: number) => number) => r.map((_, i) => f(i));
      rows.push([
        p.name,
        s.key,
        spread(
          r.map((x) => x.rps),
          0,
        ),
        n
          ? spread(
              per((i) => r[i]!.rps / n[i]!.rps),
              2,
            )
          : '-',
        spread(
          r.map((x) => x.cpu),
          1,
        ),
        n
          ? spread(
              per((i) => r[i]!.cpu / n[i]!.cpu),
              2,
            )
          : '-',
        spread(
          per((i) => r[i]!.mean - d[i]!.mean),
          2,
        ),
      ]);
    }
  }
  print(rows);
}

/** Issue 16's goal: realip's req/s at least 0.8x nginx's, per shape, on the median of the same-round ratios. */
function printGoal(results: Results): void {
  process.stdout.write(
    '\ngoal (issue 16), realip vs nginx in the same rounds; median (min-max) over rounds\n',
  );
  const rows: string[][] = [['goal', 'shape', 'realip req/s', 'nginx req/s', 'ratio', 'target', 'verdict']];
  for (const s of SHAPES) {
    const r = results.get(`realip:${s.key}`)!;
    const n = results.get(`nginx:${s.key}`)!;
    const ratio = r.map((x, i) => x.rps / n[i]!.rps);
    rows.push([
      'req/s',
      s.key,
      spread(
        r.map((x) => x.rps),
        0,
      ),
      spread(
        n.map((x) => x.rps),
        0,
      ),
      `${spread(ratio, 2)}x`,
      `>= ${GOAL_RPS_RATIO}x`,
      median(ratio) >= GOAL_RPS_RATIO ? 'met' : 'missed',
    ]);
  }
  print(rows);
}

await main();
