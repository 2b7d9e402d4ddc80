// `realip check` (the CLI, as a user runs it) against a real kube-apiserver and the real webhook:
// all green when everything is in place, and the right failing line when a piece is not.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer as createNetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import {
  type ControlPlane,
  type RunningWebhook,
  realipArgv,
  serviceAccountKubeconfig,
} from '../support/k8s.ts';
import { runRealip } from '../support/realip-run.ts';
import { selfManagedTlsValues, startEnvtest } from '../support/envtest.ts';
import { freeEphemeralPort } from '../../devkit/ports.ts';

const NS = 'realip-system';

/** A self-signed CA that signed nothing of this cluster. */
function otherCa(): string {
  return execFileSync(
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
}

describe('realip check on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let adm: AdmissionregistrationV1Api;
  let webhook: RunningWebhook;

  const check = (...args: string[]) => checkWith(cp.kubeconfigPath, ...args);
  const checkWith = (kubeconfig: string, ...args: string[]) => {
    const [node, argv] = realipArgv(['check', '--kubeconfig', kubeconfig, ...args]);
    const r = spawnSync(node, argv, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cp.dir },
      timeout: 60_000,
    });
    const lines = r.stdout.split('\n');
    const line = (title: RegExp) => lines.find((l) => title.test(l)) ?? `(no line matching ${title})`;
    return { status: r.status, out: `${r.stdout}${r.stderr}`, line };
  };

  const kubeconfigFile = (name: string, server: string, caPem: string, token: string) => {
    const path = join(cp.dir, `kubeconfig-${name}.yaml`);
    const ca = Buffer.from(caPem).toString('base64');
    writeFileSync(
      path,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${server}\n    certificate-authority-data: ${ca}\nusers:\n- name: u\n  user:\n    token: ${token}\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n`,
      { mode: 0o600 },
    );
    return path;
  };
  /** As check(), without blocking the event loop (the test's own server must answer meanwhile). */
  const checkAsync = async (kubeconfig: string, ...args: string[]) => {
    const r = await runRealip(['check', '--kubeconfig', kubeconfig, ...args], { env: { HOME: cp.dir } });
    const lines = r.stdout.split('\n');
    return {
      status: r.status,
      out: `${r.stdout}${r.stderr}`,
      line: (t: RegExp) => lines.find((l) => t.test(l)) ?? `(no line matching ${t})`,
    };
  };

  before(async () => {
    // Issue 13: with no trusted CIDRs a redirect-mode pod is skipped (INJ_SKIP_NO_TRUSTED_SOURCES),
    // so the dry-run pod needs them set, as every real install does.
    ({ cp, webhook } = await startEnvtest({
      namespace: NS,
      values: selfManagedTlsValues('{10.20.0.0/16}'),
      identity: 'admin',
    }));
    core = cp.kc.makeApiClient(CoreV1Api);
    adm = cp.kc.makeApiClient(AdmissionregistrationV1Api);
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
    assert.match(
      r.line(/labelled namespaces/),
      /^\[warn\] labelled namespaces: CHK_NO_LABELLED_NAMESPACE: none/,
    );
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
        /CHK_NAMESPACE_EXCLUDED: injected: shop; labelled but excluded .*realip-system/,
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
    assert.match(
      r.line(/certificate validity/),
      /^\[FAIL\] certificate validity: CHK_CERT_EXPIRING: .*need >= 400/,
    );
  });

  test('a missing webhook configuration fails', () => {
    const r = check('--config-name', 'nope');
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/MutatingWebhookConfiguration "nope"/),
      /^\[FAIL\] .*: CHK_CONFIG_MISSING: not found \(HTTP 404\): .*"nope" not found/,
    );
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
      assert.match(
        r.line(/serving certificate/),
        /^\[FAIL\] serving certificate matches the caBundle: CHK_CA_MISMATCH: /,
      );
      // The API server, trusting that CA, cannot call the webhook either.
      assert.match(
        r.line(/webhook reachable/),
        /^\[FAIL\] webhook reachable: CHK_WEBHOOK_UNREACHABLE: TLS failure: /,
      );
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
        /^\[FAIL\] webhook reachable: CHK_WEBHOOK_UNREACHABLE: (not found \(HTTP 404\)|HTTP error \d+): service proxy \/api\/v1\/namespaces\/realip-system\/services\/https:realip:443\/proxy\/mutate: .+$/,
      );
      assert.equal(r.status, 1, r.out);
    } finally {
      await adm.deleteMutatingWebhookConfiguration({ name: 'realip-svc' });
    }
  });

  test('connection refused: nothing listens at the kubeconfig server', async () => {
    const port = await freeEphemeralPort();
    const r = checkWith(kubeconfigFile('refused', `https://127.0.0.1:${port}`, cp.caPem, cp.token));
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/Kubernetes API/),
      new RegExp(
        `^\\[FAIL\\] Kubernetes API: CHK_API_UNREACHABLE: connection refused: .*127\\.0\\.0\\.1:${port}.*is the API server up`,
      ),
    );
    assert.doesNotMatch(r.out, /fetch failed\s*\(/);
  });

  test('TLS failure: the kubeconfig trusts another CA', () => {
    const r = checkWith(kubeconfigFile('wrong-ca', cp.server, otherCa(), cp.token));
    assert.equal(r.status, 1, r.out);
    assert.match(r.line(/Kubernetes API/), /^\[FAIL\] Kubernetes API: CHK_API_TLS: TLS failure: .*wrong CA/);
  });

  test('401: a token the API server does not know', () => {
    const r = checkWith(kubeconfigFile('bad-token', cp.server, cp.caPem, 'not-a-token'));
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/Kubernetes API/),
      /^\[FAIL\] Kubernetes API: CHK_API_UNAUTHORIZED: unauthorized \(HTTP 401\): .*credentials/,
    );
  });

  test('403: a ServiceAccount without RBAC reaches the API but may read nothing', async () => {
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: 'nobody' } } });
    const r = checkWith(await serviceAccountKubeconfig(cp, NS, 'nobody'));
    assert.equal(r.status, 1, r.out);
    assert.match(r.line(/Kubernetes API/), /^\[ok\]/);
    assert.match(
      r.line(/MutatingWebhookConfiguration/),
      /^\[FAIL\] .*: CHK_FORBIDDEN: forbidden \(HTTP 403\): .*cannot get resource "mutatingwebhookconfigurations"/,
    );
    assert.match(
      r.line(/labelled namespaces/),
      /^\[FAIL\] labelled namespaces: CHK_FORBIDDEN: forbidden \(HTTP 403\): .*namespaces/,
    );
  });

  test('timeout: a server that accepts connections and never answers', async (t) => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((s) => {
      sockets.add(s);
      s.on('error', () => {});
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const started = Date.now();
    const r = await checkAsync(
      kubeconfigFile('silent', `https://127.0.0.1:${port}`, cp.caPem, cp.token),
      '--timeout-ms',
      '700',
    );
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/Kubernetes API/),
      /^\[FAIL\] Kubernetes API: CHK_API_UNREACHABLE: timeout: GET \/version: no answer within 700 ms/,
    );
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  });

  test('edge Services: a port-mode pod behind a NodePort on its app port is bypassed; ipMode and policy advice', async () => {
    await core.createNamespacedPod({
      namespace: 'shop',
      body: {
        metadata: { name: 'api-1', labels: { app: 'api' }, annotations: { 'realip.dev/steering': 'port' } },
        spec: {
          containers: [
            { name: 'api', image: 'registry.invalid/api:1', ports: [{ name: 'http', containerPort: 8080 }] },
          ],
        },
      },
    });
    await core.createNamespacedService({
      namespace: 'shop',
      body: {
        metadata: { name: 'api-edge' },
        spec: {
          type: 'NodePort',
          externalTrafficPolicy: 'Local',
          selector: { app: 'api' },
          ports: [{ name: 'http', port: 80, targetPort: 8080 }],
        },
      },
    });
    await core.createNamespacedService({
      namespace: 'shop',
      body: {
        metadata: { name: 'api-lb' },
        spec: {
          type: 'LoadBalancer',
          selector: { app: 'api' },
          ports: [{ name: 'http', port: 80, targetPort: 'realip-http' }],
        },
      },
    });
    await core.patchNamespacedServiceStatus({
      name: 'api-lb',
      namespace: 'shop',
      body: [
        {
          op: 'add',
          path: '/status/loadBalancer',
          value: { ingress: [{ ip: '203.0.113.10', ipMode: 'Proxy' }] },
        },
      ],
    });
    await core.createNamespacedService({
      namespace: 'shop',
      body: {
        metadata: { name: 'api-vip' },
        spec: {
          type: 'LoadBalancer',
          selector: { app: 'api' },
          ports: [{ name: 'http', port: 80, targetPort: 'realip-http' }],
        },
      },
    });
    await core.patchNamespacedServiceStatus({
      name: 'api-vip',
      namespace: 'shop',
      body: [{ op: 'add', path: '/status/loadBalancer', value: { ingress: [{ ip: '203.0.113.11' }] } }],
    });
    try {
      const r = check();
      assert.match(
        r.line(/edge Service shop\/api-edge/),
        /^\[warn\] edge Service shop\/api-edge \(NodePort\): CHK_SERVICE_BYPASSES_SIDECAR: port 80 -> targetPort 8080: the app's port, but pod api-1 is in port mode: this Service bypasses the sidecar .*; target realip-http; externalTrafficPolicy Local is not needed /,
      );
      assert.match(
        r.line(/edge Service shop\/api-lb/),
        /^\[info\] .*externalTrafficPolicy Cluster: .*nodes' addresses .*trusted CIDRs; ipMode Proxy at 203\.0\.113\.10: the load balancer terminates each connection.*; port 80 -> targetPort realip-http: the sidecar$/,
      );
      assert.match(
        r.line(/edge Service shop\/api-vip/),
        /ipMode VIP at 203\.0\.113\.11: kube-proxy sends in-cluster connections .* without a PROXY header/,
      );
      // Advice and warnings fail nothing.
      assert.equal(r.status, 0, r.out);
    } finally {
      for (const name of ['api-edge', 'api-lb', 'api-vip'])
        await core.deleteNamespacedService({ name, namespace: 'shop' });
      await core.deleteNamespacedPod({ name: 'api-1', namespace: 'shop' });
    }
  });

  test('with the webhook down: unreachable, and the dry-run pod is not injected (failurePolicy Ignore)', async () => {
    await webhook.stop();
    const r = check();
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/serving certificate/),
      /^\[FAIL\] serving certificate matches the caBundle: CHK_CERT_UNAVAILABLE: /,
    );
    assert.match(
      r.line(/webhook reachable/),
      /^\[FAIL\] webhook reachable: CHK_WEBHOOK_UNREACHABLE: connection refused: /,
    );
    assert.match(r.line(/serving certificate/), /connection refused/);
    assert.match(
      r.line(/dry-run/),
      /^\[FAIL\] dry-run pod is injected: CHK_NOT_INJECTED: .*no realip-sidecar/,
    );
    assert.match(r.out, /realip check: CHK_FAILED: \d+ check\(s\) failed \(.*CHK_WEBHOOK_UNREACHABLE.*\)/);
  });

  test('the API server down: connection refused, named', async () => {
    // stop() removes the control plane's directory, kubeconfig included: keep a copy.
    const kubeconfig = join(mkdtempSync(join(tmpdir(), 'realip-check-')), 'kubeconfig.yaml');
    copyFileSync(cp.kubeconfigPath, kubeconfig);
    await cp.stop();
    const r = checkWith(kubeconfig);
    assert.equal(r.status, 1, r.out);
    assert.match(
      r.line(/Kubernetes API/),
      /^\[FAIL\] Kubernetes API: CHK_API_UNREACHABLE: connection refused: /,
    );
  });
});
