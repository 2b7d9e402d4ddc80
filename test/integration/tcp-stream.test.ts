// Stream semantics of the tcp hop, through a real `realip sidecar` process: server-speaks-first,
// half-close both ways, resets passed on both ways, byte-exact bulk both ways (sha256), bounded
// memory with a reader that does not read (either side), connect and idle timeouts, app down,
// v2 LOCAL, drain on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import type { ProxyHeader } from '../../sidecar/proxy-protocol/types.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';
import type { Proc } from '../support/tcp.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

type Handler = (socket: net.Socket, header: ProxyHeader) => void;

/** A PROXY-aware app in this process: reads the header, then hands the socket to the current handler. */
function proxyApp(): { server: net.Server; port: () => number; on(h: Handler): void } {
  let handler: Handler = (s) => s.destroy();
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false }, (socket) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = decode(buf);
      if (r.kind === 'need-more') return;
      socket.removeListener('data', onData);
      if (r.kind === 'error') {
        socket.destroy();
        return;
      }
      if (buf.length > r.consumed) socket.unshift(buf.subarray(r.consumed));
      handler(socket, r.header);
    };
    socket.on('data', onData);
    socket.on('error', () => {});
  });
  return {
    server,
    port: () => (server.address() as net.AddressInfo).port,
    on: (h) => {
      handler = h;
    },
  };
}

const CLIENT = { address: '198.51.100.7', port: 40007 };
const HEADER = encodeV2({
  family: 'TCP4',
  source: CLIENT,
  destination: { address: '203.0.113.10', port: 443 },
});

const app = proxyApp();
let sidecar: Sidecar;
let port = 0;
let deadPort = 0;
let idlePort = 0;
let idleSidecar: Sidecar;

function connect(header: Buffer = HEADER): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }, () => {
      s.write(header);
      resolve(s);
    });
    s.once('error', reject);
  });
}

function readAll(s: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.once('end', () => resolve(Buffer.concat(chunks)));
    s.once('error', reject);
  });
}

function sidecarPid(p: { child: Proc['child'] }): number {
  return p.child.pid!;
}

function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

async function metrics(adminPort: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return r.text();
}

before(async () => {
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  port = await freePortBelowEphemeral();
  deadPort = await freePortBelowEphemeral();
  const unused = await freePortBelowEphemeral();
  sidecar = await startSidecar({
    listeners: [`tcp:${port}:${app.port()}`, `tcp:${deadPort}:${unused}`],
    args: ['--connect-timeout', '2000'],
  });
  idlePort = await freePortBelowEphemeral();
  idleSidecar = await startSidecar({
    listeners: [`tcp:${idlePort}:${app.port()}`],
    args: ['--idle-timeout', '1000'],
  });
});

after(async () => {
  await sidecar.stop();
  await idleSidecar.stop();
  app.server.close();
});

describe('tcp hop stream semantics', () => {
  test('server speaks first: the app banner arrives before the client writes anything', async () => {
    app.on((s, h) => {
      s.end(`220 banner for ${h.source?.address}:${h.source?.port}\r\n`);
      s.resume();
    });
    const c = await connect();
    const got = await readAll(c);
    assert.equal(got.toString(), '220 banner for 198.51.100.7:40007\r\n');
    c.destroy();
  });

  test('half-close from the client: FIN reaches the app, the reply still flows back', async () => {
    app.on((s) => {
      const chunks: Buffer[] = [];
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => setTimeout(() => s.end(`got ${Buffer.concat(chunks).toString()}`), 100));
    });
    const c = await connect();
    const reply = readAll(c);
    c.end('ping');
    assert.equal((await reply).toString(), 'got ping');
  });

  test('header and FIN at once (no payload): the app still sees the end and its answer arrives', async () => {
    app.on((s) => {
      s.on('end', () => s.end('saw your FIN'));
      s.resume();
    });
    const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const reply = readAll(c);
    c.end(HEADER);
    assert.equal((await reply).toString(), 'saw your FIN');
  });

  test('half-close from the app: FIN reaches the client, the client can still send', async () => {
    const received = new Promise<string>((resolve) => {
      app.on((s) => {
        s.end('bye');
        const chunks: Buffer[] = [];
        s.on('data', (d: Buffer) => chunks.push(d));
        s.on('end', () => resolve(Buffer.concat(chunks).toString()));
        s.resume();
      });
    });
    const c = await connect();
    const got = await readAll(c);
    assert.equal(got.toString(), 'bye');
    c.end('after your FIN');
    assert.equal(await received, 'after your FIN');
  });

  test('a client reset is passed on to the app as a reset', async () => {
    const appErr = new Promise<string>((resolve) => {
      app.on((s) => {
        s.removeAllListeners('error');
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'none'));
        s.on('close', () => resolve('close without error'));
        s.resume();
        s.write('ready');
      });
    });
    const c = await connect();
    await new Promise((r) => c.once('data', r));
    c.resetAndDestroy();
    assert.equal(await appErr, 'ECONNRESET');
  });

  test('an app reset is passed on to the client as a reset', async () => {
    app.on((s) => {
      s.write('ready');
      s.once('data', () => s.resetAndDestroy());
      s.resume();
    });
    const c = await connect();
    await new Promise((r) => c.once('data', r));
    const err = new Promise<string>((resolve) => {
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'none'));
      c.on('close', () => resolve('close without error'));
    });
    c.write('go');
    assert.equal(await err, 'ECONNRESET');
  });

  test('byte-exact: 1 GiB of random data both ways at once, sha256 equal', async () => {
    const size = Number(process.env.REALIP_TCP_BULK_BYTES ?? 1024 * 1024 * 1024);
    const chunk = 256 * 1024;
    /** Writes `size` random bytes to s (respecting backpressure), then ends; returns their sha256. */
    const pump = async (s: net.Socket) => {
      const h = createHash('sha256');
      const block = randomBytes(chunk);
      for (let sent = 0, i = 0; sent < size; sent += chunk, i++) {
        block.writeUInt32BE(i, 0);
        const piece = block.subarray(0, Math.min(chunk, size - sent));
        h.update(piece);
        if (!s.write(Buffer.from(piece))) await new Promise((r) => s.once('drain', r));
      }
      s.end();
      return h.digest('hex');
    };
    const digestOf = (s: net.Socket) =>
      new Promise<{ hex: string; n: number }>((resolve) => {
        const h = createHash('sha256');
        let n = 0;
        s.on('data', (d: Buffer) => {
          n += d.length;
          h.update(d);
        });
        s.on('end', () => resolve({ hex: h.digest('hex'), n }));
      });
    const appSide = new Promise<{ sent: string; got: { hex: string; n: number } }>((resolve) => {
      app.on((s) => {
        const got = digestOf(s);
        s.resume();
        pump(s).then(async (sent) => resolve({ sent, got: await got }));
      });
    });
    const c = await connect();
    const clientGot = digestOf(c);
    const clientSent = await pump(c);
    const a = await appSide;
    const cg = await clientGot;
    assert.equal(a.got.n, size, 'app received every byte');
    assert.equal(a.got.hex, clientSent, 'client -> app bytes identical');
    assert.equal(cg.n, size, 'client received every byte');
    assert.equal(cg.hex, a.sent, 'app -> client bytes identical');
  });

  for (const slow of ['app', 'client'] as const) {
    test(`backpressure: ${slow === 'app' ? 'an app' : 'a client'} that does not read does not grow the sidecar's memory`, async () => {
      const pid = sidecarPid(sidecar);
      const before = rssKiB(pid);
      const target = 256 * 1024 * 1024;
      let appSocket: net.Socket | undefined;
      const ready = new Promise<void>((resolve) => {
        app.on((s) => {
          appSocket = s;
          resolve();
        });
      });
      const c = await connect();
      await ready;
      const writer = slow === 'app' ? c : appSocket!;
      if (slow === 'client') c.pause();
      else appSocket!.pause();
      const block = Buffer.alloc(1024 * 1024, 7);
      let offered = 0;
      // Write until our own socket buffer holds 64 MiB we could not hand over: the path is full.
      const t0 = Date.now();
      while (offered < target && writer.writableLength < 64 * 1024 * 1024 && Date.now() - t0 < 10000) {
        writer.write(block);
        offered += block.length;
        await sleep(1);
      }
      await sleep(300);
      const accepted = writer.bytesWritten - writer.writableLength;
      const grown = rssKiB(pid) - before;
      c.destroy();
      appSocket?.destroy();
      // Kernel socket buffers on the path hold a few MiB; the sidecar holds ~2 x 64 KiB per direction.
      assert.ok(writer.writableLength > 32 * 1024 * 1024, `writer blocked (${writer.writableLength} queued)`);
      assert.ok(accepted < 48 * 1024 * 1024, `only socket buffers were filled, accepted ${accepted}`);
      assert.ok(grown < 40 * 1024, `sidecar RSS grew by ${grown} KiB`);
    });
  }

  test('v2 LOCAL goes through with the socket address of the sender', async () => {
    const seen = new Promise<ProxyHeader>((resolve) => {
      app.on((s, h) => {
        s.end();
        resolve(h);
      });
    });
    const c = await connect(encodeV2({ command: 'LOCAL', family: 'UNKNOWN' }));
    c.resume();
    const h = await seen;
    assert.equal(h.command, 'PROXY');
    assert.equal(h.source?.address, '127.0.0.1');
    assert.equal(h.source?.port, c.localPort);
    c.destroy();
  });

  test('app down: the client is closed promptly and the sidecar keeps serving', async () => {
    const t0 = Date.now();
    const c = net.connect({ host: '127.0.0.1', port: deadPort });
    c.write(HEADER);
    c.resume();
    await new Promise((r) => c.on('close', r));
    assert.ok(Date.now() - t0 < 3000, `closed after ${Date.now() - t0} ms`);
    assert.match(
      await metrics(sidecar.adminPort),
      /realip_hop_errors_total\{mode="tcp",code="TCP_CONNECT_FAILED"\} [1-9]/,
    );
    app.on((s) => s.end('still here'));
    const ok = await connect();
    assert.equal((await readAll(ok)).toString(), 'still here');
  });

  test('idle timeout closes a silent connection, and only a silent one', async () => {
    let appSocket: net.Socket | undefined;
    app.on((s) => {
      appSocket = s;
      s.resume();
    });
    const c = net.connect({ host: '127.0.0.1', port: idlePort });
    c.write(HEADER);
    c.resume();
    // Traffic every 200 ms keeps it open well past the 1000 ms timeout...
    for (let i = 0; i < 10; i++) {
      await sleep(200);
      assert.ok(!c.destroyed && c.readyState === 'open', 'open while busy');
      c.write('x');
    }
    // ...silence closes it.
    const t0 = Date.now();
    await new Promise((r) => c.on('close', r));
    const waited = Date.now() - t0;
    assert.ok(waited >= 800 && waited < 5000, `closed after ${waited} ms of silence`);
    assert.ok(appSocket, 'app was connected');
    assert.match(await metrics(idleSidecar.adminPort), /code="TCP_IDLE_TIMEOUT"\} 1/);
  });

  test('connect timeout: an app that never accepts closes the client after --connect-timeout', async () => {
    // A listener with a full accept queue that never accepts: further SYNs are dropped.
    const py = spawn(
      'python3',
      [
        '-c',
        'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(60)',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    try {
      const stuckPort = Number(
        await new Promise<string>((r) => py.stdout!.once('data', (d: Buffer) => r(d.toString()))),
      );
      const fillers: net.Socket[] = [];
      for (let i = 0; i < 3; i++) {
        const f = net.connect({ host: '127.0.0.1', port: stuckPort });
        f.on('error', () => {});
        fillers.push(f);
      }
      await sleep(200);
      const listen = await freePortBelowEphemeral();
      const sc = await startSidecar({
        listeners: [`tcp:${listen}:${stuckPort}`],
        args: ['--connect-timeout', '500'],
      });
      try {
        const t0 = Date.now();
        const c = net.connect({ host: '127.0.0.1', port: listen });
        c.write(HEADER);
        c.resume();
        c.on('error', () => {});
        await new Promise((r) => c.on('close', r));
        const took = Date.now() - t0;
        assert.ok(took >= 450 && took < 5000, `closed after ${took} ms`);
        assert.match(await metrics(sc.adminPort), /code="TCP_CONNECT_TIMEOUT"\} 1/);
      } finally {
        await sc.stop();
        for (const f of fillers) f.destroy();
      }
    } finally {
      py.kill();
    }
  });

  test('drain: SIGTERM lets an open connection finish, then the sidecar exits 0', async () => {
    const listen = await freePortBelowEphemeral();
    const sc = await startSidecar({ listeners: [`tcp:${listen}:${app.port()}`] });
    let appSocket: net.Socket | undefined;
    const ready = new Promise<void>((resolve) => {
      app.on((s) => {
        appSocket = s;
        s.resume();
        resolve();
      });
    });
    const c = net.connect({ host: '127.0.0.1', port: listen, allowHalfOpen: true });
    c.write(HEADER);
    await ready;
    sc.child.kill('SIGTERM');
    await sleep(300);
    assert.equal(sc.child.exitCode, null, 'still running while a connection is open');
    const reply = readAll(c);
    appSocket!.end('late answer');
    c.end();
    assert.equal((await reply).toString(), 'late answer');
    assert.equal(await sc.exited, 0);
  });
});
