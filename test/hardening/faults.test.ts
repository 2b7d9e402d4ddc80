// Faults around REAL sidecar processes: the app killed and restarted mid-stream (http and tcp), a
// slow app (504 at --app-timeout), SIGTERM with requests in flight (all finish, exit 0), a listener
// port already taken (clear error naming the port, non-zero exit), and file-descriptor exhaustion
// under a low RLIMIT_NOFILE (new connections refused, old ones served, recovery, no crash).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { requireTool } from '../../devkit/tools.ts';
import { figure, percentile, pool, type Sidecar, size, startSidecar } from './lib/harness.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const HEADER = encodeV2({
  family: 'TCP4',
  source: { address: '198.51.100.7', port: 40000 },
  destination: { address: '203.0.113.1', port: 80 },
});
const HEADER_V1 = (i: number) =>
  encodeV1({
    family: 'TCP4',
    source: { address: `198.51.${(i >> 8) & 255}.${i & 255}`, port: 40000 },
    destination: { address: '203.0.113.1', port: 80 },
  });

/**
 * The app as its own process, so it can be killed: GET /slow?ms=N answers after N ms, /stream
 * sends a chunk every 50 ms for 30 s, anything else answers "ok"; the tcp port echoes.
 */
const APP = `
const http = require('node:http'), net = require('node:net');
const [httpPort, tcpPort] = process.argv.slice(1).map(Number);
const server = http.createServer((req, res) => {
  const u = new URL(req.url, 'http://x');
  if (u.pathname === '/slow') { setTimeout(() => res.end('slow ok'), Number(u.searchParams.get('ms'))); return; }
  if (u.pathname === '/stream') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    let n = 0; const t = setInterval(() => { res.write('chunk ' + n++ + '\\n'); if (n > 600) { clearInterval(t); res.end(); } }, 50);
    res.on('close', () => clearInterval(t)); return;
  }
  res.end('ok');
});
server.keepAliveTimeout = 60000;
const echo = net.createServer((s) => { s.pipe(s); s.on('error', () => {}); });
let up = 0; const ready = () => { if (++up === 2) process.stdout.write('listening\\n'); };
server.listen(httpPort, '127.0.0.1', ready); echo.listen(tcpPort, '127.0.0.1', ready);
`;

interface App {
  child: ChildProcess;
  stop(): Promise<void>;
}

async function startApp(httpPort: number, tcpPort: number): Promise<App> {
  const child = spawn(process.execPath, ['-e', APP, String(httpPort), String(tcpPort)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`app exited ${c}`)));
  });
  return {
    child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    },
  };
}

/** One HTTP exchange on a fresh connection: status line and body, or the socket error. */
function request(port: number, path: string, timeoutMs = 10_000, header: Buffer = HEADER): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(`TIMEOUT ${out.slice(0, 60)}`);
    }, timeoutMs);
    s.on('connect', () =>
      s.write(
        Buffer.concat([header, Buffer.from(`GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`)]),
      ),
    );
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      out += ` ERROR ${e.code}`;
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

function statusOf(response: string): string {
  return /^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? response.slice(0, 40);
}

async function healthy(s: Sidecar): Promise<boolean> {
  return fetch(`http://127.0.0.1:${s.adminPort}/healthz`)
    .then((r) => r.status === 200)
    .catch(() => false);
}

/**
 * Requests the sidecar forwarded to the app: answered (realip_http_requests_total, counted when
 * answered) plus in flight (realip_http_requests_in_flight).
 */
async function forwarded(s: Sidecar): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${s.adminPort}/metrics`)).text();
  let sum = 0;
  for (const m of text.matchAll(/^realip_http_requests_(?:total|in_flight)(?:\{[^}]*\})? (\d+)/gm))
    sum += Number(m[1]);
  return sum;
}

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

describe('faults: nothing lost, nothing stuck', () => {
  test('app killed mid-stream and restarted: prompt error, sidecar stays up, recovers (http and tcp)', async (t) => {
    const appHttp = await freePortBelowEphemeral();
    const appTcp = await freePortBelowEphemeral();
    let app = await startApp(appHttp, appTcp);
    cleanups.push(() => app.stop());
    const httpPort = await freePortBelowEphemeral();
    const tcpPort = await freePortBelowEphemeral();
    const sidecar = await startSidecar({
      listeners: [`http:${httpPort}:${appHttp}`, `tcp:${tcpPort}:${appTcp}`],
      args: ['--connect-timeout', '2000'],
    });
    cleanups.push(() => sidecar.stop());
    const STREAMS = 20;
    // Streams in flight (http) and echo sessions (tcp).
    const streams = Array.from({ length: STREAMS }, () => {
      const s = net.connect({ host: '127.0.0.1', port: httpPort });
      const st = { got: 0, closedAt: 0, error: '' };
      s.on('connect', () =>
        s.write(Buffer.concat([HEADER, Buffer.from('GET /stream HTTP/1.1\r\nHost: a\r\n\r\n')])),
      );
      s.on('data', (d: Buffer) => {
        st.got += d.length;
      });
      s.on('error', (e: NodeJS.ErrnoException) => {
        st.error = e.code ?? e.message;
      });
      s.on('close', () => {
        st.closedAt = performance.now();
      });
      return st;
    });
    const echoes = Array.from({ length: STREAMS }, () => {
      const s = net.connect({ host: '127.0.0.1', port: tcpPort });
      const st = { got: 0, closedAt: 0 };
      s.on('connect', () => s.write(Buffer.concat([HEADER, Buffer.from('ping\n')])));
      s.on('data', (d: Buffer) => {
        st.got += d.length;
      });
      s.on('error', () => {});
      s.on('close', () => {
        st.closedAt = performance.now();
      });
      return st;
    });
    await sleep(800);
    assert.ok(
      streams.every((s) => s.got > 0 && s.closedAt === 0),
      'every stream is flowing before the kill',
    );
    assert.ok(
      echoes.every((s) => s.got > 0 && s.closedAt === 0),
      'every echo session is open before the kill',
    );
    const killedAt = performance.now();
    await app.stop();
    await sleep(1500);
    const closeMs = [...streams, ...echoes].map((s) =>
      s.closedAt ? s.closedAt - killedAt : Number.POSITIVE_INFINITY,
    );
    assert.ok(await healthy(sidecar), 'sidecar /healthz after the app died');
    assert.equal(sidecar.child.exitCode, null, `sidecar died:\n${sidecar.output()}`);
    // While the app is down: a fresh request gets a 502 at once, not a hang.
    const down = await request(httpPort, '/', 5000);
    app = await startApp(appHttp, appTcp);
    const recovered = await Promise.all(Array.from({ length: 10 }, () => request(httpPort, '/')));
    const echoBack = await new Promise<string>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: tcpPort });
      let out = '';
      s.on('connect', () => s.end(Buffer.concat([HEADER, Buffer.from('again\n')])));
      s.on('data', (d: Buffer) => {
        out += d;
      });
      s.on('close', () => resolve(out));
      s.on('error', () => {});
    });
    const lost = closeMs.filter((ms) => ms > 1000).length;
    figure(t, {
      case: 'fault: app killed and restarted',
      tried: closeMs.length + 1 + recovered.length + 1,
      passed:
        closeMs.length -
        lost +
        (statusOf(down) === '502' ? 1 : 0) +
        recovered.filter((r) => statusOf(r) === '200').length +
        (echoBack.endsWith('again\n') ? 1 : 0),
      violations: lost,
      note: `clients closed ${Math.round(Math.min(...closeMs))}-${Math.round(Math.max(...closeMs))} ms after the kill; while down: ${statusOf(down)}`,
    });
    assert.equal(lost, 0, `${lost} client connections still open 1 s after the app died`);
    assert.equal(statusOf(down), '502', `while the app is down: ${down}`);
    assert.deepEqual(
      recovered.map(statusOf),
      recovered.map(() => '200'),
    );
    assert.ok(echoBack.endsWith('again\n'), `tcp echo after recovery: ${JSON.stringify(echoBack)}`);
  });

  test('slow app: 504 at --app-timeout, the sidecar stays up and serves others', async (t) => {
    const appHttp = await freePortBelowEphemeral();
    const app = await startApp(appHttp, await freePortBelowEphemeral());
    cleanups.push(() => app.stop());
    const port = await freePortBelowEphemeral();
    const sidecar = await startSidecar({
      listeners: [`http:${port}:${appHttp}`],
      args: ['--app-timeout', '1000'],
    });
    cleanups.push(() => sidecar.stop());
    const n = 20;
    const started = performance.now();
    const slow = await Promise.all(
      Array.from({ length: n }, async () => {
        const r = await request(port, '/slow?ms=5000');
        return { status: statusOf(r), ms: performance.now() - started };
      }),
    );
    const fast = await request(port, '/slow?ms=100');
    const ms = slow.map((s) => s.ms);
    figure(t, {
      case: 'fault: slow app (504)',
      tried: n + 1,
      passed: slow.filter((s) => s.status === '504').length + (statusOf(fast) === '200' ? 1 : 0),
      violations: slow.filter((s) => s.status !== '504').length,
      p99Ms: percentile(ms, 99),
      note: '--app-timeout 1000 against an app answering after 5 s',
    });
    assert.deepEqual(
      slow.map((s) => s.status),
      slow.map(() => '504'),
    );
    assert.ok(Math.min(...ms) >= 990, `504 before the timeout: ${Math.min(...ms)} ms`);
    assert.ok(Math.max(...ms) < 4000, `504 late: ${Math.max(...ms)} ms`);
    assert.equal(statusOf(fast), '200');
    assert.ok(await healthy(sidecar));
  });

  test('SIGTERM with requests in flight: every one finishes within the grace period, exit 0', async (t) => {
    const appHttp = await freePortBelowEphemeral();
    const app = await startApp(appHttp, await freePortBelowEphemeral());
    cleanups.push(() => app.stop());
    const port = await freePortBelowEphemeral();
    const sidecar = await startSidecar({
      listeners: [`http:${port}:${appHttp}`],
      args: ['--drain-timeout', '10000'],
    });
    cleanups.push(() => sidecar.stop('SIGKILL'));
    const n = size('drain_requests', 200, 1000);
    const inflight = Array.from({ length: n }, (_, i) =>
      request(port, `/slow?ms=${1000 + (i % 10) * 100}`, 20_000),
    );
    // In flight = forwarded to the app (counted by the sidecar), not merely sent by the client.
    const until = Date.now() + 15_000;
    while ((await forwarded(sidecar)) < n && Date.now() < until) await sleep(50);
    assert.equal(await forwarded(sidecar), n, 'not every request reached the app before SIGTERM');
    const termAt = performance.now();
    sidecar.child.kill('SIGTERM');
    const results = await Promise.all(inflight);
    const code = await sidecar.exited;
    const exitMs = performance.now() - termAt;
    const ok = results.filter((r) => statusOf(r) === '200' && r.endsWith('slow ok')).length;
    figure(t, {
      case: 'fault: SIGTERM with requests in flight',
      tried: n,
      passed: ok,
      violations: n - ok,
      note: `exit ${code} ${Math.round(exitMs)} ms after SIGTERM (grace 10 s; slowest request 1.9 s)`,
    });
    assert.equal(
      ok,
      n,
      `lost: ${results
        .filter((r) => statusOf(r) !== '200')
        .slice(0, 3)
        .join(' | ')}`,
    );
    assert.equal(code, 0);
    assert.ok(exitMs < 10_000, `exit took ${exitMs} ms`);
  });

  test('listener port already taken: clear error naming the port, non-zero exit', async (t) => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '::', () => r()));
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const port = (taken.address() as net.AddressInfo).port;
    const started = performance.now();
    const sidecar = await startSidecar({ listeners: [`http:${port}:1`], wait: false });
    const code = await sidecar.exited;
    const ms = performance.now() - started;
    const out = sidecar.output();
    figure(t, {
      case: 'fault: listener port taken',
      tried: 1,
      passed: code !== 0 && out.includes(String(port)) ? 1 : 0,
      violations: code === 0 ? 1 : 0,
      note: `exit ${code} after ${Math.round(ms)} ms: ${/^realip sidecar: .*$/m.exec(out)?.[0] ?? out.trim().split('\n').at(-1)}`,
    });
    assert.notEqual(code, 0);
    assert.match(out, new RegExp(`port ${port}\\b.*already in use`));
    assert.ok(ms < 10_000);
  });

  test('file-descriptor exhaustion: refuses new connections, serves old ones, recovers, never crashes', async (t) => {
    requireTool('prlimit');
    const appHttp = await freePortBelowEphemeral();
    const app = await startApp(appHttp, await freePortBelowEphemeral());
    cleanups.push(() => app.stop());
    const port = await freePortBelowEphemeral();
    const LIMIT = 128;
    const sidecar = await startSidecar({
      listeners: [`http:${port}:${appHttp}`],
      prefix: ['prlimit', `--nofile=${LIMIT}:${LIMIT}`, '--'],
    });
    cleanups.push(() => sidecar.stop('SIGKILL'));
    // Keep-alive connections, each with one answered request (so each holds a client and an app fd).
    interface Held {
      s: net.Socket;
      buf: string;
      answered: (() => void) | null;
    }
    const held: Held[] = [];
    /** Sends one request on a held connection; true when "ok" came back within 5 s. */
    const ask = (h: Held, first: Buffer = Buffer.alloc(0)) =>
      new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          h.answered = null;
          resolve(false);
        }, 5000);
        h.answered = () => {
          clearTimeout(timer);
          h.answered = null;
          resolve(true);
        };
        h.s.write(Buffer.concat([first, Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n')]));
      });
    const open = (i: number) =>
      new Promise<boolean>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
        const h: Held = { s, buf: '', answered: null };
        s.on('data', (d: Buffer) => {
          h.buf += d.toString('latin1');
          if (h.buf.endsWith('\r\n\r\nok')) {
            h.buf = '';
            h.answered?.();
          }
        });
        s.on('error', () => {});
        s.on('close', () => resolve(false));
        s.on('connect', async () => {
          if (await ask(h, HEADER_V1(i))) {
            held.push(h);
            resolve(true);
          } else resolve(false);
        });
      });
    let refused = 0;
    for (let i = 0; i < LIMIT && refused < 10; i++) if (!(await open(i))) refused++;
    assert.ok(refused > 0, `no connection was refused with ${LIMIT} fds (held ${held.length})`);
    assert.ok(held.length > 20, `only ${held.length} connections held`);
    await sleep(300);
    assert.equal(sidecar.child.exitCode, null, `sidecar crashed at fd exhaustion:\n${sidecar.output()}`);
    // Old connections keep being served.
    let oldServed = 0;
    await pool(held.length, 16, async (i) => {
      if (await ask(held[i]!)) oldServed++;
    });
    // Free half of them: new connections are accepted again.
    const freed = held.splice(0, Math.floor(held.length / 2));
    for (const h of freed) h.s.destroy();
    await sleep(500);
    let recovered = 0;
    for (let i = 0; i < 10; i++) if (statusOf(await request(port, '/', 5000)) === '200') recovered++;
    const alive = sidecar.child.exitCode === null && (await healthy(sidecar));
    figure(t, {
      case: 'fault: fd exhaustion',
      tried: held.length + freed.length + 10,
      passed: oldServed + recovered,
      violations: (alive ? 0 : 1) + (held.length + freed.length - oldServed) + (10 - recovered),
      note: `RLIMIT_NOFILE ${LIMIT}: ${held.length + freed.length} connections held, ${refused} refused; old served ${oldServed}; after freeing ${freed.length}: ${recovered}/10 new served`,
    });
    for (const h of held) h.s.destroy();
    assert.ok(alive, `sidecar not alive after fd exhaustion:\n${sidecar.output()}`);
    assert.equal(oldServed, held.length + freed.length, 'old connections were not all served');
    assert.equal(recovered, 10, 'new connections not served after fds were freed');
  });
});
