// `realip sidecar-wait` (the postStart hook the webhook injects without native sidecars): returns
// once /readyz on the admin port answers 200, fails after its timeout otherwise. Real sockets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { waitReady } from '../../sidecar/wait.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

test('waits through 503s and connection refusals until /readyz answers 200', async (t) => {
  let calls = 0;
  const server = http.createServer((req, res) => {
    calls++;
    res.statusCode = req.url === '/readyz' && calls >= 3 ? 200 : 503;
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const started = Date.now();
  assert.equal(await waitReady(port, 10_000, 50), true);
  assert.ok(calls >= 3);
  assert.ok(Date.now() - started < 5_000);
});

test('gives up after the timeout: the command exits 1 and says why', () => {
  // a port nobody listens on: bind-and-release would race, so use the admin port of nothing (port 1)
  const r = spawnSync(
    process.execPath,
    [`${ROOT}bin/realip.js`, 'sidecar-wait', '--admin-port', '1', '--timeout-ms', '600'],
    {
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /sidecar not ready on port 1 after 600 ms/);
});
