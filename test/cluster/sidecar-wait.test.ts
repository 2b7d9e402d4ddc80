// Clusters without native sidecars: with `injection.nativeSidecar=off` the sidecar is a regular
// container whose postStart hook (`realip sidecar-wait`) holds the app back until the sidecar
// listens. The real kubelet runs the hook; traffic carries the client address.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { apply, curlFromClient, namespace, onePod, readManifest, rollout, startEdge } from './apps.ts';
import { installChart } from './chart.ts';
import { clusterEnv, type Tracked } from './cluster.ts';

const NS = 'legacy';
const VS = 8085;

describe('postStart sidecar-wait variant (nativeSidecar off)', () => {
  let edge: Tracked | undefined;
  before(async () => {
    await installChart(['--set', 'injection.nativeSidecar=off']);
    await namespace(NS, ['realip.dev/inject=enabled']);
    // The same unchanged app as lifecycle.test.ts, in another namespace and NodePort.
    await apply(
      readManifest('slow.yaml')
        .replaceAll('namespace: life', `namespace: ${NS}`)
        .replace('nodePort: 30081', 'nodePort: 30085'),
    );
    await rollout(NS, 'slow');
    edge = await startEdge('legacy', [{ port: VS, nodePort: 30085, proxy: 'send-proxy' }]);
  });
  after(async () => {
    await edge?.stop();
    await installChart();
  });

  test('the sidecar is a regular container started first, with the postStart wait', async () => {
    const pod = await onePod(NS, 'app=slow');
    const names = (pod.spec.containers as { name: string }[]).map((c) => c.name);
    assert.deepEqual(
      names,
      ['realip-sidecar', 'slow'],
      'sidecar first: the kubelet starts containers in order',
    );
    const side = pod.spec.containers[0];
    assert.deepEqual(side.lifecycle?.postStart?.exec?.command?.slice(-1), ['sidecar-wait']);
    assert.deepEqual(
      (pod.spec.initContainers as { name: string }[]).map((c) => c.name),
      ['realip-init'],
    );
    for (const s of pod.status.containerStatuses) assert.equal(s.ready, true, `${s.name} ready`);
  });

  test('traffic through the edge carries the client address', async () => {
    const e = clusterEnv();
    const r = await curlFromClient(e.CLIENT_IP, VS, '/slow?ms=1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^xff=${e.CLIENT_IP.replaceAll('.', '\\.')} `));
  });
});
