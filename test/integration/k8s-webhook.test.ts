// The envtest: the real webhook (`realip webhook` from this checkout) behind a real kube-apiserver.
// The chart's objects are applied with the MutatingWebhookConfiguration pointed at the local webhook
// by URL (there is no Service network here); the webhook runs in self-managed TLS mode with the
// chart's environment and the chart's ServiceAccount token, so its Secret and caBundle patching go
// through @kubernetes/client-node and the chart's least-privilege RBAC for real. No kubelet: pods
// are stored (after admission) but never run.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { Annotations, Env, INIT_CONTAINER, SIDECAR_CONTAINER } from '../../common/contract.ts';
import type { ControlPlane, RunningWebhook } from '../support/k8s.ts';
import { selfManagedTlsValues, startEnvtest } from '../support/envtest.ts';

const NS = 'realip-system';

function statusOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}
/** The Status message of an API error (client-node keeps the response body as JSON text). */
function messageOf(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  try {
    const status = (typeof body === 'string' ? JSON.parse(body) : body) as { message?: string };
    if (typeof status?.message === 'string') return status.message;
  } catch {
    // not JSON: fall through
  }
  return String(body ?? (err as Error).message);
}

function appPod(
  name: string,
  annotations: Record<string, string> = {},
  labels: Record<string, string> = {},
): V1Pod {
  return {
    metadata: { name, annotations, labels: { app: name, ...labels } },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx:1.27',
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'db', containerPort: 5432 },
          ],
          readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
        },
      ],
    },
  };
}

function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}
function count(pod: V1Pod, name: string): number {
  return allContainers(pod).filter((c) => c.name === name).length;
}

describe('webhook on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let adm: AdmissionregistrationV1Api;
  let webhook: RunningWebhook;

  before(async () => {
    // Render with a placeholder URL, apply, start the webhook, point the URL at it (see envtest.ts).
    ({ cp, webhook } = await startEnvtest({
      namespace: NS,
      values: ['--set', 'webhook.failurePolicy=Fail', ...selfManagedTlsValues('{10.0.0.0/8}')],
      identity: 'chart-service-account',
    }));
    core = cp.kc.makeApiClient(CoreV1Api);
    adm = cp.kc.makeApiClient(AdmissionregistrationV1Api);
    for (const [name, labels] of [
      ['shop', { 'realip.dev/inject': 'enabled' }],
      ['plain', {}],
    ] as const) {
      await core.createNamespace({ body: { metadata: { name, labels } } });
    }
  });
  after(async () => {
    await webhook?.stop();
    await cp?.stop();
  });

  test('self-managed TLS: the webhook stored its certificate and patched the caBundle', async () => {
    const secret = await core.readNamespacedSecret({ name: 'realip-tls', namespace: NS });
    const ca = secret.data?.['ca.crt'];
    assert.ok(ca && secret.data?.['tls.crt'] && secret.data?.['tls.key']);
    const mwc = await adm.readMutatingWebhookConfiguration({ name: 'realip' });
    assert.equal(mwc.webhooks?.[0]?.clientConfig.caBundle, ca);
  });

  test('a pod in a labelled namespace is stored with the sidecar and the init container, once', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'shop', body: appPod('web') });
    const stored = await core.readNamespacedPod({ name: 'web', namespace: 'shop' });
    for (const p of [pod, stored]) {
      assert.equal(count(p, SIDECAR_CONTAINER), 1, JSON.stringify(allContainers(p).map((c) => c.name)));
      assert.equal(count(p, INIT_CONTAINER), 1);
    }
    // Kubernetes >= 1.29: a native sidecar (restartable init container) after realip-init.
    const init = stored.spec?.initContainers ?? [];
    assert.deepEqual(
      init.map((c) => c.name),
      [INIT_CONTAINER, SIDECAR_CONTAINER],
    );
    assert.equal(init[1]?.restartPolicy, 'Always');
    assert.deepEqual(
      stored.spec?.containers.map((c) => c.name),
      ['web'],
    );
    const status = JSON.parse(stored.metadata?.annotations?.[Annotations.status] ?? '{}') as Record<
      string,
      unknown
    >;
    assert.ok(Object.keys(status).length > 0, 'status annotation');
    const env = Object.fromEntries((init[1]?.env ?? []).map((e) => [e.name, e.value]));
    assert.equal(env.REALIP_TRUSTED_CIDRS, '10.0.0.0/8', 'the chart default reached the sidecar');
    // The app's probe points at the admin port's path for it; the sidecar holds the original.
    const probe = stored.spec?.containers[0]?.readinessProbe?.httpGet;
    assert.equal(probe?.path, '/app-health/web/readyz');
    assert.equal(probe?.port, 15021);
    assert.equal(probe?.httpHeaders, undefined);
    assert.deepEqual(JSON.parse(env[Env.appProbes] ?? '{}'), {
      '/app-health/web/readyz': {
        httpGet: { port: 8080, path: '/ready', scheme: 'HTTP' },
        timeoutSeconds: 1,
      },
    });
    assert.equal(init[1]?.image, 'ghcr.io/realip/realip-sidecar:0.1.0');
  });

  test('a pod in an unlabelled namespace is untouched', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'plain', body: appPod('web') });
    assert.deepEqual(
      allContainers(pod).map((c) => c.name),
      ['web'],
    );
    assert.equal(pod.metadata?.annotations?.[Annotations.status], undefined);
  });

  test('opt-out: the annotation (decided by the webhook) and the label (objectSelector)', async () => {
    const byAnnotation = await core.createNamespacedPod({
      namespace: 'shop',
      body: appPod('opt-out-annotation', { [Annotations.inject]: 'false' }),
    });
    assert.deepEqual(
      allContainers(byAnnotation).map((c) => c.name),
      ['web'],
    );
    const byLabel = await core.createNamespacedPod({
      namespace: 'shop',
      body: appPod('opt-out-label', {}, { 'realip.dev/inject': 'false' }),
    });
    assert.deepEqual(
      allContainers(byLabel).map((c) => c.name),
      ['web'],
    );
  });

  test('port steering by annotation: no init container, no privileges', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'shop',
      body: appPod('port-mode', { [Annotations.steering]: 'port' }),
    });
    assert.equal(count(pod, SIDECAR_CONTAINER), 1);
    assert.equal(count(pod, INIT_CONTAINER), 0);
  });

  test('an invalid annotation is denied with its message', async () => {
    await assert.rejects(
      core.createNamespacedPod({
        namespace: 'shop',
        body: appPod('bad', { [Annotations.ports]: '8080=carrier-pigeon' }),
      }),
      (err: unknown) => {
        const text = messageOf(err);
        assert.ok(statusOf(err)! >= 400 && statusOf(err)! < 500, `status ${statusOf(err)}`);
        assert.match(text, /inject\.realip\.dev/);
        assert.match(text, /realip\.dev\/ports/);
        assert.match(text, /carrier-pigeon/);
        return true;
      },
    );
    await assert.rejects(
      core.readNamespacedPod({ name: 'bad', namespace: 'shop' }),
      (e) => statusOf(e) === 404,
    );
  });

  test('server-side dry-run is injected and stores nothing', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'shop', body: appPod('dry'), dryRun: 'All' });
    assert.equal(count(pod, SIDECAR_CONTAINER), 1);
    await assert.rejects(
      core.readNamespacedPod({ name: 'dry', namespace: 'shop' }),
      (e) => statusOf(e) === 404,
    );
  });

  test('reinvocation (IfNeeded) after a later webhook changes the pod: still exactly one sidecar', async (t) => {
    // A second, real mutating webhook ordered after ours ("zz-" sorts after "realip") that labels every
    // pod: the API server then calls realip again, which must recognise its own injection.
    const dir = mkdtempSync(join(cp.dir, 'touch-'));
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat(
        [
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
        ],
        ['-addext', 'subjectAltName=IP:127.0.0.1'],
      ),
      { stdio: 'ignore' },
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        const review = JSON.parse(body) as { request: { uid: string } };
        const patch = [{ op: 'add', path: '/metadata/labels/touched', value: 'yes' }];
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            apiVersion: 'admission.k8s.io/v1',
            kind: 'AdmissionReview',
            response: {
              uid: review.request.uid,
              allowed: true,
              patchType: 'JSONPatch',
              patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
            },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const port = (server.address() as { port: number }).port;
    await adm.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: 'zz-touch' },
        webhooks: [
          {
            name: 'touch.test.realip.dev',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            reinvocationPolicy: 'Never',
            clientConfig: {
              url: `https://127.0.0.1:${port}/`,
              caBundle: Buffer.from(cert).toString('base64'),
            },
            rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'] }],
            namespaceSelector: { matchLabels: { 'realip.dev/inject': 'enabled' } },
          },
        ],
      },
    });
    t.after(() => adm.deleteMutatingWebhookConfiguration({ name: 'zz-touch' }));
    const admissions = async () => {
      const text = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
      return [...text.matchAll(/^realip_webhook_admissions_total\{[^}]*\} (\d+)/gm)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
    };
    // The API server picks the new configuration up from its informer: retry until it is in force.
    const deadline = Date.now() + 15_000;
    let pod: V1Pod | undefined;
    let calls = 0;
    for (let i = 0; !pod?.metadata?.labels?.touched; i++) {
      if (Date.now() > deadline) assert.fail('the second webhook was never called');
      const before = await admissions();
      pod = await core.createNamespacedPod({ namespace: 'shop', body: appPod(`reinvoked-${i}`) });
      calls = (await admissions()) - before;
      if (!pod.metadata?.labels?.touched) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(calls, 2, 'realip was called twice: once, then reinvoked after the other webhook');
    assert.equal(count(pod, SIDECAR_CONTAINER), 1);
    assert.equal(count(pod, INIT_CONTAINER), 1);
  });

  test('with the webhook stopped, pod creation follows failurePolicy (Fail, then Ignore)', async () => {
    await webhook.stop();
    await assert.rejects(
      core.createNamespacedPod({ namespace: 'shop', body: appPod('down-fail') }),
      (err: unknown) =>
        statusOf(err) === 500 && /failed calling webhook "inject\.realip\.dev"/.test(messageOf(err)),
    );
    // Unlabelled namespaces never call the webhook, whatever the policy.
    await core.createNamespacedPod({ namespace: 'plain', body: appPod('down-plain') });
    await adm.patchMutatingWebhookConfiguration({
      name: 'realip',
      body: [{ op: 'replace', path: '/webhooks/0/failurePolicy', value: 'Ignore' }],
    });
    // The API server picks configuration changes up from its informer: allow it a moment.
    const deadline = Date.now() + 15_000;
    let pod: V1Pod | undefined;
    while (!pod) {
      try {
        pod = await core.createNamespacedPod({ namespace: 'shop', body: appPod('down-ignore') });
      } catch (err: unknown) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.deepEqual(
      allContainers(pod).map((c) => c.name),
      ['web'],
      'Ignore: created without the sidecar',
    );
  });
});
