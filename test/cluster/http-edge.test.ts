// The seed's scenario on a real cluster: an unchanged nginx Deployment in a labelled namespace, its
// NodePort behind an edge HAProxy that sends PROXY v1 as the BIG-IP iRule does; kube-proxy SNATs on
// the way; the injected sidecar (from the built image) turns the header into X-Forwarded-For.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  applyFile,
  curlFromClient,
  logs,
  namespace,
  onePod,
  rollout,
  runClientPod,
  startEdge,
} from './apps.ts';
import { SIDECAR_IMAGE } from './chart.ts';
import { clusterEnv, getJson, type Tracked } from './cluster.ts';

const VS_PORT = 80;

describe('HTTP through the edge (PROXY v1) to an unchanged nginx', () => {
  let edge: Tracked | undefined;
  before(async () => {
    await namespace('shop');
    await namespace('shop', ['realip.dev/inject=enabled']);
    await applyFile('shop.yaml');
    await rollout('shop', 'shop');
    edge = await startEdge('http', [{ port: VS_PORT, nodePort: 30080, proxy: 'send-proxy' }]);
  });
  after(async () => {
    await edge?.stop();
  });

  test('the pod was injected by the webhook pods, with the built sidecar image', async () => {
    const pod = await onePod('shop', 'app=shop');
    const inits = pod.spec.initContainers as { name: string; image: string; restartPolicy?: string }[];
    assert.deepEqual(
      inits.map((c) => c.name),
      ['realip-init', 'realip-sidecar'],
    );
    assert.ok(inits.every((c) => c.image === SIDECAR_IMAGE));
    assert.equal(inits[1]!.restartPolicy, 'Always', 'native sidecar');
    assert.equal(pod.spec.containers.length, 1, 'the app container is untouched');
    const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'True');
  });

  test('the app sees the client address of each client on the internet side', async () => {
    const e = clusterEnv();
    for (const client of [e.CLIENT_IP, e.CLIENT_IP2, e.CLIENT_IP6]) {
      const r = await curlFromClient(client, VS_PORT, '/checkout');
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^xff=${client.replaceAll('.', '\\.')} real=${client.replaceAll('.', '\\.')} `),
      );
    }
    const pod = await onePod('shop', 'app=shop');
    const log = await logs('shop', pod.metadata.name, 'nginx');
    assert.match(
      log,
      new RegExp(`client=${e.CLIENT_IP.replaceAll('.', '\\.')} .*"GET /checkout HTTP/1.1" 200`),
    );
  });

  test('forwarding headers sent by the client are not believed', async () => {
    const e = clusterEnv();
    const r = await curlFromClient(e.CLIENT_IP, VS_PORT, '/', [
      '-H',
      'X-Forwarded-For: 192.0.2.66',
      '-H',
      'X-Real-IP: 192.0.2.66',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /192\.0\.2\.66/);
    assert.match(r.stdout, new RegExp(`^xff=${e.CLIENT_IP.replaceAll('.', '\\.')} `));
  });

  test('an in-cluster client reaches the same app directly, unchanged', async () => {
    await namespace('clients');
    const svc = await getJson<{ spec: { clusterIP: string } }>(['svc', '-n', 'shop', 'shop']);
    const r = await runClientPod('clients', 'curl-shop', [
      'curl',
      '-sS',
      '--max-time',
      '10',
      `http://${svc.spec.clusterIP}/inside`,
    ]);
    assert.equal(r.phase, 'Succeeded', r.logs);
    // No PROXY header on this path: the app sees the client pod itself, no forwarded headers.
    assert.match(r.logs, /^xff= real= peer=/);
  });
});
