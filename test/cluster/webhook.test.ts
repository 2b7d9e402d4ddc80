// The webhook as pods of the built image behind its Service: `realip check` on the real cluster; a
// webhook pod killed and rescheduled; the webhook gone with failurePolicy Ignore (pods start without
// the sidecar) and Fail (pods are refused); `realip check` names the fault.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type K8sObject, namespace, podsOf } from './apps.ts';
import { installChart, RELEASE, RELEASE_NS, WEBHOOK_IMAGE } from './chart.ts';
import { clusterEnv, getJson, inNs, kubectl, kubectlOk, REPO, type RunResult, waitFor } from './cluster.ts';

const NS = 'hooks';

function realipCheck(): Promise<RunResult> {
  const e = clusterEnv();
  return inNs(e.NODE_NS, process.execPath, [`${REPO}bin/realip.js`, 'check', '--kubeconfig', e.KUBECONFIG], {
    timeoutMs: 60_000,
  });
}

/** Creates a bare pod in the labelled namespace; returns kubectl's result and the stored pod. */
async function createPod(name: string): Promise<{ r: RunResult; pod: K8sObject | undefined }> {
  await kubectl(['-n', NS, 'delete', 'pod', name, '--ignore-not-found', '--wait=true']);
  const manifest = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'localhost/realip-test/apps:1',
          imagePullPolicy: 'Never',
          command: ['node', '/apps/tcp-apps.cjs', 'http-slow', '8080'],
          ports: [{ name: 'http', containerPort: 8080 }],
        },
      ],
    },
  };
  const r = await kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
  const pod = r.code === 0 ? await getJson<K8sObject>(['pod', '-n', NS, name]) : undefined;
  return { r, pod };
}

const initNames = (pod: K8sObject | undefined): string[] =>
  ((pod?.spec.initContainers ?? []) as { name: string }[]).map((c) => c.name);

async function webhookPods(): Promise<K8sObject[]> {
  return podsOf(RELEASE_NS, 'app.kubernetes.io/name=realip');
}

async function scaleWebhook(replicas: number): Promise<void> {
  await kubectlOk(['-n', RELEASE_NS, 'scale', `deploy/${RELEASE}`, `--replicas=${replicas}`]);
  await waitFor(
    `${replicas} webhook pods`,
    async () => {
      const all = await getJson<{ items: K8sObject[] }>(['pods', '-n', RELEASE_NS]);
      const ready = all.items.filter((p) =>
        p.status.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        ),
      );
      return all.items.length === replicas && ready.length === replicas ? true : undefined;
    },
    120_000,
  );
}

describe('the webhook on the cluster', () => {
  before(async () => {
    await namespace(NS, ['realip.dev/inject=enabled']);
  });
  after(async () => {
    // Leave the default install for the next suites.
    await installChart();
  });

  test('runs as pods of the built image, reached through its Service with self-managed TLS', async () => {
    const pods = await webhookPods();
    assert.equal(pods.length, 2);
    for (const p of pods) assert.equal(p.spec.containers[0].image, WEBHOOK_IMAGE);
    const mwc = await getJson<K8sObject>(['mutatingwebhookconfiguration', RELEASE]);
    const hook = mwc.webhooks[0];
    assert.equal(hook.clientConfig.url, undefined, 'no url: shortcut');
    assert.equal(hook.clientConfig.service.name, RELEASE);
    assert.ok(hook.clientConfig.caBundle?.length > 100, 'the webhook filled in its caBundle');
  });

  test('realip check passes on the cluster', async () => {
    const r = await realipCheck();
    assert.equal(r.code, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /\[ok\] +webhook reachable: service proxy/);
    assert.match(r.stdout, /\[ok\] +dry-run pod is injected/);
  });

  test('a skipped Deployment: a Kubernetes Event with the reason code on its ReplicaSet', async () => {
    // Its only port has a name that says nothing about its protocol: left alone, so the pod is
    // skipped (INJ_SKIP_NO_INTERCEPTED_PORTS), and the webhook pod records why on the owner.
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'unknown-port', namespace: NS },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'unknown-port' } },
        template: {
          metadata: { labels: { app: 'unknown-port' } },
          spec: {
            containers: [
              {
                name: 'db',
                image: 'localhost/realip-test/apps:1',
                imagePullPolicy: 'Never',
                command: ['node', '/apps/tcp-apps.cjs', 'http-slow', '5432'],
                ports: [{ name: 'postgres', containerPort: 5432 }],
              },
            ],
          },
        },
      },
    };
    await kubectlOk(['apply', '-f', '-'], { input: JSON.stringify(deployment) });
    const event = await waitFor(
      'an Event on the ReplicaSet',
      async () => {
        const list = await getJson<{ items: K8sObject[] }>(['events.events.k8s.io', '-n', NS]);
        return list.items.find(
          (e) => e.regarding?.kind === 'ReplicaSet' && e.reason === 'INJ_SKIP_NO_INTERCEPTED_PORTS',
        );
      },
      60_000,
      1000,
    );
    assert.match(event.regarding.name, /^unknown-port-/);
    assert.equal(event.type, 'Warning');
    assert.equal(event.reportingController, 'realip.dev/webhook');
    const [pod] = await podsOf(NS, 'app=unknown-port');
    assert.ok(pod, 'the ReplicaSet created its pod');
    assert.deepEqual(initNames(pod), [], 'the pod itself is untouched');
    await kubectlOk(['-n', NS, 'delete', 'deployment', 'unknown-port', '--wait=false']);
  });

  test('a webhook pod killed and rescheduled: injection goes on', async () => {
    const [victim] = await webhookPods();
    await kubectlOk(['-n', RELEASE_NS, 'delete', 'pod', victim.metadata.name, '--grace-period=0', '--force']);
    const { r, pod } = await createPod('during-kill');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(initNames(pod), ['realip-init', 'realip-sidecar']);
    await waitFor(
      'a replacement webhook pod, Ready',
      async () => {
        const pods = await webhookPods();
        const fresh = pods.filter(
          (p) =>
            p.metadata.name !== victim.metadata.name &&
            p.status.conditions?.some(
              (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
            ),
        );
        return fresh.length === 2 ? true : undefined;
      },
      120_000,
    );
    const again = await createPod('after-kill');
    assert.deepEqual(initNames(again.pod), ['realip-init', 'realip-sidecar']);
  });

  test('failurePolicy Ignore, webhook scaled to 0: pods start without the sidecar; realip check fails naming it', async () => {
    await scaleWebhook(0);
    const { r, pod } = await createPod('ignored');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(initNames(pod), [], 'created without the sidecar');
    const check = await realipCheck();
    assert.notEqual(check.code, 0, check.stdout);
    assert.match(check.stdout, /\[FAIL\] +webhook reachable.*CHK_WEBHOOK_UNREACHABLE/);
    await scaleWebhook(2);
  });

  test('failurePolicy Fail, webhook scaled to 0: pod creation is refused; back up, it is injected', async () => {
    await installChart(['--set', 'webhook.failurePolicy=Fail']);
    const mwc = await getJson<K8sObject>(['mutatingwebhookconfiguration', RELEASE]);
    assert.equal(mwc.webhooks[0].failurePolicy, 'Fail');
    await scaleWebhook(0);
    const refused = await createPod('refused');
    assert.notEqual(refused.r.code, 0, 'refused');
    assert.match(refused.r.stderr, /failed calling webhook/);
    await scaleWebhook(2);
    const ok = await waitFor(
      'injection once the webhook is back',
      async () => {
        const c = await createPod('back');
        return c.r.code === 0 ? c : undefined;
      },
      60_000,
      1000,
    );
    assert.deepEqual(initNames(ok.pod), ['realip-init', 'realip-sidecar']);
  });
});
