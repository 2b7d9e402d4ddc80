// --native-sidecar auto: the API server version read through @kubernetes/client-node's VersionApi
// over a real socket (a local HTTP endpoint answering GET /version like kube-apiserver does), and
// the fallback to off when it cannot be read. The full API server run lives in the chart suite.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../common/logger.ts';
import { detectNativeSidecar, resolvesSidecarNamedPorts, supportsNativeSidecar } from '../../webhook/kube.ts';

test('native sidecars from Kubernetes 1.29 (minor "29+" included)', () => {
  assert.equal(supportsNativeSidecar('1', '28'), false);
  assert.equal(supportsNativeSidecar('1', '29'), true);
  assert.equal(supportsNativeSidecar('1', '29+'), true);
  assert.equal(supportsNativeSidecar('1', '36'), true);
  assert.equal(supportsNativeSidecar('2', '0'), true);
  assert.equal(supportsNativeSidecar('', ''), false);
  assert.equal(resolvesSidecarNamedPorts('1', '31'), false);
  assert.equal(resolvesSidecarNamedPorts('1', '32'), true);
});

function kubeconfigFor(server: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u', token: 'test' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kc;
}

async function versionServer(minor: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/version') {
      res.statusCode = 404;
      res.end();
      return;
    }
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        major: '1',
        minor,
        gitVersion: `v1.${minor.replace('+', '')}.3`,
        gitCommit: 'x',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.26',
        compiler: 'gc',
        platform: 'linux/amd64',
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

for (const [minor, expected, namedPorts] of [
  ['36', true, true],
  ['31', true, false],
  ['29+', true, false],
  ['28', false, false],
] as const) {
  test(`auto reads the API server version once: 1.${minor} -> native ${expected}, named ports ${namedPorts}`, async (t) => {
    const server = await versionServer(minor);
    t.after(() => server.close());
    const kc = kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    assert.deepEqual(await detectNativeSidecar(kc, silentLogger()), {
      nativeSidecar: expected,
      nativeSidecarNamedPorts: namedPorts,
    });
  });
}

test('auto falls back to off when the version cannot be read', async () => {
  const kc = kubeconfigFor('http://127.0.0.1:1');
  assert.equal((await detectNativeSidecar(kc, silentLogger(), 2000)).nativeSidecar, false);
});

test('auto falls back to off when the API server does not answer in time', async (t) => {
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer(() => {}); // accepts, never answers
  server.on('connection', (s) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const kc = kubeconfigFor(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const started = Date.now();
  assert.equal((await detectNativeSidecar(kc, silentLogger(), 300)).nativeSidecar, false);
  assert.ok(Date.now() - started < 3000);
});
