// The webhook's request timeout fires on time: a request whose body never completes (or whose head
// never completes) is answered 408 and closed within the timeout plus a small margin, over real TLS
// as the API server connects. Before, Node's 30 s connection sweep let a 30 s timeout run to 60 s+.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import tls from 'node:tls';
import { silentLogger } from '../../common/logger.ts';
import { REQUEST_TIMEOUT_MS, timeoutSweepMs } from '../../webhook/app.ts';
import { startWebhook } from '../../webhook/server.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';
import { servingCertFiles } from '../support/serving-cert.ts';

const TIMEOUT_MS = 1500;
/** The sweep granularity plus scheduling slack on a loaded 2-core machine. */
const MARGIN_MS = timeoutSweepMs(TIMEOUT_MS) + 400;

/** Sends `bytes` and never more; resolves with what came back and when the server closed. */
function stall(port: number, ca: string, bytes: string): Promise<{ answer: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: '127.0.0.1' }, () => {
      const t0 = performance.now();
      s.write(bytes);
      const chunks: Buffer[] = [];
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('close', () => resolve({ answer: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }));
    });
    s.on('error', (err) => (s.readyState === 'closed' ? undefined : reject(err)));
    setTimeout(() => {
      s.destroy();
      reject(new Error('the webhook did not close the stalled request within 10 s'));
    }, 10_000).unref();
  });
}

test('a stalled request is answered 408 and closed within the request timeout plus a small margin', async (t) => {
  const { certFile, keyFile, bundle } = await servingCertFiles(t, 'wh-timeout', 1);
  const wh = await startWebhook({
    port: 0,
    host: '127.0.0.1',
    metricsPort: 0,
    tls: { mode: 'files', certFile, keyFile, pollIntervalMs: 60_000 },
    defaults: TEST_DEFAULTS,
    log: silentLogger(),
    requestTimeoutMs: TIMEOUT_MS,
  });
  t.after(() => wh.close());

  const cases = {
    'body never completes': `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion":`,
    'head never completes': 'POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: appl',
  };
  const results = await Promise.all(
    Object.entries(cases).map(async ([name, bytes]) => ({
      name,
      ...(await stall(wh.port, bundle.ca, bytes)),
    })),
  );
  for (const r of results) {
    t.diagnostic(`${r.name}: closed after ${Math.round(r.ms)} ms (timeout ${TIMEOUT_MS} ms)`);
    assert.match(r.answer, /^HTTP\/1\.1 408 /, `${r.name}: ${JSON.stringify(r.answer)}`);
    assert.ok(r.ms >= TIMEOUT_MS - 50, `${r.name}: closed early, after ${Math.round(r.ms)} ms`);
    assert.ok(
      r.ms <= TIMEOUT_MS + MARGIN_MS,
      `${r.name}: closed after ${Math.round(r.ms)} ms, want <= ${TIMEOUT_MS + MARGIN_MS}`,
    );
  }
});

test('the production sweep keeps the 30 s timeout within a second', () => {
  assert.equal(REQUEST_TIMEOUT_MS, 30_000);
  assert.equal(timeoutSweepMs(REQUEST_TIMEOUT_MS), 1000);
});
