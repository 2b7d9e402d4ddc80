// Bounded memory through the http2 hop under a slow reader on either side: 192 MB up to an app that
// reads slowly, and 192 MB down to a client that reads slowly, while the sidecar's RSS is sampled.
// HTTP/2 flow control plus stream piping must hold the sender back: a hop that buffered the
// transfer would grow by about its size.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type http2 from 'node:http2';
import { test } from 'node:test';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { h2Client, startH2App } from '../support/h2.ts';
import { startSidecar } from '../support/sidecar.ts';

const TOTAL = 192 * 1024 * 1024;
const CHUNK = 256 * 1024;
/**
 * RSS growth allowed over the idle sidecar: half of one direction's transfer. Most of what it grows
 * by is V8's young generation and garbage not collected yet, not data held (measured +31 MB for
 * 16 MB each way, +30 MB for 48 MB, +56 MB for 120 MB): it levels off, where a hop that buffered
 * the slow side would grow by the transfer.
 */
const MAX_GROWTH = 96 * 1024 * 1024;
/** Bytes sent but not yet read by the slow side: the windows and stream buffers on the way, no more. */
const MAX_IN_FLIGHT = 4 * 1024 * 1024;

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

const progress = { written: 0, read: 0, maxInFlight: 0 };

/** Reads `s` slowly: a pause of `ms` after every `every` bytes. Resolves with the byte count at 'end'. */
function slowRead(s: NodeJS.ReadableStream, every: number, ms: number): Promise<number> {
  return new Promise((resolve) => {
    let n = 0;
    let since = 0;
    s.on('data', (c: Buffer) => {
      n += c.length;
      progress.read += c.length;
      since += c.length;
      if (since >= every) {
        since = 0;
        s.pause();
        setTimeout(() => s.resume(), ms);
      }
    });
    s.on('end', () => resolve(n));
  });
}

/** Writes `total` bytes as fast as the stream takes them (honouring write()'s backpressure). */
async function writeAll(s: http2.Http2Stream, total: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK, 0x61);
  for (let sent = 0; sent < total; sent += CHUNK) {
    const more = s.write(chunk);
    progress.written += CHUNK;
    progress.maxInFlight = Math.max(progress.maxInFlight, progress.written - progress.read);
    if (!more) await new Promise((r) => s.once('drain', r));
  }
  s.end();
}

test('192 MB up to a slow app and 192 MB down to a slow client: the sidecar RSS stays bounded', async () => {
  let uploaded = Promise.resolve(0);
  const app = await startH2App((st, h) => {
    if (h[':path'] === '/up') {
      uploaded = slowRead(st, 2 * 1024 * 1024, 20);
      uploaded.then((n) => {
        st.respond({ ':status': 200 });
        st.end(String(n));
      });
    } else {
      st.respond({ ':status': 200 });
      void writeAll(st, TOTAL);
    }
  });
  const listen = await freePortBelowEphemeral();
  const sc = await startSidecar({ listeners: [`http2:${listen}:${app.port}`] });
  const s = h2Client(listen, '198.51.100.7');
  let peak = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, rssOf(sc.pid));
  }, 50);
  try {
    // Warm up (code paths, the app session) before the baseline.
    await new Promise<void>((r) => {
      const w = s.request({ ':method': 'GET', ':path': '/warm' });
      w.on('data', () => {}).on('end', () => r());
      w.close();
      w.on('close', () => r());
    });
    const base = rssOf(sc.pid);
    peak = base;
    progress.written = 0;
    progress.read = 0;
    progress.maxInFlight = 0;
    const up = s.request({ ':method': 'POST', ':path': '/up' });
    up.on('error', () => {});
    const answer = new Promise<string>((r) => {
      let b = '';
      up.on('data', (c: Buffer) => {
        b += c.toString();
      });
      up.on('end', () => r(b));
    });
    await writeAll(up, TOTAL);
    assert.equal(await answer, String(TOTAL), 'the app got every byte');
    const upInFlight = progress.maxInFlight;
    progress.written = 0;
    progress.read = 0;
    progress.maxInFlight = 0;
    const down = s.request({ ':method': 'GET', ':path': '/down' });
    down.on('error', () => {});
    assert.equal(await slowRead(down, 2 * 1024 * 1024, 20), TOTAL, 'the client got every byte');
    clearInterval(timer);
    const downInFlight = progress.maxInFlight;
    assert.ok(upInFlight < MAX_IN_FLIGHT, `upload: ${upInFlight} bytes written ahead of the slow app`);
    assert.ok(
      downInFlight < MAX_IN_FLIGHT,
      `download: ${downInFlight} bytes written ahead of the slow client`,
    );
    const growth = peak - base;
    assert.ok(
      growth < MAX_GROWTH,
      `sidecar RSS grew ${(growth / 1048576).toFixed(1)} MB (from ${(base / 1048576).toFixed(1)} MB) for ${TOTAL / 1048576} MB each way`,
    );
    process.stdout.write(
      `# sidecar RSS: ${(base / 1048576).toFixed(1)} MB idle, peak +${(growth / 1048576).toFixed(1)} MB; ahead of the slow side: up ${upInFlight}, down ${downInFlight} bytes\n`,
    );
  } finally {
    clearInterval(timer);
    s.destroy();
    await sc.stop('SIGKILL');
    await app.close();
  }
});
