/**
 * `realip demo`: the main job end to end, on loopback, in one process tree:
 *
 *   clients (addresses chosen below) --> edge (our PROXY encoder, v1 or v2) --> `realip sidecar`
 *   (a child process, http listener) --> echo app (node:http, answers with the headers it saw)
 *
 * Prints one row per request: who the client was, which PROXY version carried it, and what the
 * app saw in X-Forwarded-For / X-Real-IP / Forwarded. Exits 0 only when every row matches (and the
 * forged X-Forwarded-For never reached the app). Ephemeral ports, loopback only, children killed
 * on every path out.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { exitStatus } from '../../common/error-codes/registry.ts';
import { codeLine, failureLine } from '../../common/errors.ts';
import { encodeV1, encodeV2 } from '../proxy-protocol/encode.ts';

interface Client {
  readonly name: string;
  readonly address: string;
  readonly version: 1 | 2;
  readonly paths: readonly string[];
  /** Requests written back to back without waiting for answers. */
  readonly pipelined?: boolean;
  readonly forged?: boolean;
}

const CLIENTS: readonly Client[] = [
  { name: 'laptop', address: '198.51.100.7', version: 1, paths: ['/'] },
  { name: 'phone', address: '203.0.113.50', version: 2, paths: ['/cart', '/cart/items', '/checkout'] },
  { name: 'ipv6 host', address: '2001:db8::7', version: 2, paths: ['/'] },
  { name: 'ipv6 via v1', address: '2001:db8:cafe::42', version: 1, paths: ['/status'] },
  { name: 'pipeliner', address: '198.51.100.200', version: 1, paths: ['/a', '/b'], pipelined: true },
  { name: 'spoofer', address: '192.0.2.66', version: 2, paths: ['/admin'], forged: true },
];
const FORGED = '6.6.6.6';
/** `realip demo --timeout-ms` by default. */
export const DEMO_DEADLINE_MS = 10000;

interface Seen {
  url: string;
  xff: string;
  realIp: string;
  forwarded: string;
  forgedSeen: boolean;
}

/** Runs the demo; gives up (exit 1, CLI_DEMO_TIMEOUT) after deadlineMs. Returns the exit code. */
export async function runDemo(deadlineMs: number): Promise<number> {
  let sidecar: ChildProcess | undefined;
  let app: http.Server | undefined;
  const killSidecar = () => {
    if (sidecar && sidecar.exitCode === null && sidecar.signalCode === null) sidecar.kill('SIGKILL');
  };
  process.once('exit', killSidecar);
  const deadline = setTimeout(() => {
    process.stderr.write(codeLine('demo', 'CLI_DEMO_TIMEOUT', `did not finish within ${deadlineMs} ms`));
    killSidecar();
    process.exit(exitStatus('CLI_DEMO_TIMEOUT'));
  }, deadlineMs);
  deadline.unref();
  try {
    app = await startEchoApp();
    const appPort = (app.address() as net.AddressInfo).port;
    const port = await freePort();
    const admin = await freePort();
    // The CLI entry this process was started by (bin/realip.js, cli/main.ts, dist/cli/main.js or
    // the image's bundle): the sidecar runs the same code as the demo.
    const entry = process.argv[1]!;
    let stderr = '';
    sidecar = spawn(
      process.execPath,
      [
        entry,
        'sidecar',
        '--listener',
        `http:${port}:${appPort}`,
        '--trusted-cidrs',
        '127.0.0.0/8,::1/128',
        '--admin-port',
        String(admin),
        '--admin-host',
        '127.0.0.1',
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    sidecar.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    await waitReady(admin, sidecar, () => stderr);

    process.stdout.write(
      `echo app on 127.0.0.1:${appPort}; realip sidecar (pid ${sidecar.pid}) on :${port} -> app; edge writes PROXY headers\n\n`,
    );
    const rows: string[][] = [
      ['client', 'PROXY', 'request', 'app saw X-Forwarded-For', 'X-Real-IP', 'Forwarded', 'result'],
    ];
    let ok = true;
    for (const c of CLIENTS) {
      const seen = await talk(port, c);
      c.paths.forEach((path, i) => {
        const s = seen[i];
        const fwd = c.address.includes(':') ? `for="[${c.address}]"` : `for=${c.address}`;
        const good =
          s !== undefined &&
          s.url === path &&
          s.xff === c.address &&
          s.realIp === c.address &&
          s.forwarded === fwd &&
          !s.forgedSeen;
        if (!good) ok = false;
        rows.push([
          `${c.name} ${c.address}${c.forged ? ` (sends X-Forwarded-For: ${FORGED})` : ''}`,
          `v${c.version}${c.pipelined ? ' pipelined' : c.paths.length > 1 ? ' keep-alive' : ''}`,
          path,
          s?.xff ?? '-',
          s?.realIp ?? '-',
          s?.forwarded ?? '-',
          good ? 'OK' : 'FAIL',
        ]);
      });
    }
    process.stdout.write(`${table(rows)}\n`);
    process.stdout.write(
      ok
        ? 'every request reached the app with its real client address; the forged header did not.\n'
        : 'FAIL: at least one request did not show its real client to the app.\n',
    );
    if (!ok)
      process.stderr.write(codeLine('demo', 'CLI_DEMO_MISMATCH', 'a row did not match (see the table)'));
    return ok ? 0 : exitStatus('CLI_DEMO_MISMATCH');
  } catch (err: unknown) {
    process.stderr.write(failureLine('demo', err, 'CLI_DEMO_FAILED'));
    return exitStatus('CLI_DEMO_FAILED');
  } finally {
    clearTimeout(deadline);
    if (sidecar && sidecar.exitCode === null) {
      const exited = new Promise((r) => sidecar?.once('exit', r));
      sidecar.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      killSidecar();
    }
    app?.closeAllConnections();
    app?.close();
    process.removeListener('exit', killSidecar);
  }
}

function startEchoApp(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const body = JSON.stringify({ url: req.url, headers: req.rawHeaders });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r, j) => {
    s.once('error', j);
    s.listen(0, '127.0.0.1', () => r());
  });
  const { port } = s.address() as net.AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function waitReady(admin: number, child: ChildProcess, stderr: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the sidecar exited (${child.exitCode}): ${stderr().trim()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: admin, path: '/readyz', timeout: 500 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => {
        req.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The edge and the client in one: PROXY header first, then the client's requests on one connection. */
function talk(port: number, c: Client): Promise<Seen[]> {
  return new Promise((resolve, reject) => {
    const v6 = c.address.includes(':');
    const header = {
      family: v6 ? ('TCP6' as const) : ('TCP4' as const),
      source: { address: c.address, port: 40000 + Math.floor(Math.random() * 20000) },
      destination: { address: v6 ? '2001:db8::80' : '10.0.0.80', port: 80 },
    };
    const socket = net.connect(port, '127.0.0.1');
    const request = (path: string) =>
      `GET ${path} HTTP/1.1\r\nHost: demo.example\r\nUser-Agent: realip-demo\r\n` +
      (c.forged ? `X-Forwarded-For: ${FORGED}\r\nX-Real-IP: ${FORGED}\r\n` : '') +
      '\r\n';
    const seen: Seen[] = [];
    let buf = Buffer.alloc(0);
    let next = 0;
    socket.on('connect', () => {
      socket.write(c.version === 1 ? encodeV1(header) : encodeV2(header));
      if (c.pipelined) {
        socket.write(c.paths.map(request).join(''));
        next = c.paths.length;
      } else socket.write(request(c.paths[next++]!));
    });
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
        buf = buf.subarray(end + 4 + len);
        seen.push(parseSeen(body));
        if (seen.length === c.paths.length) {
          socket.end();
          resolve(seen);
          return;
        }
        if (next < c.paths.length) socket.write(request(c.paths[next++]!));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => {
      if (seen.length < c.paths.length) resolve(seen);
    });
  });
}

function parseSeen(body: string): Seen {
  const j = JSON.parse(body) as { url: string; headers: string[] };
  const get = (name: string) => {
    const values: string[] = [];
    for (let i = 0; i < j.headers.length; i += 2)
      if (j.headers[i]!.toLowerCase() === name) values.push(j.headers[i + 1]!);
    return values.join(' | ');
  };
  return {
    url: j.url,
    xff: get('x-forwarded-for'),
    realIp: get('x-real-ip'),
    forwarded: get('forwarded'),
    forgedSeen: j.headers.some((h) => h.includes(FORGED)),
  };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
