// The relay after the header, through real `realip sidecar` processes: the splice relay (default)
// and the stream relay (`--tcp-relay js`, the fallback) give the same bytes in the same order for
// random payloads split at random points (the first piece glued to the header, so Node has read
// it before the hand-over), with half-close each way, and pass resets on each way. Also: which
// relay runs is visible in realip_tcp_splice_relay, and the byte counters match what moved.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';
import { ROOT, startProc, tempDir } from '../support/tcp.ts';
import { freePortBelowEphemeral, waitForPort } from '../../devkit/ports.ts';

type Handler = (socket: net.Socket) => void;

/** A PROXY-aware app: strips the header, hands the socket to the current handler. */
function proxyApp(): { server: net.Server; port: () => number; on(h: Handler): void } {
  let handler: Handler = (s) => s.destroy();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const r = decode(buf);
      if (r.kind === 'need-more') return;
      socket.removeListener('data', onData);
      socket.pause();
      if (r.kind === 'error') {
        socket.destroy();
        return;
      }
      if (buf.length > r.consumed) socket.unshift(buf.subarray(r.consumed));
      handler(socket);
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

const HEADER = encodeV2({
  family: 'TCP4',
  source: { address: '198.51.100.7', port: 40007 },
  destination: { address: '203.0.113.10', port: 443 },
});

/** Cuts `data` at the given fractions (sorted, deduplicated). */
function pieces(data: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((f) => Math.floor(f * data.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const i of [...at, data.length]) {
    if (i > last) out.push(data.subarray(last, i));
    last = Math.max(last, i);
  }
  return out;
}

/** Writes the pieces with a pause between some, waiting for drain; resolves when all are queued. */
async function writePieces(s: net.Socket, ps: readonly Buffer[], pauses: readonly boolean[]): Promise<void> {
  for (let i = 0; i < ps.length; i++) {
    if (!s.write(ps[i]!)) await new Promise((r) => s.once('drain', r));
    if (pauses[i % pauses.length]) await sleep(2);
  }
}

function collect(s: net.Socket): { ended: Promise<Buffer> } {
  const chunks: Buffer[] = [];
  s.on('data', (d: Buffer) => chunks.push(d));
  return {
    ended: new Promise((resolve, reject) => {
      s.once('end', () => resolve(Buffer.concat(chunks)));
      s.once('error', reject);
    }),
  };
}

async function metrics(adminPort: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
}

function counter(text: string, line: RegExp): number {
  const m = line.exec(text);
  return m ? Number(m[1]) : 0;
}

const app = proxyApp();
const sidecars: Record<'splice' | 'js', { proc: Sidecar; port: number }> = {} as never;

before(async () => {
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', () => r()));
  for (const relay of ['splice', 'js'] as const) {
    const port = await freePortBelowEphemeral();
    const proc = await startSidecar({
      listeners: [`tcp:${port}:${app.port()}`],
      args: ['--tcp-relay', relay],
    });
    sidecars[relay] = { proc, port };
  }
});

after(async () => {
  for (const s of Object.values(sidecars)) await s.proc.stop();
  app.server.close();
});

const exchangeArb = fc.record({
  toApp: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 100_000, max: 2_000_000 })),
  toClient: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 100_000, max: 2_000_000 })),
  clientCuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
  appCuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
  pauses: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
  /** client: the client ends first and the app answers after the client's FIN; app: the reverse. */
  firstFin: fc.constantFrom('client', 'app'),
});

for (const relay of ['splice', 'js'] as const) {
  describe(`${relay} relay`, () => {
    test('the relay in use is the one asked for (realip_tcp_splice_relay)', async () => {
      const { proc, port } = sidecars[relay];
      assert.match(
        await metrics(proc.adminPort),
        new RegExp(`realip_tcp_splice_relay\\{listener="${port}"\\} ${relay === 'splice' ? 1 : 0}\\b`),
      );
    });

    test('random payloads split at random points, half-close each way: every byte, in order', async () => {
      const { proc, port } = sidecars[relay];
      const before = await metrics(proc.adminPort);
      let sentToApp = 0;
      let sentToClient = 0;
      await fc.assert(
        fc.asyncProperty(exchangeArb, async (x) => {
          const up = randomBytes(x.toApp);
          const down = randomBytes(x.toClient);
          sentToApp += up.length;
          sentToClient += down.length;
          const appGot = new Promise<Buffer>((resolve, reject) => {
            app.on((s) => {
              const got = collect(s);
              s.resume();
              const answer = async () => {
                await writePieces(s, pieces(down, x.appCuts), x.pauses);
                s.end();
              };
              if (x.firstFin === 'client') got.ended.then(answer, reject);
              else answer().catch(reject);
              got.ended.then(resolve, reject);
            });
          });
          const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
          const clientGot = collect(c);
          await new Promise((r) => c.once('connect', r));
          const [first, ...rest] = pieces(up, x.clientCuts);
          // The first piece rides with the header: Node has read it when the relay takes over.
          c.write(first ? Buffer.concat([HEADER, first]) : HEADER);
          const send = async () => {
            await writePieces(c, rest, x.pauses);
            c.end();
          };
          if (x.firstFin === 'app') await clientGot.ended.then(send);
          else await send();
          const [a, b] = await Promise.all([appGot, clientGot.ended]);
          assert.ok(a.equals(up), `app got ${a.length} bytes of ${up.length}, equal: ${a.equals(up)}`);
          assert.ok(
            b.equals(down),
            `client got ${b.length} bytes of ${down.length}, equal: ${b.equals(down)}`,
          );
          await new Promise((r) => (c.closed ? r(null) : c.once('close', r)));
        }),
        { numRuns: 30 },
      );
      assert.ok(sentToApp > 1_000_000 && sentToClient > 1_000_000, 'large payloads were among the runs');
      // Byte counters, added when each connection ends, cover exactly the payloads.
      await sleep(100);
      const now = await metrics(proc.adminPort);
      const delta = (dir: string) => {
        const re = new RegExp(`realip_bytes_total\\{[^}]*mode="tcp",direction="${dir}"\\} (\\d+)`);
        return counter(now, re) - counter(before, re);
      };
      assert.equal(delta('to_app'), sentToApp);
      assert.equal(delta('to_client'), sentToClient);
      // Whose FIN came first is the close reason (the splice relay learns it from the kernel).
      const closed = (reason: string) => {
        const re = new RegExp(`realip_connections_closed_total\\{[^}]*reason="${reason}"\\} (\\d+)`);
        return counter(now, re) - counter(before, re);
      };
      assert.ok(closed('client_closed') > 0, 'some runs end with the client FIN first: client_closed');
      assert.ok(closed('app_closed') > 0, 'some runs end with the app FIN first: app_closed');
    });

    test('5,000 short connections, 50 at a time: every one answered, the sidecar stays up', async () => {
      const { proc, port } = sidecars[relay];
      app.on((s) => {
        s.once('data', () => s.end('y'));
        s.resume();
      });
      let answered = 0;
      const one = () =>
        new Promise<void>((resolve, reject) => {
          const c = net.connect({ host: '127.0.0.1', port }, () =>
            c.write(Buffer.concat([HEADER, Buffer.from('x')])),
          );
          c.once('data', (d: Buffer) => {
            if (d.toString() === 'y') answered++;
            c.end();
          });
          c.once('error', reject);
          c.once('close', () => resolve());
        });
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          for (let i = 0; i < 100; i++) await one();
        }),
      );
      assert.equal(answered, 5000);
      assert.equal(proc.child.exitCode, null, `sidecar exited:\n${proc.output().slice(-2000)}`);
      assert.match(await metrics(proc.adminPort), /realip_tcp_splice_relay/);
    });

    test('20,000 short connections to a C backend that closes at once: the sidecar stays up', async () => {
      // Regression: the reactor left a finished connection's sockets in its epoll set (the
      // registration belongs to the file description, which Node's own fd keeps open), and a late
      // event touched freed memory: the sidecar aborted within seconds of this load.
      const t = tempDir('splice-backend');
      const bin = join(t.dir, 'tcp-backend');
      execFileSync('gcc', ['-O2', '-o', bin, join(ROOT, 'bench/tcp-backend.c')]);
      const backendPort = await freePortBelowEphemeral();
      const backend = startProc(bin, [String(backendPort), '127.0.0.1']);
      const port = await freePortBelowEphemeral();
      const sc = await startSidecar({
        listeners: [`tcp:${port}:${backendPort}`],
        args: ['--tcp-relay', relay],
      });
      try {
        await waitForPort(backendPort);
        let answered = 0;
        const one = () =>
          new Promise<void>((resolve) => {
            const c = net.connect({ host: '127.0.0.1', port }, () =>
              c.write(Buffer.concat([HEADER, Buffer.from('x')])),
            );
            c.once('data', () => {
              answered++;
              c.end();
            });
            c.on('error', () => {});
            c.once('close', () => resolve());
          });
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            for (let i = 0; i < 400; i++) await one();
          }),
        );
        assert.equal(
          sc.child.exitCode,
          null,
          `sidecar exited (${sc.child.signalCode}):\n${sc.output().slice(-2000)}`,
        );
        assert.equal(answered, 20_000);
      } finally {
        await sc.stop();
        await backend.stop();
        t.remove();
      }
    });

    for (const who of ['client', 'app'] as const) {
      test(`a reset from the ${who} mid-stream reaches the other side as a reset`, async () => {
        const { port } = sidecars[relay];
        await fc.assert(
          fc.asyncProperty(fc.integer({ min: 1, max: 200_000 }), async (n) => {
            const payload = randomBytes(n);
            const appSide = new Promise<net.Socket>((resolve) => app.on(resolve));
            const c = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
            c.on('error', () => {});
            await new Promise((r) => c.once('connect', r));
            c.write(HEADER);
            const s = await appSide;
            s.removeAllListeners('error');
            const appErr = new Promise<string>((resolve) => {
              s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'none'));
              s.on('close', () => resolve('close without error'));
            });
            const clientErr = new Promise<string>((resolve) => {
              c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'none'));
              c.on('close', () => resolve('close without error'));
            });
            // Bytes in flight the other way, so the reset interrupts a live stream.
            const [reader, resetter, readerErr] = who === 'client' ? [s, c, appErr] : [c, s, clientErr];
            let seen = 0;
            await new Promise<void>((resolve) => {
              reader.on('data', (d: Buffer) => {
                seen += d.length;
                if (seen >= n) resolve();
              });
              reader.resume();
              resetter.write(payload);
            });
            resetter.resetAndDestroy();
            // The other side hears it on read, or on its next write.
            const keepWriting = setInterval(() => {
              if (!reader.destroyed) reader.write('x');
            }, 20);
            assert.equal(await readerErr, 'ECONNRESET');
            clearInterval(keepWriting);
          }),
          { numRuns: 8 },
        );
      });
    }
  });
}
