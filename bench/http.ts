/**
 * `npm run bench:http`: the HTTP hop against nginx and HAProxy doing the same job, side by side.
 *
 *   wrk --> HAProxy edge (mode tcp, send-proxy-v2) --> proxy under test (taskset -c 1) --> nginx app
 *   wrk --> HAProxy edge (mode tcp) --> nginx app                       ("direct", for added latency)
 *
 * Proxies under test: realip (`realip sidecar --listener http:...`), nginx (`listen proxy_protocol`,
 * `proxy_set_header X-Forwarded-For $proxy_protocol_addr`, upstream keepalive), HAProxy (`bind
 * accept-proxy`, `http-request set-header X-Forwarded-For %[src]`). Each gets one core; wrk, the
 * edge and the app share the other. Prints req/s, p50/p99 latency, CPU per request (utime+stime
 * from /proc), RSS idle and at 1000 connections, ratios against nginx, and issue 17's goals (req/s
 * at least nginx's, CPU per request at most 1.1x nginx's, added p99 over direct at most nginx's
 * + 1 ms at 50 and 200 connections), each met or missed on the median over rounds.
 *
 * Options (env): BENCH_SECONDS (default 5), BENCH_CONNS (default "1,50,200"; 1 shows the added latency unloaded; 1000 always runs once),
 * BENCH_ROUNDS (default 2: every target measured twice, interleaved; the spread is the noise),
 * BENCH_ONLY (comma list of realip, nginx, haproxy), BENCH_NODE_FLAGS (extra node flags for realip,
 * e.g. "--max-semi-space-size=1").
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';
import { CRLFCRLF } from '../sidecar/http/chars.ts';
import { RequestHead } from '../sidecar/http/request-head.ts';
import { ResponseTracker } from '../sidecar/http/response.ts';
import { freeEphemeralPort, waitForPort } from '../devkit/ports.ts';
import { requireTool } from '../devkit/tools.ts';
import { HeadRewriter } from '../sidecar/http/rewrite.ts';
import { type Child, cpuMicros, haproxy, nginx, rssMB, tempDir } from './lib/procs.ts';
import { durationMs, loadAverage, median, print, spread } from './lib/table.ts';
import { edgeConfig, type ProxyUnderTest, startRealip } from './lib/edge.ts';

const run = promisify(execFile);

/**
 * The hop's own work per request, in-process (no sockets): find the head, parse, rewrite, observe
 * a response. What is left of the CPU per request in the runs below is Node's I/O and the kernel.
 */
function hopLogicNs(): number {
  const req = Buffer.from(
    'GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n' +
      'Accept: text/html,application/xhtml+xml\r\nAccept-Encoding: gzip, deflate\r\nAccept-Language: en-US\r\n' +
      'Connection: keep-alive\r\nCookie: a=b; c=d\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  );
  const res = Buffer.from(
    'HTTP/1.1 200 OK\r\nServer: nginx\r\nDate: Sun, 29 Nov 2026 03:00:00 GMT\r\nContent-Type: text/plain\r\n' +
      'Content-Length: 13\r\nConnection: keep-alive\r\n\r\nhello, world\n',
  );
  const head = new RequestHead();
  const rewriter = new HeadRewriter('replace', { address: '198.51.100.7', port: 1, family: 4 }, 80, '');
  const tracker = new ResponseTracker();
  const n = 500_000;
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const end = req.indexOf(CRLFCRLF) + 4;
      head.parse(req, 0, end);
      rewriter.rewrite(req, end, head);
      tracker.push(0);
      tracker.feed(res);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / n);
  }
  return best;
}
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNS = (process.env.BENCH_CONNS ?? '1,50,200').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const BIG = 1000;
const PROXY_CORE = 1;
const LOAD_CORE = 0;

interface WrkResult {
  rps: number;
  requests: number;
  p50: number;
  p99: number;
  errors: string;
  timeouts: number;
}

async function wrk(port: number, conns: number, seconds: number): Promise<WrkResult> {
  const { stdout } = await run(
    'taskset',
    [
      '-c',
      String(LOAD_CORE),
      'wrk',
      '-t1',
      `-c${conns}`,
      `-d${seconds}s`,
      '--latency',
      '--timeout',
      '5s',
      `http://127.0.0.1:${port}/`,
    ],
    { maxBuffer: 1 << 20 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1] ?? Number.NaN);
  const requests = Number(/(\d+) requests in/.exec(stdout)?.[1] ?? Number.NaN);
  const p50 = durationMs(/\s50%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const p99 = durationMs(/\s99%\s+(\S+)/.exec(stdout)?.[1] ?? '');
  const sock = /Socket errors: (.*)/.exec(stdout)?.[1] ?? '';
  const timeouts = Number(/timeout (\d+)/.exec(sock)?.[1] ?? 0);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1];
  return {
    rps,
    requests,
    p50,
    p99,
    errors: [sock, non2xx ? `non-2xx ${non2xx}` : ''].filter(Boolean).join('; '),
    timeouts,
  };
}

async function main(): Promise<void> {
  for (const t of ['haproxy', 'nginx', 'wrk', 'taskset']) requireTool(t);
  const dir = tempDir('realip-bench-http-');
  const children: Child[] = [];
  const only = process.env.BENCH_ONLY?.split(',');
  try {
    const appPort = await freeEphemeralPort();
    const app = nginx(
      dir,
      'app',
      `worker_processes 1; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  server { listen 127.0.0.1:${appPort} backlog=4096; location / { return 200 "hello, world\\n"; } } }`,
      LOAD_CORE,
    );
    children.push(app);
    await waitForPort(appPort);

    const proxies: ProxyUnderTest[] = [];
    const want = (n: string) => !only || only.includes(n);
    if (want('realip')) {
      const realip = await startRealip('http', appPort, PROXY_CORE);
      children.push(realip.child);
      proxies.push(realip);
    }
    if (want('nginx')) {
      const port = await freeEphemeralPort();
      const child = nginx(
        dir,
        'proxy',
        `worker_processes 1; events { worker_connections 8192; }
http { access_log off; keepalive_requests 1000000; keepalive_timeout 300s;
  upstream app { server 127.0.0.1:${appPort}; keepalive 256; }
  server { listen 127.0.0.1:${port} proxy_protocol backlog=4096;
    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_protocol_addr; proxy_set_header X-Real-IP $proxy_protocol_addr; } } }`,
        PROXY_CORE,
      );
      children.push(child);
      proxies.push({ name: 'nginx', port, child });
    }
    if (want('haproxy')) {
      const port = await freeEphemeralPort();
      const child = haproxy(
        dir,
        'proxy-haproxy',
        `global
  maxconn 8000
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
frontend f
  bind 127.0.0.1:${port} accept-proxy
  http-request set-header X-Forwarded-For %[src]
  http-request set-header X-Real-IP %[src]
  default_backend b
backend b
  http-reuse always
  server app 127.0.0.1:${appPort}
`,
        PROXY_CORE,
      );
      children.push(child);
      proxies.push({ name: 'haproxy', port, child });
    }
    // One edge per target: mode tcp, PROXY v2 to the proxies, plain to the app (direct).
    const { conf: edgeConf, edges } = await edgeConfig(appPort, proxies);
    const edge = haproxy(dir, 'edge', edgeConf, LOAD_CORE);
    children.push(edge);
    for (const e of edges) await waitForPort(e.port);
    for (const p of proxies) await waitForPort(p.port);

    const pid = (c: Child) => c.proc.pid ?? 0;
    await new Promise((r) => setTimeout(r, 500));
    const idle = new Map(proxies.map((p) => [p.name, rssMB(pid(p.child))]));

    process.stdout.write(
      `hop logic per request (find head, parse, rewrite, observe response; in-process): ${hopLogicNs().toFixed(0)} ns\n`,
    );
    process.stdout.write(
      `bench:http  ${SECONDS}s per run, ${ROUNDS} rounds (targets interleaved), proxy on core ${PROXY_CORE}, ` +
        `wrk/edge/app on core ${LOAD_CORE}; load average before: ${loadAverage()}\n`,
    );
    // Warm every path first (JIT, connection pools), so that the first measured round does not
    // pay for a cold start.
    for (const e of edges) await wrk(e.port, 50, 2);
    const rows: string[][] = [
      ['round', 'target', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'CPU us/req', 'errors'],
    ];
    const results: Results = new Map();
    const plan: [number, number][] = [];
    for (let round = 1; round <= ROUNDS; round++) for (const c of CONNS) plan.push([round, c]);
    plan.push([1, BIG]);
    for (const [round, conns] of plan) {
      for (const e of edges) {
        // Warm up (JIT, connection pools), then measure.
        await wrk(e.port, conns, 1);
        const p = proxies.find((x) => x.name === e.name);
        const cpu0 = p ? cpuMicros(pid(p.child)) : 0;
        let peak = 0;
        const sampler = p ? setInterval(() => (peak = Math.max(peak, rssMB(pid(p.child)))), 250) : undefined;
        const r = await wrk(e.port, conns, SECONDS);
        if (sampler) clearInterval(sampler);
        const cpu = p ? (cpuMicros(pid(p.child)) - cpu0) / r.requests : Number.NaN;
        const key = `${e.name}:${conns}`;
        results.set(key, [...(results.get(key) ?? []), { rps: r.rps, cpu, p99: r.p99 }]);
        if (p && conns === BIG) idle.set(`${p.name}@${BIG}`, peak);
        rows.push([
          String(round),
          e.name,
          String(conns),
          r.rps.toFixed(0),
          r.p50.toFixed(2),
          r.p99.toFixed(2),
          Number.isNaN(cpu) ? '-' : cpu.toFixed(1),
          r.errors || '-',
        ]);
      }
    }
    print(rows);

    process.stdout.write(
      '\nratios vs nginx, median over rounds (min-max across rounds = the machine noise); CPU: lower is better\n',
    );
    const ratios: string[][] = [
      ['target', 'conns', 'req/s', 'req/s ratio', 'CPU us/req', 'CPU ratio', 'added p99 ms vs direct'],
    ];
    for (const conns of [...CONNS, BIG]) {
      const n = results.get(`nginx:${conns}`);
      const d = results.get(`direct:${conns}`);
      for (const p of proxies) {
        const r = results.get(`${p.name}:${conns}`)!;
        const per = (f: (i: number) => number) => r.map((_, i) => f(i));
        const rpsRatio = n ? per((i) => r[i]!.rps / n[i]!.rps) : [];
        const cpuRatio = n ? per((i) => r[i]!.cpu / n[i]!.cpu) : [];
        const addedP99 = d ? per((i) => r[i]!.p99 - d[i]!.p99) : [];
        ratios.push([
          p.name,
          String(conns),
          spread(
            r.map((x) => x.rps),
            0,
          ),
          spread(rpsRatio, 2),
          spread(
            r.map((x) => x.cpu),
            1,
          ),
          spread(cpuRatio, 2),
          spread(addedP99, 2),
        ]);
      }
    }
    print(ratios);
    if (results.has(`realip:${BIG}`) && results.has(`nginx:${BIG}`)) printGoals(results, [...CONNS, BIG]);
    process.stdout.write(
      `load average after: ${loadAverage()} (on ${cpus().length} CPUs: anything above ~2 means other work shared the cores)\n`,
    );
    process.stdout.write('\nRSS (MB, process tree)\n');
    const mem: string[][] = [['target', 'idle', `peak at ${BIG} conns`]];
    for (const p of proxies)
      mem.push([p.name, (idle.get(p.name) ?? 0).toFixed(1), (idle.get(`${p.name}@${BIG}`) ?? 0).toFixed(1)]);
    print(mem);
    const ours = idle.get(`realip@${BIG}`);
    const theirs = idle.get(`nginx@${BIG}`);
    if (ours !== undefined && theirs !== undefined) {
      process.stdout.write(
        `goal (issue 17, image configuration): sidecar RSS at ${BIG} HTTP connections ${ours.toFixed(1)} MB (<= 64): ${ours <= 64 ? 'met' : 'missed'}; ${(ours / theirs).toFixed(2)}x nginx (${theirs.toFixed(1)} MB)\n`,
      );
    }
  } catch (err) {
    for (const c of children) if (c.stderr()) process.stderr.write(`--- ${c.name} stderr:\n${c.stderr()}\n`);
    throw err;
  } finally {
    await Promise.all(children.reverse().map((c) => c.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

type Results = Map<string, { rps: number; cpu: number; p99: number }[]>;

/** Issue 17's HTTP goals, each with its figure, its ratio or margin, and met / missed (on the median). */
function printGoals(results: Results, conns: number[]): void {
  process.stdout.write(
    '\ngoals (issue 17), realip vs nginx in the same rounds; median (min-max) over rounds\n',
  );
  const rows: string[][] = [['goal', 'conns', 'realip', 'nginx', 'figure', 'target', 'verdict']];
  const verdict = (ok: boolean) => (ok ? 'met' : 'missed');
  // realip's figure against nginx's in the same round; `ok` judges the median ratio.
  const ratioRows = (
    goal: string,
    key: 'rps' | 'cpu',
    digits: number,
    target: string,
    ok: (m: number) => boolean,
  ) => {
    for (const c of conns) {
      const r = results.get(`realip:${c}`)!;
      const n = results.get(`nginx:${c}`)!;
      const ratio = r.map((x, i) => x[key] / n[i]![key]);
      const own = (xs: { rps: number; cpu: number }[]) =>
        spread(
          xs.map((x) => x[key]),
          digits,
        );
      rows.push([
        goal,
        String(c),
        own(r),
        own(n),
        `${spread(ratio, 2)}x`,
        target,
        verdict(ok(median(ratio))),
      ]);
    }
  };
  ratioRows('req/s', 'rps', 0, '>= 1.0x', (m) => m >= 1);
  ratioRows('CPU us/req', 'cpu', 1, '<= 1.1x', (m) => m <= 1.1);
  for (const c of conns.filter((x) => x === 50 || x === 200)) {
    const r = results.get(`realip:${c}`)!;
    const n = results.get(`nginx:${c}`)!;
    const d = results.get(`direct:${c}`)!;
    const addedR = r.map((x, i) => x.p99 - d[i]!.p99);
    const addedN = n.map((x, i) => x.p99 - d[i]!.p99);
    // Margin over the target (nginx's added p99 + 1 ms), per round: <= 0 meets it.
    const over = addedR.map((x, i) => x - (addedN[i]! + 1));
    rows.push([
      'added p99 ms',
      String(c),
      spread(addedR, 2),
      spread(addedN, 2),
      `${spread(over, 2)} over target`,
      "<= nginx's + 1",
      verdict(median(over) <= 0),
    ]);
  }
  print(rows);
}

await main();
