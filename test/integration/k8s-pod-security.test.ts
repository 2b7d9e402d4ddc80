// Pod Security against the real kube-apiserver's PodSecurity admission (issue 13): namespaces
// labelled pod-security.kubernetes.io/enforce = privileged | baseline | restricted, the chart's
// webhook (with the chart's ServiceAccount, so its RBAC must allow reading namespaces) and real
// pod creations. Where the level would reject the init container (NET_ADMIN/NET_RAW, root) or a
// transparent sidecar, the webhook injects in port mode and the API server accepts the pod; the
// redirect-mode pod it avoided is shown to be rejected there. `realip check` reports the levels.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Annotations, INIT_CONTAINER, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { type ControlPlane, type RunningWebhook, realipArgv } from '../support/k8s.ts';
import { selfManagedTlsValues, startEnvtest } from '../support/envtest.ts';

const NS = 'realip-system';
const LEVELS = ['privileged', 'baseline', 'restricted'] as const;

/** A pod that complies with `restricted` itself, so only what realip adds can make it fail. */
function appPod(name: string, annotations: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, annotations },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'registry.invalid/app:1',
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'redis', containerPort: 6379 },
          ],
        },
      ],
    },
  };
}

function names(pod: V1Pod): string[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
}

function errMessage(err: unknown): string {
  const e = err as { code?: number; body?: unknown; message?: string };
  return `${e.code ?? ''} ${typeof e.body === 'string' ? e.body : JSON.stringify(e.body ?? e.message)}`;
}

describe('Pod Security enforce labels on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let webhook: RunningWebhook;

  before(async () => {
    ({ cp, webhook } = await startEnvtest({
      namespace: NS,
      values: ['--set', 'webhook.failurePolicy=Fail', ...selfManagedTlsValues('{10.20.0.0/16}')],
      identity: 'chart-service-account',
    }));
    core = cp.kc.makeApiClient(CoreV1Api);
    for (const level of LEVELS) {
      await core.createNamespace({
        body: {
          metadata: {
            name: `ps-${level}`,
            labels: { 'realip.dev/inject': 'enabled', 'pod-security.kubernetes.io/enforce': level },
          },
        },
      });
    }
  });
  after(async () => {
    await webhook?.stop();
    await cp?.stop();
  });

  test('privileged: redirect mode, init container with NET_ADMIN, transparent listener as asked', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'ps-privileged',
      body: appPod('web', { 'realip.dev/ports': '8080=http,6379=transparent' }),
    });
    assert.deepEqual(names(pod).slice(0, 2), [INIT_CONTAINER, SIDECAR_CONTAINER]);
    const status = JSON.parse(pod.metadata?.annotations?.[Annotations.status] ?? '{}');
    assert.equal(status.steering, 'redirect');
    assert.deepEqual(status.listeners, ['transparent:15001:6379', 'http:15002:8080']);
    assert.deepEqual(status.redirectFrom, ['10.20.0.0/16']);
  });

  for (const level of ['baseline', 'restricted'] as const) {
    test(`${level}: port mode, no init container, transparent port left alone; the API server accepts the pod`, async () => {
      const pod = await core.createNamespacedPod({
        namespace: `ps-${level}`,
        body: appPod('web', { 'realip.dev/ports': '8080=http,6379=transparent' }),
      });
      assert.ok(!names(pod).includes(INIT_CONTAINER), names(pod).join(','));
      assert.ok(names(pod).includes(SIDECAR_CONTAINER), names(pod).join(','));
      const status = JSON.parse(pod.metadata?.annotations?.[Annotations.status] ?? '{}');
      assert.equal(status.steering, 'port');
      assert.equal(status.podSecurity, level);
      assert.deepEqual(status.listeners, ['http:15001:8080']);
      assert.deepEqual(status.leftAlone, ['6379/redis INJ_PORT_POD_SECURITY']);
    });

    test(`${level}: the redirect-mode pod the webhook avoided would have been rejected`, async () => {
      // The same injection as in a privileged namespace, made offline and created with the
      // webhook opted out: PodSecurity admission refuses it, naming the capabilities.
      const privileged = await core.createNamespacedPod({
        namespace: 'ps-privileged',
        body: appPod('web-dry', { 'realip.dev/ports': '8080=http' }),
        dryRun: 'All',
      });
      const body = {
        ...privileged,
        metadata: {
          name: 'web-redirect',
          annotations: { ...privileged.metadata?.annotations, 'realip.dev/inject': 'false' },
        },
      };
      await assert.rejects(
        core.createNamespacedPod({ namespace: `ps-${level}`, body: body as V1Pod }),
        (err: unknown) => {
          const text = errMessage(err);
          assert.match(text, /violates PodSecurity/, text);
          assert.match(text, /NET_ADMIN/, text);
          return true;
        },
      );
    });
  }

  test('restricted: a pod with only a transparent port is skipped (reason recorded), never rejected', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'ps-restricted',
      body: appPod('cache', { 'realip.dev/ports': '6379=transparent' }),
    });
    assert.deepEqual(names(pod), ['app']);
    const status = JSON.parse(pod.metadata?.annotations?.[Annotations.status] ?? '{}');
    assert.deepEqual(status.reasons, ['INJ_SKIP_NO_INTERCEPTED_PORTS']);
  });

  test('the namespace annotation realip.dev/ports is the default for its pods (read by the webhook)', async () => {
    await core.createNamespace({
      body: {
        metadata: {
          name: 'ns-default',
          labels: { 'realip.dev/inject': 'enabled' },
          annotations: { 'realip.dev/ports': '6379=tcp' },
        },
      },
    });
    const pod = await core.createNamespacedPod({ namespace: 'ns-default', body: appPod('cache') });
    const status = JSON.parse(pod.metadata?.annotations?.[Annotations.status] ?? '{}');
    assert.deepEqual(status.listeners, ['tcp:15001:6379']);
    assert.deepEqual(status.leftAlone, ['8080/http INJ_PORT_NOT_LISTED']);
  });

  test('a namespace with Istio injection on: pods skipped with the reason, never denied', async () => {
    await core.createNamespace({
      body: {
        metadata: {
          name: 'meshed',
          labels: { 'realip.dev/inject': 'enabled', 'istio-injection': 'enabled' },
        },
      },
    });
    const pod = await core.createNamespacedPod({ namespace: 'meshed', body: appPod('web') });
    assert.deepEqual(names(pod), ['app']);
    const status = JSON.parse(pod.metadata?.annotations?.[Annotations.status] ?? '{}');
    assert.deepEqual(status.reasons, ['INJ_SKIP_MESH']);
  });

  test('realip check reports each labelled namespace and what injection does there', () => {
    const [node, argv] = realipArgv([
      'check',
      '--kubeconfig',
      cp.kubeconfigPath,
      '--dry-run-namespace',
      'ps-restricted',
    ]);
    const r = spawnSync(node, argv, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cp.dir },
      timeout: 60_000,
    });
    const line = r.stdout.split('\n').find((l) => l.includes('Pod Security enforcement')) ?? r.stdout;
    assert.match(line, /^\[warn\]/);
    assert.match(line, /ps-privileged: privileged, redirect mode as configured/);
    assert.match(line, /ps-baseline: baseline, port mode \(no init container, no transparent listeners\)/);
    assert.match(line, /ps-restricted: restricted, port mode/);
    assert.match(line, /CHK_POD_SECURITY_PORT_MODE/);
    assert.match(line, /meshed: privileged, pods skipped \(istio injection is on\)/);
    assert.match(r.stdout, /\[ok\] {3}dry-run pod is injected: in namespace ps-restricted/);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
