// Kubernetes Events for skips and denials (issue 15), against a real kube-apiserver: the real
// webhook (`realip webhook`) with the chart's ServiceAccount and RBAC records them on the pod's
// owner (or the Namespace), at most once per owner and reason per minute, never on a dry run; and
// a ServiceAccount without the RBAC for it makes the send fail without failing the admission.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, type EventsV1Event, EventsV1Api, type V1Pod } from '@kubernetes/client-node';
import { Annotations } from '../../common/contract.ts';
import { silentLogger } from '../../common/logger.ts';
import { buildApp } from '../../webhook/app.ts';
import { EventRecorder } from '../../webhook/events.ts';
import { kubeEventSender } from '../../webhook/kube.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';
import { type ControlPlane, type RunningWebhook, serviceAccountKubeconfig } from '../support/k8s.ts';
import { selfManagedTlsValues, startEnvtest } from '../support/envtest.ts';

const NS = 'realip-system';

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('webhook Events on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let events: EventsV1Api;
  let webhook: RunningWebhook;
  let rsUid: string;

  const metric = async (result: string) => {
    const text = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
    const m = new RegExp(`^realip_webhook_events_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const eventsIn = async (namespace: string, name: string): Promise<EventsV1Event[]> =>
    (await events.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === name);
  const owned = (name: string, annotations: Record<string, string> = {}): V1Pod => ({
    metadata: {
      name,
      annotations,
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: rsUid, controller: true },
      ],
    },
    // No container port: skipped with INJ_SKIP_NO_PORTS.
    spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
  });

  before(async () => {
    ({ cp, webhook } = await startEnvtest({
      namespace: NS,
      values: ['--set', 'webhook.failurePolicy=Fail', ...selfManagedTlsValues('{10.0.0.0/8}')],
      // The chart's ServiceAccount: Events go through the chart's RBAC for real.
      identity: 'chart-service-account',
    }));
    core = cp.kc.makeApiClient(CoreV1Api);
    events = cp.kc.makeApiClient(EventsV1Api);
    await core.createNamespace({
      body: { metadata: { name: 'shop', labels: { 'realip.dev/inject': 'enabled' } } },
    });
    const rs = await cp.kc.makeApiClient(AppsV1Api).createNamespacedReplicaSet({
      namespace: 'shop',
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 0,
          selector: { matchLabels: { app: 'web' } },
          template: {
            metadata: { labels: { app: 'web' } },
            spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
          },
        },
      },
    });
    rsUid = rs.metadata!.uid!;
  });
  after(async () => {
    await webhook?.stop();
    await cp?.stop();
  });

  test("a skip is an Event on the pod's ReplicaSet, with the reason code; repeats within a minute are not", async () => {
    await core.createNamespacedPod({ namespace: 'shop', body: owned('web-1') });
    const [first] = await until('the skip Event', async () => {
      const list = (await eventsIn('shop', 'web')).filter((e) => e.reason === 'INJ_SKIP_NO_PORTS');
      return list.length > 0 ? list : undefined;
    });
    assert.equal(first!.type, 'Normal');
    assert.deepEqual(
      {
        kind: first!.regarding?.kind,
        apiVersion: first!.regarding?.apiVersion,
        ns: first!.regarding?.namespace,
        uid: first!.regarding?.uid,
      },
      { kind: 'ReplicaSet', apiVersion: 'apps/v1', ns: 'shop', uid: rsUid },
    );
    assert.equal(first!.reportingController, 'realip.dev/webhook');
    assert.match(first!.note ?? '', /not injected \(INJ_SKIP_NO_PORTS\).*pod web-1 in namespace shop/);

    const suppressedBefore = await metric('suppressed');
    for (const name of ['web-2', 'web-3', 'web-4']) {
      await core.createNamespacedPod({ namespace: 'shop', body: owned(name) });
    }
    await until('three suppressed Events', async () =>
      (await metric('suppressed')) >= suppressedBefore + 3 ? true : undefined,
    );
    const all = (await eventsIn('shop', 'web')).filter((e) => e.reason === 'INJ_SKIP_NO_PORTS');
    assert.equal(all.length, 1, 'one Event per owner and reason per minute');
  });

  test('a denial is a Warning Event on the owner with the denial message', async () => {
    await assert.rejects(
      core.createNamespacedPod({
        namespace: 'shop',
        body: owned('web-bad', { [Annotations.ports]: '8080=carrier-pigeon' }),
      }),
    );
    const [e] = await until('the denial Event', async () => {
      const list = (await eventsIn('shop', 'web')).filter((x) => x.reason === 'INJ_INVALID_ANNOTATION');
      return list.length > 0 ? list : undefined;
    });
    assert.equal(e!.type, 'Warning');
    assert.match(
      e!.note ?? '',
      /denied pod web-bad in namespace shop: realip: INJ_INVALID_ANNOTATION: .*carrier-pigeon/,
    );
  });

  test('a pod without an owner: the Event is on its Namespace (stored in "default")', async () => {
    await core.createNamespacedPod({
      namespace: 'shop',
      body: {
        metadata: { name: 'bare' },
        spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    });
    const [e] = await until('the namespace Event', async () => {
      const list = (await eventsIn('default', 'shop')).filter((x) => x.reason === 'INJ_SKIP_NO_PORTS');
      return list.length > 0 ? list : undefined;
    });
    assert.equal(e!.regarding?.kind, 'Namespace');
    assert.match(e!.note ?? '', /pod bare in namespace shop/);
  });

  test('a server-side dry run records nothing', async () => {
    const sentBefore = await metric('sent');
    const pod = owned('dry-1');
    pod.metadata!.ownerReferences = [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'dry', uid: rsUid, controller: true },
    ];
    await core.createNamespacedPod({ namespace: 'shop', body: pod, dryRun: 'All' });
    // A real pod after it: once its Event is there, the dry run's would have been too.
    pod.metadata!.name = 'dry-2';
    pod.metadata!.ownerReferences = [
      { apiVersion: 'batch/v1', kind: 'Job', name: 'wet', uid: rsUid, controller: true },
    ];
    await core.createNamespacedPod({ namespace: 'shop', body: pod });
    await until('the Event of the real pod', async () =>
      (await eventsIn('shop', 'wet')).length > 0 ? true : undefined,
    );
    assert.deepEqual(await eventsIn('shop', 'dry'), []);
    assert.equal(await metric('sent'), sentBefore + 1);
  });

  test('without RBAC for Events the send fails (403), is counted, and the admission is answered', async () => {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'no-events' } } });
    const kc = await serviceAccountKubeconfig(cp, NS, 'no-events');
    const { KubeConfig } = await import('@kubernetes/client-node');
    const weak = new KubeConfig();
    weak.loadFromFile(kc);
    const metrics = createWebhookMetrics();
    const recorder = new EventRecorder({
      send: kubeEventSender(weak, 'test'),
      log: silentLogger(),
      registry: metrics.registry,
    });
    const app = buildApp({ defaults: TEST_DEFAULTS, log: silentLogger(), metrics, events: recorder });
    try {
      const res = await app.inject({
        method: 'POST',
        url: '/mutate',
        payload: {
          apiVersion: 'admission.k8s.io/v1',
          kind: 'AdmissionReview',
          request: { uid: 'u-1', namespace: 'shop', operation: 'CREATE', object: owned('web-9') },
        },
      });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().response.allowed, true);
      await recorder.flush();
      assert.match(metrics.registry.render(), /^realip_webhook_events_total\{result="failed"\} 1$/m);
      assert.doesNotMatch(metrics.registry.render(), /result="sent"/);
    } finally {
      await app.close();
    }
  });
});
