// The chart against a real kube-apiserver (built from k8s.io/kubernetes, with etcd): its rendered
// objects pass server-side validation, `helm install`/`upgrade` work (and keep the caBundle the
// webhook patched in), and the webhook's RBAC grants exactly what it needs, checked with the
// ServiceAccount's own token.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  KubeConfig,
  PatchStrategy,
  VersionApi,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { CHART_DIR, type ControlPlane, helm, helmTemplate, startControlPlane } from '../support/k8s.ts';

const FIXTURES = new URL('../fixtures/chart/', import.meta.url).pathname;

function objects(yaml: string): KubernetesObject[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as KubernetesObject)
    .filter((o) => o && typeof o === 'object');
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err: unknown) {
    if ((err as { code?: number }).code !== 409) throw err;
  }
}

async function apply(api: KubernetesObjectApi, objs: KubernetesObject[]): Promise<KubernetesObject[]> {
  const out: KubernetesObject[] = [];
  for (const o of objs) {
    out.push(await api.patch(o, undefined, undefined, 'realip-test', true, PatchStrategy.ServerSideApply));
  }
  return out;
}

function statusOf(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe('chart on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let api: KubernetesObjectApi;
  let core: CoreV1Api;
  before(async () => {
    cp = await startControlPlane();
    api = KubernetesObjectApi.makeApiClient(cp.kc);
    core = cp.kc.makeApiClient(CoreV1Api);
  });
  after(async () => {
    await cp?.stop();
  });

  test('the API server is the pinned release, built with its version', async () => {
    const v = await cp.kc.makeApiClient(VersionApi).getCode();
    assert.equal(v.major, '1');
    assert.match(v.gitVersion, /^v1\.\d+\.\d+$/);
  });

  test('rendered objects pass server-side validation (server-side apply), default values', async () => {
    await ensureNamespace(core, 'realip-system');
    const objs = objects(helmTemplate());
    const applied = await apply(api, objs);
    assert.deepEqual(
      applied.map((o) => `${o.kind}/${o.metadata?.name}`),
      objs.map((o) => `${o.kind}/${o.metadata?.name}`),
    );
    const mwc = await cp.kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({
      name: 'realip',
    });
    const wh = mwc.webhooks?.[0];
    assert.equal(wh?.sideEffects, 'NoneOnDryRun');
    assert.equal(wh?.reinvocationPolicy, 'IfNeeded');
    assert.equal(wh?.clientConfig.service?.name, 'realip');
  });

  test('rendered objects pass server-side validation, non-default values', async () => {
    await ensureNamespace(core, 'realip-secret');
    const secretUrl = objects(
      helmTemplate(['-f', `${FIXTURES}values-secret-url.yaml`], {
        release: 'realip-secret',
        namespace: 'realip-secret',
      }),
    );
    await apply(api, secretUrl);
    await ensureNamespace(core, 'realip-port');
    // cert-manager's Certificate and Issuer need its CRDs, which this API server does not have:
    // everything else of that render is applied.
    const port = objects(
      helmTemplate(['-f', `${FIXTURES}values-port-certmanager-fail.yaml`], {
        release: 'realip-port',
        namespace: 'realip-port',
      }),
    );
    const kinds = port.map((o) => o.kind);
    assert.ok(kinds.includes('Certificate') && kinds.includes('Issuer'));
    await apply(
      api,
      port.filter((o) => o.apiVersion !== 'cert-manager.io/v1'),
    );
  });

  test('server-side validation is real: a bad webhook configuration is refused', async () => {
    const [mwc] = objects(helmTemplate(['--show-only', 'templates/mutatingwebhookconfiguration.yaml'])) as [
      KubernetesObject & { webhooks: { timeoutSeconds: number }[] },
    ];
    mwc.metadata = { ...mwc.metadata, name: 'realip-invalid' };
    mwc.webhooks[0]!.timeoutSeconds = 31;
    await assert.rejects(
      api.patch(mwc, undefined, 'All', 'realip-test', true, PatchStrategy.ServerSideApply),
      (err: unknown) => statusOf(err) === 422 && /timeoutSeconds/.test(String((err as Error).message)),
    );
  });

  test('RBAC: the webhook ServiceAccount can do exactly what the webhook needs', async () => {
    await ensureNamespace(core, 'realip-system');
    await apply(api, objects(helmTemplate()));
    // A real token of the chart's ServiceAccount (TokenRequest; no controller-manager needed).
    const tr = await core.createNamespacedServiceAccountToken({
      name: 'realip',
      namespace: 'realip-system',
      body: { spec: { expirationSeconds: 600, audiences: [] } },
    });
    const token = tr.status?.token;
    assert.ok(token);
    const sa = new KubeConfig();
    sa.loadFromFile(cp.kubeconfigForToken('realip-sa', token));
    const authz = sa.makeApiClient(AuthorizationV1Api);
    const can = async (attrs: Record<string, string>, nonResource = false) => {
      const r = await authz.createSelfSubjectAccessReview({
        body: {
          spec: nonResource
            ? { nonResourceAttributes: { path: attrs.path!, verb: attrs.verb! } }
            : { resourceAttributes: attrs },
        },
      });
      return r.status?.allowed === true;
    };
    const secret = { namespace: 'realip-system', resource: 'secrets', version: 'v1' };
    const mwc = {
      group: 'admissionregistration.k8s.io',
      resource: 'mutatingwebhookconfigurations',
      version: 'v1',
    };
    const expectations: [string, boolean, Promise<boolean>][] = [
      ['get own secret', true, can({ ...secret, verb: 'get', name: 'realip-tls' })],
      ['update own secret', true, can({ ...secret, verb: 'update', name: 'realip-tls' })],
      ['create a secret', true, can({ ...secret, verb: 'create' })],
      ['get another secret', false, can({ ...secret, verb: 'get', name: 'other' })],
      ['list secrets', false, can({ ...secret, verb: 'list' })],
      ['secrets elsewhere', false, can({ ...secret, namespace: 'default', verb: 'create' })],
      ['get own webhook config', true, can({ ...mwc, verb: 'get', name: 'realip' })],
      ['patch own webhook config', true, can({ ...mwc, verb: 'patch', name: 'realip' })],
      ['patch another webhook config', false, can({ ...mwc, verb: 'patch', name: 'realip-secret' })],
      ['delete own webhook config', false, can({ ...mwc, verb: 'delete', name: 'realip' })],
      ['create pods', false, can({ namespace: 'default', resource: 'pods', verb: 'create' })],
      ['GET /version', true, can({ path: '/version', verb: 'get' }, true)],
    ];
    const wrong: string[] = [];
    for (const [what, expected, actual] of expectations) {
      if ((await actual) !== expected) wrong.push(`${what}: expected ${expected ? 'allowed' : 'denied'}`);
    }
    assert.deepEqual(wrong, []);
    // And for real, what the self-managed mode does: create and read its Secret, patch the caBundle.
    const saCore = sa.makeApiClient(CoreV1Api);
    await saCore.createNamespacedSecret({
      namespace: 'realip-system',
      body: {
        metadata: { name: 'realip-tls' },
        type: 'kubernetes.io/tls',
        data: { 'tls.crt': '', 'tls.key': '' },
      },
    });
    await saCore.readNamespacedSecret({ name: 'realip-tls', namespace: 'realip-system' });
    await assert.rejects(
      saCore.listNamespacedSecret({ namespace: 'realip-system' }),
      (e) => statusOf(e) === 403,
    );
    const saAdm = sa.makeApiClient(AdmissionregistrationV1Api);
    const caBundle = Buffer.from('test-ca').toString('base64');
    await saAdm.patchMutatingWebhookConfiguration({
      name: 'realip',
      body: [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle }],
    });
    const stored = await cp.kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({
      name: 'realip',
    });
    assert.equal(stored.webhooks?.[0]?.clientConfig.caBundle, caBundle);
  });

  test('helm install, NOTES, upgrade keeps the patched caBundle, port-mode NOTES, uninstall', async () => {
    const kube = ['--kubeconfig', cp.kubeconfigPath];
    const install = helm(['install', 'edge', CHART_DIR, '-n', 'edge-system', '--create-namespace', ...kube]);
    assert.equal(install.status, 0, install.stderr);
    assert.match(install.stdout, /STATUS: deployed/);
    assert.match(install.stdout, /kubectl label namespace shop realip\.dev\/inject=enabled/);
    assert.match(install.stdout, /injection\.trustedCidrs is empty/);
    assert.match(install.stdout, /ignoreDifferences/);
    // What the webhook does at start in self-managed mode.
    const adm = cp.kc.makeApiClient(AdmissionregistrationV1Api);
    const caBundle = Buffer.from('-----BEGIN CERTIFICATE-----\nedge\n-----END CERTIFICATE-----\n').toString(
      'base64',
    );
    await adm.patchMutatingWebhookConfiguration({
      name: 'edge-realip',
      body: [{ op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: caBundle }],
    });
    const upgrade = helm([
      'upgrade',
      'edge',
      CHART_DIR,
      '-n',
      'edge-system',
      '--set',
      'injection.steering=port',
      '--set',
      'injection.trustedCidrs={10.20.0.0/16}',
      ...kube,
    ]);
    assert.equal(upgrade.status, 0, upgrade.stderr);
    assert.match(upgrade.stdout, /kind: Service/);
    assert.match(upgrade.stdout, /targetPort: realip-http/);
    assert.doesNotMatch(upgrade.stdout, /trustedCidrs is empty/);
    const after = await adm.readMutatingWebhookConfiguration({ name: 'edge-realip' });
    assert.equal(
      after.webhooks?.[0]?.clientConfig.caBundle,
      caBundle,
      'helm upgrade must not blank the caBundle',
    );
    const dep = await cp.kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'edge-realip', namespace: 'edge-system' });
    const env = dep.spec?.template.spec?.containers[0]?.env ?? [];
    assert.equal(env.find((e) => e.name === 'REALIP_STEERING')?.value, 'port');
    const uninstall = helm(['uninstall', 'edge', '-n', 'edge-system', ...kube]);
    assert.equal(uninstall.status, 0, uninstall.stderr);
    await assert.rejects(
      adm.readMutatingWebhookConfiguration({ name: 'edge-realip' }),
      (e) => statusOf(e) === 404,
    );
  });
});
