// The N-API helper on loopback: a socket it creates, binds and connects on a worker thread is a
// working net.Socket (data both ways, half-close); errors carry errno codes; a client port still in
// use falls back to port 0 with the same address; the connect timeout holds.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadNative } from '../../sidecar/tcp/native/index.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const native = loadNative();
let server: net.Server;
let port = 0;
const open = new Set<net.Socket>();

before(async () => {
  server = net.createServer({ allowHalfOpen: true }, (s) => {
    open.add(s);
    s.on('close', () => open.delete(s));
    s.write(`peer ${s.remoteAddress}:${s.remotePort}\n`);
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => s.end(`echo ${Buffer.concat(chunks).toString()}`));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as net.AddressInfo).port;
});
after(() => {
  for (const s of open) s.destroy();
  server.close();
});

function wrap(fd: number): net.Socket {
  return new net.Socket({ fd, readable: true, writable: true, allowHalfOpen: true });
}

function readAll(s: net.Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    s.on('data', (d: Buffer) => {
      out += d.toString();
    });
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

test('connectFrom binds the given source, and the fd works as a net.Socket both ways with half-close', async () => {
  const src = await freePortBelowEphemeral('127.0.0.9');
  const r = await native.connectFrom(4, '127.0.0.9', src, '127.0.0.1', port, 2000, false);
  assert.equal(r.fallback, false);
  const s = wrap(r.fd);
  assert.equal(s.remotePort, port);
  assert.equal(s.localAddress, '127.0.0.9');
  assert.equal(s.localPort, src);
  const all = readAll(s);
  s.end('hello');
  assert.equal(await all, `peer 127.0.0.9:${src}\necho hello`);
});

test('a source port still in use falls back to another port with the same address', async () => {
  const src = await freePortBelowEphemeral('127.0.0.10');
  const a = await native.connectFrom(4, '127.0.0.10', src, '127.0.0.1', port, 2000, false);
  const b = await native.connectFrom(4, '127.0.0.10', src, '127.0.0.1', port, 2000, false);
  const sa = wrap(a.fd);
  const sb = wrap(b.fd);
  assert.equal(a.fallback, false);
  assert.equal(b.fallback, true);
  assert.equal(sb.localAddress, '127.0.0.10');
  assert.notEqual(sb.localPort, src);
  sa.destroy();
  sb.destroy();
});

test('IPv6 works the same way', async () => {
  const r = await native.connectFrom(6, '::1', 0, '::1', port, 2000, false).catch((e: Error) => e);
  // The server listens on 127.0.0.1 only: refused, with the errno code and syscall.
  assert.ok(r instanceof Error);
  assert.equal((r as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  assert.equal((r as NodeJS.ErrnoException).syscall, 'connect');
  const v6 = net.createServer((s) => s.end(`${s.remoteAddress}\n`));
  await new Promise<void>((res) => v6.listen(0, '::1', () => res()));
  try {
    const ok = await native.connectFrom(
      6,
      '::1',
      0,
      '::1',
      (v6.address() as net.AddressInfo).port,
      2000,
      false,
    );
    const sock = wrap(ok.fd);
    assert.equal(await readAll(sock), '::1\n');
    sock.destroy();
  } finally {
    v6.close();
  }
});

test('bad arguments throw synchronously', () => {
  assert.throws(
    () => native.connectFrom(4, '::1', 0, '127.0.0.1', port, 1000, false),
    /not of the given family/,
  );
  assert.throws(() => native.connectFrom(4, '127.0.0.1', 0, '127.0.0.1', 0, 1000, false), /out of range/);
});

test('connect timeout: an app that never accepts rejects with ETIMEDOUT after timeoutMs', async () => {
  const py = spawn(
    'python3',
    [
      '-c',
      'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)',
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  try {
    const stuck = Number(
      await new Promise<string>((r) => py.stdout!.once('data', (d: Buffer) => r(d.toString()))),
    );
    const fillers = Array.from({ length: 3 }, () =>
      net.connect({ host: '127.0.0.1', port: stuck }).on('error', () => {}),
    );
    await sleep(200);
    const t0 = Date.now();
    const err = await native
      .connectFrom(4, '127.0.0.1', 0, '127.0.0.1', stuck, 400, false)
      .catch((e: Error) => e);
    const took = Date.now() - t0;
    assert.equal((err as NodeJS.ErrnoException).code, 'ETIMEDOUT');
    assert.ok(took >= 380 && took < 5000, `took ${took} ms`);
    for (const f of fillers) f.destroy();
  } finally {
    py.kill();
  }
});
