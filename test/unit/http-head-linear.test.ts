// Issue 11 finding 7: a request head arriving one byte per segment cost ~18x the CPU of one
// segment, because the partial head was copied (and rescanned for bare LFs) on every read: work
// quadratic in the head's length. Here the hop gets a head one byte per read (what one byte per
// TCP segment looks like to it: simulateRead() calls the hop's read callback), at two sizes.
// Linear work makes the 8x longer head cost about 8x; the old code cost about 64x (it copied
// everything held so far on every byte). Comparing the hop with itself at two sizes keeps the
// check independent of the machine's speed.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { silentLogger } from '../../common/logger.ts';
import { parseSidecarConfig } from '../../sidecar/config.ts';
import { createHttpHop } from '../../sidecar/http/hop.ts';
import { simulateRead } from '../../sidecar/http/shared-reads.ts';
import { createSidecarMetrics } from '../../sidecar/metrics.ts';

async function socketPair(): Promise<{ ours: net.Socket; theirs: net.Socket; close(): void }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const theirs = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  theirs.on('error', () => {});
  const ours = await accepted;
  ours.pause();
  const close = () => {
    theirs.destroy();
    server.close();
  };
  return { ours, theirs, close };
}

/** CPU microseconds the hop spends on a head of `bytes` bytes fed one byte per event. */
async function dripCost(bytes: number): Promise<number> {
  const app = net.createServer((s) => s.resume());
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const appPort = (app.address() as net.AddressInfo).port;
  const { config } = parseSidecarConfig(
    ['--listener', `http:18080:${appPort}`, '--max-request-head', String(2 * bytes), '--log-level', 'silent'],
    {},
  );
  const log = silentLogger();
  const hop = await createHttpHop({
    listener: config.listeners[0]!,
    config,
    log,
    metrics: createSidecarMetrics(),
  });
  const pair = await socketPair();
  const client = { address: '198.51.100.7', port: 5555, family: 4 as const };
  hop.handle({
    socket: pair.ours,
    client,
    destination: { address: '203.0.113.1', port: 80, family: 4 },
    outcome: 'proxy',
    edge: { address: '127.0.0.1', port: 40000, family: 4 },
    acceptedAt: performance.now(),
    id: 'test',
    log,
  });
  const head = Buffer.from(
    `GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ${'p'.repeat(bytes - 40)}\r\n`, // completed below
    'latin1',
  );
  const start = process.cpuUsage();
  for (let i = 0; i < head.length; i++) simulateRead(pair.ours, head.subarray(i, i + 1));
  const used = process.cpuUsage(start);
  simulateRead(pair.ours, Buffer.from('\r\n', 'latin1'));
  pair.close();
  await hop.drain(Date.now());
  app.close();
  return used.user + used.system;
}

test('a request head arriving one byte per segment costs work linear in its length', async () => {
  await dripCost(16384); // warm up the code paths
  const small = Math.min(await dripCost(16384), await dripCost(16384));
  const large = Math.min(await dripCost(131072), await dripCost(131072));
  const ratio = large / small;
  // Linear: at most ~8 (measured 3-6). Quadratic (each byte copied everything held so far): far
  // above (the previous code measured ~40 on these sizes).
  assert.ok(
    ratio < 16,
    `128 KiB head cost ${large} us, 16 KiB ${small} us: ratio ${ratio.toFixed(1)} (linear ~8)`,
  );
});
