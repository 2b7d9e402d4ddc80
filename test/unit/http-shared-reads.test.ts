// The HTTP hop reads client sockets into a shared buffer (sidecar/http/shared-reads.ts) by setting
// net.Socket's internal onread fields. These tests fail if a Node upgrade removes the fast path
// (the hop would silently fall back to 'data' events) or changes what an onread socket does.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { readIntoShared, sharedReadsAvailable } from '../../sidecar/http/shared-reads.ts';

async function acceptedPair(): Promise<{ ours: net.Socket; theirs: net.Socket; close(): void }> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const theirs = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  theirs.on('error', () => {});
  const ours = await accepted;
  return {
    ours,
    theirs,
    close() {
      theirs.destroy();
      ours.destroy();
      server.close();
    },
  };
}

/** Reads like the PROXY header reader: one 'data' event, then pause and put the tail back. */
async function readThenPutBack(socket: net.Socket, keep: number): Promise<void> {
  const chunk = await new Promise<Buffer>((r) => {
    socket.once('data', r);
    socket.resume();
  });
  socket.pause();
  socket.unshift(chunk.subarray(keep));
}

test('this Node lets accepted sockets read into a shared buffer', () => {
  assert.equal(sharedReadsAvailable(), true);
});

test('a switched socket returns the bytes put back, then reads into the buffer, pauses and ends', async () => {
  const { ours, theirs, close } = await acceptedPair();
  try {
    theirs.write('HEADERrest');
    await readThenPutBack(ours, 6);
    const shared = Buffer.alloc(64);
    const reads: string[] = [];
    let wake: (() => void) | undefined;
    let stopAfterNext = false;
    const held = readIntoShared(ours, shared, (n, buf) => {
      assert.equal(buf, shared);
      reads.push(Buffer.from(buf.subarray(0, n)).toString('latin1'));
      wake?.();
      return !stopAfterNext;
    });
    assert.equal(held?.toString('latin1'), 'rest');
    assert.equal(ours.listenerCount('data'), 0);
    const nextRead = () => new Promise<void>((r) => (wake = r));

    ours.resume();
    let got = nextRead();
    theirs.write('one');
    await got;
    assert.deepEqual(reads, ['one']);

    // Returning false stops the reads until resume(), like an app socket's onread callback.
    stopAfterNext = true;
    got = nextRead();
    theirs.write('two');
    await got;
    stopAfterNext = false;
    theirs.write('three');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(reads, ['one', 'two']);
    got = nextRead();
    ours.resume();
    await got;
    assert.deepEqual(reads, ['one', 'two', 'three']);

    // pause() stops them too.
    ours.pause();
    theirs.write('four');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(reads, ['one', 'two', 'three']);
    got = nextRead();
    ours.resume();
    await got;
    assert.deepEqual(reads, ['one', 'two', 'three', 'four']);

    const ended = new Promise<void>((r) => ours.once('end', r));
    theirs.end();
    await ended;
  } finally {
    close();
  }
});

test('a socket that already holds its end still returns the bytes put back first', async () => {
  const { ours, theirs, close } = await acceptedPair();
  try {
    const events: string[] = [];
    ours.on('end', () => events.push('end'));
    theirs.end('HEADERrest');
    await readThenPutBack(ours, 6);
    // Let the EOF reach the stream while it is paused with the tail put back.
    await new Promise((r) => setTimeout(r, 50));
    const held = readIntoShared(ours, Buffer.alloc(64), () => true);
    events.push(`held ${held?.toString('latin1')}`);
    ours.resume();
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(events, ['held rest', 'end']);
  } finally {
    close();
  }
});
