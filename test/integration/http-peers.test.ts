// The HTTP hop between real peers: HAProxy as the edge (send-proxy and send-proxy-v2), nginx as the
// app (echoing the forwarding headers it received), curl as the client (also --haproxy-protocol
// straight to the sidecar). The sidecar runs as `realip sidecar`, a child process. Also SIGTERM drain.
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { freeEphemeralPort } from '../../devkit/ports.ts';
import { requireTool } from '../../devkit/tools.ts';
import { startSidecar as startSharedSidecar } from '../support/sidecar.ts';
import { RawClient, sleep, startRawApp, v1 } from './http-helpers.ts';

const run = promisify(execFile);

async function waitPort(port: number, proc?: ChildProcess, what = 'process'): Promise<void> {
  const until = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('connect', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    if (proc && proc.exitCode !== null) throw new Error(`${what} exited with ${proc.exitCode}`);
    if (Date.now() > until) throw new Error(`${what}: nothing listening on ${port}`);
    await sleep(50);
  }
}

interface Child {
  proc: ChildProcess;
  stderr: () => string;
}

const children: ChildProcess[] = [];
function start(cmd: string, args: string[]): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(proc);
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
  });
  return { proc, stderr: () => err };
}

async function startSidecar(
  appPort: number,
  extra: string[] = [],
): Promise<Child & { port: number; admin: number }> {
  const port = await freeEphemeralPort();
  const c = await startSharedSidecar({
    listeners: [`http:${port}:${appPort}`],
    trusted: '127.0.0.0/8',
    adminPort: await freeEphemeralPort(),
    args: extra,
  });
  children.push(c.child);
  return { proc: c.child, stderr: c.output, port, admin: c.adminPort };
}

let dir: string;
let appPort: number;
let side: Child & { port: number; admin: number };
let edgeV1: number;
let edgeV2: number;
/** HAProxy send-proxy-v2 with a UNIQUE_ID TLV, to a sidecar with --tlv-headers unique-id. */
let edgeTlv: number;
let sideTlv: Child & { port: number; admin: number };

before(async () => {
  for (const t of ['haproxy', 'nginx', 'curl']) requireTool(t);
  dir = mkdtempSync(join(tmpdir(), 'realip-http-peers-'));
  appPort = await freeEphemeralPort();
  mkdirSync(join(dir, 'nginx', 'logs'), { recursive: true });
  writeFileSync(
    join(dir, 'nginx', 'nginx.conf'),
    `worker_processes 1; events { worker_connections 256; }
http { access_log off; client_body_temp_path ${dir}/nginx/body;
  server { listen 127.0.0.1:${appPort};
    location / { default_type text/plain;
      return 200 "xff=[$http_x_forwarded_for] real=[$http_x_real_ip] fwd=[$http_forwarded] port=[$http_x_forwarded_port] proto=[$http_x_forwarded_proto] uri=[$request_uri] uid=[$http_x_realip_unique_id]\\n"; } } }`,
  );
  const ng = start('nginx', [
    '-p',
    join(dir, 'nginx'),
    '-c',
    join(dir, 'nginx', 'nginx.conf'),
    '-g',
    `daemon off; pid ${dir}/nginx/pid; error_log stderr;`,
  ]);
  await waitPort(appPort, ng.proc, 'nginx');
  side = await startSidecar(appPort, ['--log-level', 'warn']);
  edgeV1 = await freeEphemeralPort();
  edgeV2 = await freeEphemeralPort();
  sideTlv = await startSidecar(appPort, ['--log-level', 'warn', '--tlv-headers', 'unique-id,authority']);
  edgeTlv = await freeEphemeralPort();
  writeFileSync(
    join(dir, 'edge.cfg'),
    `global
  maxconn 1000
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
listen v1
  bind 127.0.0.1:${edgeV1}
  server s 127.0.0.1:${side.port} send-proxy
listen v2
  bind 127.0.0.1:${edgeV2}
  server s 127.0.0.1:${side.port} send-proxy-v2
listen tlv
  bind 127.0.0.1:${edgeTlv}
  unique-id-format req-%ci-%cp
  server s 127.0.0.1:${sideTlv.port} send-proxy-v2 proxy-v2-options unique-id,crc32c
`,
  );
  const hp = start('haproxy', ['-f', join(dir, 'edge.cfg'), '-db']);
  await waitPort(edgeV1, hp.proc, 'haproxy');
  await waitPort(edgeV2, hp.proc, 'haproxy');
  await waitPort(edgeTlv, hp.proc, 'haproxy');
});

after(async () => {
  // SIGTERM first: a SIGKILLed nginx master would leave its worker (and our stderr pipe) behind.
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          c.stderr?.destroy();
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => c.kill('SIGKILL'), 3000);
          c.once('exit', () => {
            clearTimeout(t);
            resolve();
          });
          c.kill('SIGTERM');
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

async function curl(args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args]);
  return stdout;
}

for (const [name, port] of [
  ['send-proxy (v1)', () => edgeV1],
  ['send-proxy-v2', () => edgeV2],
] as const) {
  test(`HAProxy ${name} -> realip -> nginx: nginx sees the client, never the forged header`, async () => {
    // Each client binds its own loopback address, which the edge puts in the PROXY header.
    for (const src of ['127.0.0.5', '127.0.0.77']) {
      const out = await curl([
        '--interface',
        src,
        '-H',
        'X-Forwarded-For: 6.6.6.6',
        '-H',
        'x-real-ip: 6.6.6.6',
        `http://127.0.0.1:${port()}/a?b=1`,
        `http://127.0.0.1:${port()}/second`,
      ]);
      const lines = out.trim().split('\n');
      assert.equal(lines.length, 2);
      assert.equal(
        lines[0],
        `xff=[${src}] real=[${src}] fwd=[for=${src}] port=[${port()}] proto=[http] uri=[/a?b=1] uid=[]`,
      );
      assert.match(
        lines[1]!,
        new RegExp(`^xff=\\[${src.replace(/\./g, '\\.')}\\] .*uri=\\[/second\\] uid=\\[\\]$`),
      );
    }
  });
}

test('curl --haproxy-protocol straight to the sidecar, keep-alive and a POST body', async () => {
  const out = await curl([
    '--haproxy-protocol',
    '--interface',
    '127.0.0.9',
    '-H',
    'Forwarded: for=6.6.6.6',
    `http://127.0.0.1:${side.port}/1`,
    '--next',
    '--haproxy-protocol',
    '--interface',
    '127.0.0.9',
    '--data-binary',
    'x'.repeat(100000),
    `http://127.0.0.1:${side.port}/2`,
  ]);
  const lines = out.trim().split('\n');
  assert.equal(
    lines[0],
    `xff=[127.0.0.9] real=[127.0.0.9] fwd=[for=127.0.0.9] port=[${side.port}] proto=[http] uri=[/1] uid=[]`,
  );
  assert.match(lines[1]!, /^xff=\[127\.0\.0\.9\] .*uri=\[\/2\] uid=\[\]$/);
});

test('HAProxy UNIQUE_ID TLV becomes X-Realip-Unique-Id; a client-sent one never reaches the app', async () => {
  const out = await curl([
    '--interface',
    '127.0.0.6',
    '--local-port',
    '41000-41999',
    '-w',
    ' local=[%{local_port}]',
    '-H',
    'X-Realip-Unique-Id: forged',
    `http://127.0.0.1:${edgeTlv}/t`,
  ]);
  const local = /local=\[(\d+)\]/.exec(out)?.[1];
  assert.ok(local, out);
  assert.match(out, new RegExp(`^xff=\\[127\\.0\\.0\\.6\\] .* uid=\\[req-127\\.0\\.0\\.6-${local}\\]\\n`));
  assert.ok(!out.includes('forged'));
});

test('metrics count requests and errors', async () => {
  const m = await curl([`http://127.0.0.1:${side.admin}/metrics`]);
  let requests = 0;
  for (const x of m.matchAll(/^realip_http_requests_total\{[^}]*status_class="2xx"\} (\d+)$/gm))
    requests += Number(x[1]);
  assert.ok(requests >= 6, m);
});

test('SIGTERM: readyz false, in-flight request finishes, idle keep-alive closed, exit 0', async () => {
  // A slow app: answers 600 ms after each request head.
  const app = await startRawApp((s, all) => {
    if (all.endsWith('\r\n\r\n'))
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow'), 600);
  });
  const s = await startSidecar(app.port, ['--log-level', 'warn', '--drain-timeout', '5000']);
  try {
    const idle = new RawClient(s.port);
    idle.write(Buffer.concat([v1('198.51.100.1'), Buffer.from('GET /idle HTTP/1.1\r\nHost: a\r\n\r\n')]));
    await idle.waitFor((x) => x.endsWith('slow'));
    const busy = new RawClient(s.port);
    busy.write(Buffer.concat([v1('198.51.100.2'), Buffer.from('GET /busy HTTP/1.1\r\nHost: a\r\n\r\n')]));
    await app.waitFor((x) => x.includes('/busy'));
    assert.equal(
      (await curl(['-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${s.admin}/readyz`])).trim(),
      '200',
    );
    const exited = new Promise<number | null>((r) => s.proc.once('exit', (code) => r(code)));
    s.proc.kill('SIGTERM');
    await sleep(100);
    const ready = await curl([
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${s.admin}/readyz`,
    ]).catch(() => 'down');
    assert.ok(ready.trim() === '503' || ready === 'down', `readyz during drain: ${ready}`);
    // The idle keep-alive connection is closed between requests; the busy one gets its answer.
    assert.equal(await idle.waitClosed(3000), 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow');
    assert.equal(await busy.waitClosed(3000), 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow');
    assert.equal(await exited, 0);
    // New connections are refused once draining started.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const c = net.connect(s.port, '127.0.0.1');
        c.on('connect', () => {
          c.destroy();
          resolve(undefined);
        });
        c.on('error', reject);
      }),
    );
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
    await app.close();
  }
});
