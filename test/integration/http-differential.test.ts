// Differential test against an independent parser: mutated requests (stray CR, LF, spaces, colons,
// NULs, commas, extra empty lines, deleted bytes, duplicated lines) carrying forged forwarding
// fields go through the hop into a node:http app (llhttp). For every request llhttp accepts, the
// forwarding fields must be exactly ours: a forged value, or a request the app parsed that the hop
// did not see as one (no X-Forwarded-For of ours), is a violation. The same with nginx as the app
// (its own parser; every request it answers 2xx is checked in its access log).
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { sleep, startHop, v1 } from './http-helpers.ts';

const CLIENT = '198.51.100.7';

const base = fc.constantFrom(
  'GET /a HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  'GET /b HTTP/1.1\r\nHost: a\r\nx-real-ip: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nhello',
  'POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-FORWARDED-FOR: 6.6.6.6\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /e HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.7\r\n\r\n',
  'GET /f HTTP/1.0\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive\r\n\r\n',
  // Issue 11: a CONNECT that a catch-all app would tunnel, with a smuggled request behind it.
  'CONNECT / HTTP/1.1\r\nHost: a\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  // Issue 11: an h2c upgrade, then what would be the next request on the same connection.
  'GET /h2c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n' +
    'HTTP2-Settings: AAMAAABkAAQAAP__\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nGET /after HTTP/1.1\r\nHost: a\r\nX-Real-IP: 6.6.6.6\r\n\r\n',
);

const INSERTS = [
  '\r',
  '\n',
  ' ',
  '\t',
  ':',
  '\x00',
  ',',
  'a',
  '\r\n',
  '\r\n\r\n',
  ' \r\n',
  '\r\n ',
  '\n\n',
  '0\r\n\r\n',
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...INSERTS) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dupline' as const), at: fc.nat() }),
);

function mutate(text: string, ms: { op: string; at: number; text?: string }[]): string {
  let t = text;
  for (const m of ms) {
    const at = m.at % (t.length + 1);
    if (m.op === 'insert') t = t.slice(0, at) + m.text + t.slice(at);
    else if (m.op === 'delete') t = t.slice(0, at) + t.slice(at + 1);
    else {
      const lines = t.split('\r\n');
      const i = m.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      t = lines.join('\r\n');
    }
  }
  return t;
}

test('mutated requests: llhttp never sees a forged forwarding field or a request the hop did not rewrite', async (t) => {
  const violations: string[] = [];
  let requests = 0;
  let current = '';
  const app = http.createServer((req, res) => {
    requests++;
    const xff = req.headers['x-forwarded-for'];
    const real = req.headers['x-real-ip'];
    const fwd = req.headers.forwarded;
    if (xff !== CLIENT || real !== CLIENT || fwd !== `for=${CLIENT}`)
      violations.push(`${JSON.stringify(current)} -> ${JSON.stringify({ xff, real, fwd, url: req.url })}`);
    req.resume();
    req.on('end', () => res.end('ok'));
    req.on('error', () => {});
  });
  app.on('clientError', (_err, socket) => socket.destroy());
  // A CONNECT or an upgrade that reaches the app bypasses the request handler above: both are
  // violations here (no base request asks for WebSocket).
  app.on('connect', (req, socket) => {
    violations.push(`${JSON.stringify(current)} -> CONNECT ${req.url} reached the app`);
    socket.destroy();
  });
  app.on('upgrade', (req, socket) => {
    violations.push(`${JSON.stringify(current)} -> upgrade to ${req.headers.upgrade} reached the app`);
    socket.destroy();
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const hop = await startHop((app.address() as net.AddressInfo).port);
  t.after(async () => {
    await hop.close();
    app.closeAllConnections();
    await new Promise<void>((r) => app.close(() => r()));
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(base, { minLength: 1, maxLength: 3 }),
      fc.array(mutation, { maxLength: 3 }),
      async (reqs, ms) => {
        const wire = mutate(reqs.join(''), ms);
        current = wire;
        await send(hop.port, wire);
      },
    ),
    { numRuns: 300, endOnFailure: true },
  );
  assert.deepEqual(violations.slice(0, 5), [], `${violations.length} violations`);
  assert.ok(requests > 50, `only ${requests} requests reached the app: the test exercises too little`);
});

/** Sends one mutated stream on its own connection, half-closes, waits for the close (max 1 s). */
function send(port: number, wire: string): Promise<void> {
  return new Promise<void>((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      s.destroy();
      resolve();
    }, 1000);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    s.on('error', done);
    s.on('close', done);
    s.on('data', () => {});
    s.write(Buffer.concat([v1(CLIENT), Buffer.from(wire, 'latin1')]));
    s.end();
  });
}

test('mutated requests: nginx never logs a forged forwarding field for a request it served', async (t) => {
  try {
    execFileSync('sh', ['-c', 'command -v nginx'], { stdio: 'ignore' });
  } catch {
    throw new Error('required tool "nginx" is not installed: run "sudo bash test/setup.sh"');
  }
  const dir = mkdtempSync(join(tmpdir(), 'realip-http-diff-'));
  mkdirSync(join(dir, 'logs'));
  const port = await new Promise<number>((r) => {
    const x = net.createServer();
    x.listen(0, '127.0.0.1', () => {
      const p = (x.address() as net.AddressInfo).port;
      x.close(() => r(p));
    });
  });
  const log = join(dir, 'access.log');
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1; events { worker_connections 256; }
http { log_format f '$status|$http_x_forwarded_for|$http_x_real_ip|$http_forwarded|$request_uri|$http_upgrade|$request_method';
  access_log ${log} f; client_body_temp_path ${dir}/body;
  server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } } }`,
  );
  const ng: ChildProcess = spawn(
    'nginx',
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', `daemon off; pid ${dir}/pid; error_log stderr crit;`],
    { stdio: 'ignore' },
  );
  const hop = await startHop(port);
  t.after(async () => {
    await hop.close();
    await new Promise<void>((r) => {
      if (ng.exitCode !== null) return r();
      ng.once('exit', () => r());
      ng.kill('SIGTERM');
    });
    rmSync(dir, { recursive: true, force: true });
  });
  for (let i = 0; i < 100; i++) {
    try {
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve();
        });
        s.on('error', reject);
      });
      break;
    } catch {
      await sleep(50);
    }
  }
  await fc.assert(
    fc.asyncProperty(
      fc.array(base, { minLength: 1, maxLength: 3 }),
      fc.array(mutation, { maxLength: 3 }),
      (reqs, ms) => send(hop.port, mutate(reqs.join(''), ms)),
    ),
    { numRuns: 300 },
  );
  await sleep(200);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  const served = lines.filter((l) => l.startsWith('2'));
  const bad = served.filter((l) => {
    const [, xff, real, fwd, , upgrade, method] = l.split('|');
    return (
      xff !== CLIENT || real !== CLIENT || fwd !== `for=${CLIENT}` || upgrade !== '-' || method === 'CONNECT'
    );
  });
  assert.deepEqual(
    bad.slice(0, 5),
    [],
    `${bad.length} of ${served.length} served requests showed a forged field`,
  );
  assert.ok(served.length > 50, `only ${served.length} requests were served: the test exercises too little`);
});
