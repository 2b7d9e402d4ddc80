// `realip check` (the CLI, as a user runs it) against a real kube-apiserver and the real webhook:
// all green when everything is in place, and the right failing line when a piece is not.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import {
  type ControlPlane,
  chartWebhookEnv,
  helmTemplate,
  type RunningWebhook,
  realipArgv,
  startControlPlane,
  startRealipWebhook,
} from '../helpers/k8s.ts';

const NS = 'realip-system';

describe('realip check on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let adm: AdmissionregistrationV1Api;
  let webhook: RunningWebhook;

  const check = (...args: string[]) => {
    const [node, argv] = realipArgv(['check', '--kubeconfig', cp.kubeconfigPath, ...args]);
    const r = spawnSync(node, argv, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cp.dir },
      timeout: 60_000,
    });
    const lines = r.stdout.split('\n');
    const line = (title: RegExp) => lines.find((l) => title.test(l)) ?? `(no line matching ${title})`;
    return { status: r.status, out: `${r.stdout}${r.stderr}`, line };
  };

  before(async () => {
    cp = await startControlPlane();
    core = cp.kc.makeApiClient(CoreV1Api);
    adm = cp.kc.makeApiClient(AdmissionregistrationV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    // Issue 13: with no trusted CIDRs a redirect-mode pod is skipped (INJ_SKIP_NO_TRUSTED_SOURCES),
    // so the dry-run pod needs them set, as every real install does.
    const rendered = helmTemplate([
      '--set',
      'injection.trustedCidrs={10.20.0.0/16}',
      '--set',
      'webhook.url=https://127.0.0.1:1/mutate',
      '--set',
      'tls.extraSans={127.0.0.1}',
    ]);
    const api = KubernetesObjectApi.makeApiClient(cp.kc);
    for (const o of parseAllDocuments(rendered).map((d) => d.toJS() as KubernetesObject)) {
      if (o?.kind === 'Deployment') continue;
      await api.patch(o, undefined, undefined, 'realip-test', true, PatchStrategy.ServerSideApply);
    }
    webhook = await startRealipWebhook(
      {
        ...chartWebhookEnv(rendered),
        REALIP_WEBHOOK_NAMESPACE: NS,
        KUBECONFIG: cp.kubeconfigPath,
        REALIP_LOG_LEVEL: 'warn',
      },
      cp.dir,
    );
    await adm.patchMutatingWebhookConfiguration({
      name: 'realip',
      body: [{ op: 'replace', path: '/webhooks/0/clientConfig/url', value: webhook.url }],
    });
  });
  after(async () => {
    await webhook?.stop();
    await cp?.stop();
  });

  test('no labelled namespace yet: passes with a warning, dry-run skipped', () => {
    const r = check();
    assert.equal(r.status, 0, r.out);
    assert.match(r.line(/Kubernetes API/), /^\[ok\] {3}Kubernetes API: v1\.\d+\.\d+/);
    assert.match(r.line(/MutatingWebhookConfiguration/), /^\[ok\]/);
    assert.match(r.line(/caBundle:/), /^\[ok\]/);
    assert.match(r.line(/serving certificate/), /^\[ok\] .*served at 127\.0\.0\.1/);
    assert.match(r.line(/certificate validity/), /^\[ok\] .*(36[45]) days left/);
    assert.match(r.line(/webhook reachable/), /^\[ok\]/);
    assert.match(r.line(/labelled namespaces/), /^\[warn\].*CHK_NO_LABELLED_NAMESPACE/);
    assert.match(r.line(/dry-run/), /^\[skip\]/);
  });

  test('everything in place: every line passes and a dry-run pod is injected', async () => {
    await core.createNamespace({
      body: { metadata: { name: 'shop', labels: { 'realip.dev/inject': 'enabled' } } },
    });
    const r = check();
    assert.equal(r.status, 0, r.out);
    assert.match(r.line(/labelled namespaces/), /^\[ok\] {3}labelled namespaces: shop$/);
    assert.match(r.line(/dry-run/), /^\[ok\] .*in namespace shop: containers .*realip-sidecar/);
    assert.match(
      r.line(/Pod Security/),
      /^\[ok\] {3}Pod Security enforcement: shop: privileged, redirect mode as configured$/,
    );
    assert.match(r.out, /all checks passed/);
    assert.doesNotMatch(r.out, /\[FAIL\]/);
  });

  test('a labelled namespace the webhook excludes is reported', async () => {
    await core.patchNamespace({
      name: NS,
      body: [{ op: 'add', path: '/metadata/labels/realip.dev~1inject', value: 'enabled' }],
    });
    try {
      const r = check();
      assert.equal(r.status, 0, r.out);
      assert.match(
        r.line(/labelled namespaces/),
        /injected: shop; labelled but excluded .*realip-system.*CHK_NAMESPACE_EXCLUDED/,
      );
    } finally {
      await core.patchNamespace({
        name: NS,
        body: [{ op: 'remove', path: '/metadata/labels/realip.dev~1inject' }],
      });
    }
  });

  test('a certificate expiring sooner than required fails', () => {
    const r = check('--min-validity-days', '400');
    assert.equal(r.status, 1, r.out);
    assert.match(r.line(/certificate validity/), /^\[FAIL\].*need >= 400.*CHK_CERT_EXPIRING/);
  });

  test('a missing webhook configuration fails', () => {
    const r = check('--config-name', 'nope');
    assert.equal(r.status, 1, r.out);
    assert.match(r.line(/MutatingWebhookConfiguration "nope"/), /^\[FAIL\].*CHK_CONFIG_MISSING/);
  });

  test('a caBundle that does not match the serving certificate fails', async () => {
    const before = await adm.readMutatingWebhookConfiguration({ name: 'realip' });
    const good = before.webhooks?.[0]?.clientConfig.caBundle;
    const other = execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        '/dev/null',
      ].concat(['-subj', '/CN=someone-else', '-days', '30']),
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
    );
    const patch = (value: string) =>
      adm.patchMutatingWebhookConfiguration({
        name: 'realip',
        body: [{ op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value }],
      });
    await patch(Buffer.from(other).toString('base64'));
    try {
      const r = check();
      assert.equal(r.status, 1, r.out);
      assert.match(r.line(/serving certificate/), /^\[FAIL\].*CHK_CA_MISMATCH/);
      // The API server, trusting that CA, cannot call the webhook either.
      assert.match(r.line(/webhook reachable/), /^\[FAIL\].*CHK_WEBHOOK_UNREACHABLE/);
    } finally {
      await patch(good!);
    }
  });

  test('a Service-based configuration: certificate from the Secret, reachability via the service proxy', async () => {
    const mwc = await adm.readMutatingWebhookConfiguration({ name: 'realip' });
    const wh = mwc.webhooks![0]!;
    await adm.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: 'realip-svc' },
        webhooks: [
          {
            ...wh,
            // Selects no namespace: this copy must not affect other pods.
            namespaceSelector: { matchLabels: { 'realip.test/none': 'x' } },
            clientConfig: {
              caBundle: wh.clientConfig.caBundle!,
              service: { name: 'realip', namespace: NS, path: '/mutate', port: 443 },
            },
          },
        ],
      },
    });
    try {
      const r = check('--config-name', 'realip-svc');
      assert.match(
        r.line(/serving certificate/),
        /^\[ok\] .*Secret realip-system\/realip-tls, valid for realip\.realip-system\.svc/,
      );
      // No Service network and no endpoints here: the API server's proxy cannot reach it.
      assert.match(
        r.line(/webhook reachable/),
        /^\[FAIL\] webhook reachable: service proxy \/api\/v1\/namespaces\/realip-system\/services\/https:realip:443\/proxy\/mutate: HTTP \d+: .*\(CHK_WEBHOOK_UNREACHABLE\)$/,
      );
      assert.equal(r.status, 1, r.out);
    } finally {
      await adm.deleteMutatingWebhookConfiguration({ name: 'realip-svc' });
    }
  });

  test('with the webhook down: unreachable, and the dry-run pod is not injected (failurePolicy Ignore)', async () => {
    await webhook.stop();
    const r = check();
    assert.equal(r.status, 1, r.out);
    assert.match(r.line(/serving certificate/), /^\[FAIL\].*CHK_CERT_UNAVAILABLE/);
    assert.match(r.line(/webhook reachable/), /^\[FAIL\].*CHK_WEBHOOK_UNREACHABLE/);
    assert.match(r.line(/dry-run/), /^\[FAIL\].*no realip-sidecar.*CHK_NOT_INJECTED/);
    assert.match(r.out, /check\(s\) failed/);
  });
});
