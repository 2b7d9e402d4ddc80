// The webhook over real TLS: POST /mutate through node's https client with the CA pinned, then the
// certificate files are swapped mid-test and a new connection gets the new certificate from the
// same process (no restart). Also the real `realip webhook` command: ready, serving, SIGTERM -> 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { silentLogger } from '../../common/logger.ts';
import { freeEphemeralPort } from '../../devkit/ports.ts';
import { postMutate, webhookArgv } from '../../devkit/webhook-client.ts';
import { generateCertBundle } from '../../webhook/certs.ts';
import { startWebhook } from '../../webhook/server.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';
import { servingCertFiles } from '../support/serving-cert.ts';

const FIX = new URL('../fixtures/admission/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;
const review = readFileSync(join(FIX, 'web-deployment.review.json'), 'utf8');

/** The API server's call, with the served certificate's fingerprint. */
async function post(
  port: number,
  ca: string | string[],
  body: string,
): Promise<{ status: number; body: string; fingerprint: string }> {
  const a = await postMutate(port, ca, body, { tlsDetails: true });
  return { status: a.status, body: a.body, fingerprint: a.fingerprint ?? '' };
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

test('real TLS: admission over HTTPS with a pinned CA; cert files swapped mid-test are served without restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'realip-webhook-tls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  const one = await generateCertBundle({
    commonName: 'realip-webhook',
    sans: ['127.0.0.1'],
    validityDays: 30,
  });
  const two = await generateCertBundle({
    commonName: 'realip-webhook',
    sans: ['127.0.0.1'],
    validityDays: 60,
  });
  writeFileSync(certFile, one.cert);
  writeFileSync(keyFile, one.key);

  const wh = await startWebhook({
    port: 0,
    host: '127.0.0.1',
    metricsPort: 0,
    tls: { mode: 'files', certFile, keyFile, pollIntervalMs: 250 },
    defaults: TEST_DEFAULTS,
    log: silentLogger(),
  });
  let closed = false;
  t.after(() => (closed ? undefined : wh.close()));
  assert.equal(wh.app.server.keepAliveTimeout, 120_000, 'keep-alive outlasts the API server idle timeout');

  const pinnedOne = await post(wh.port, one.ca, review);
  assert.equal(pinnedOne.status, 200);
  const body = JSON.parse(pinnedOne.body);
  assert.equal(body.response.uid, JSON.parse(review).request.uid);
  assert.equal(body.response.patchType, 'JSONPatch');
  assert.equal(pinnedOne.fingerprint, fingerprintOf(one.cert));
  // The pin is real: a client trusting only the other CA refuses this certificate.
  await assert.rejects(post(wh.port, two.ca, review), /certificate/i);

  // Swap like a non-atomic writer would: the key lags the certificate for a moment.
  writeFileSync(certFile, two.cert);
  await new Promise((r) => setTimeout(r, 100));
  writeFileSync(keyFile, two.key);

  const deadline = Date.now() + 10_000;
  let served = '';
  while (Date.now() < deadline) {
    const a = await post(wh.port, [one.ca, two.ca], review);
    assert.equal(a.status, 200, 'serving never stops during the swap');
    served = a.fingerprint;
    if (served === fingerprintOf(two.cert)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(served, fingerprintOf(two.cert), 'the new certificate is served by the same process');
  const onlyTwo = await post(wh.port, two.ca, review);
  assert.equal(onlyTwo.status, 200);

  const metrics = await get(wh.metricsPort, '/metrics');
  assert.match(metrics.body, /realip_webhook_tls_reloads_total 1\n/);
  assert.match(
    metrics.body,
    /realip_webhook_admissions_total\{result="injected",reason="INJ_INJECTED"\} \d+/,
  );
  assert.equal((await get(wh.metricsPort, '/readyz')).status, 200);

  closed = true;
  await wh.close();
  await assert.rejects(get(wh.metricsPort, '/healthz'));
});

test('realip webhook (the command): serves, reports ready, exits 0 on SIGTERM', async (t) => {
  const { dir, bundle: b } = await servingCertFiles(t, 'webhook-cmd', 30);
  const port = await freeEphemeralPort();
  const metricsPort = await freeEphemeralPort();
  const child = spawn(process.execPath, webhookArgv(`${ROOT}bin/realip.js`, { port, metricsPort }), {
    env: {
      ...process.env,
      REALIP_TLS_CERT_FILE: join(dir, 'tls.crt'),
      REALIP_TLS_KEY_FILE: join(dir, 'tls.key'),
      REALIP_NATIVE_SIDECAR: 'on',
      REALIP_TRUSTED_CIDRS: '10.0.0.0/8',
      REALIP_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await get(metricsPort, '/readyz').catch(() => undefined);
    if (r?.status === 200) break;
    assert.ok(Date.now() < deadline, `webhook did not become ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const a = await post(port, b.ca, review);
  assert.equal(a.status, 200);
  const ops = JSON.parse(Buffer.from(JSON.parse(a.body).response.patch, 'base64').toString());
  assert.ok(ops.some((o: { path: string; value?: { name: string }[] }) => o.path === '/spec/initContainers'));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, stderr);
});

test('--shutdown-delay-ms: after SIGTERM /readyz fails at once while admissions are still served, then exit 0', async (t) => {
  const { dir, bundle: b } = await servingCertFiles(t, 'webhook-drain', 30);
  const port = await freeEphemeralPort();
  const metricsPort = await freeEphemeralPort();
  const child = spawn(
    process.execPath,
    webhookArgv(`${ROOT}bin/realip.js`, {
      port,
      metricsPort,
      args: [
        '--shutdown-delay-ms',
        '1500',
        '--native-sidecar',
        'off',
        '--tls-cert-file',
        join(dir, 'tls.crt'),
        '--tls-key-file',
        join(dir, 'tls.key'),
      ],
    }),
    { env: { ...process.env, REALIP_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  while ((await get(metricsPort, '/readyz').catch(() => undefined))?.status !== 200) {
    assert.ok(Date.now() < deadline, `webhook did not become ready: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGTERM');
  const notReady = Date.now() + 1000;
  while ((await get(metricsPort, '/readyz')).status !== 503) {
    assert.ok(Date.now() < notReady, '/readyz did not turn 503 after SIGTERM');
    await new Promise((r) => setTimeout(r, 20));
  }
  const during = await post(port, b.ca, review);
  assert.equal(during.status, 200, 'still serving during the shutdown delay');
  assert.equal(await exited, 0, stderr);
});
