// The chart's `tls.mode=secret` path on a real kube-apiserver: the caBundle the chart writes from
// the `tls.caBundle` value is what the API server trusts, and the webhook serves the mounted
// certificate files (REALIP_TLS_MODE=files), reloading them when they are renewed.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { SIDECAR_CONTAINER } from '../../common/contract.ts';
import { type ControlPlane, chartWebhookEnv, type RunningWebhook } from '../support/k8s.ts';
import { startEnvtest } from '../support/envtest.ts';

const NS = 'realip-files';

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

/** A CA, and a serving certificate for 127.0.0.1 signed by it (what an operator brings). */
function makeCa(dir: string): void {
  openssl(
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      join(dir, 'ca.key'),
      '-out',
      join(dir, 'ca.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=operator-ca',
    ]),
  );
}
function makeLeaf(dir: string, name: string): void {
  openssl(
    ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'].concat([
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      join(dir, `${name}.csr`),
      '-subj',
      `/CN=${name}`,
    ]),
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl(
    ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', join(dir, 'ca.pem')].concat([
      '-CAkey',
      join(dir, 'ca.key'),
      '-CAcreateserial',
      '-out',
      join(dir, `${name}.pem`),
      '-days',
      '1',
      '-extfile',
      join(dir, 'san.ext'),
    ]),
  );
}

function app(name: string): V1Pod {
  return {
    metadata: { name },
    spec: {
      containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  };
}

describe('tls.mode=secret on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  let webhook: RunningWebhook;

  before(async () => {
    const started = await startEnvtest((cp) => {
      makeCa(cp.dir);
      makeLeaf(cp.dir, 'first');
      // The files the Deployment would mount from the Secret.
      writeFileSync(join(cp.dir, 'tls.crt'), readFileSync(join(cp.dir, 'first.pem')));
      writeFileSync(join(cp.dir, 'tls.key'), readFileSync(join(cp.dir, 'first.key')));
      return {
        namespace: NS,
        release: NS,
        values: [
          '--set',
          'tls.mode=secret',
          '--set',
          'tls.secretName=operator-tls',
          '--set-file',
          `tls.caBundle=${join(cp.dir, 'ca.pem')}`,
          '--set',
          'webhook.failurePolicy=Fail',
          // Issue 13: without trusted CIDRs a redirect-mode pod is skipped (nothing may be steered).
          '--set',
          'injection.trustedCidrs={10.20.0.0/16}',
        ],
        // Files mode needs the API only for the version: the chart's ClusterRole grants just that.
        identity: 'chart-service-account',
        env: {
          // Where the chart mounts the Secret, here in the test's directory.
          REALIP_TLS_CERT_FILE: join(cp.dir, 'tls.crt'),
          REALIP_TLS_KEY_FILE: join(cp.dir, 'tls.key'),
          REALIP_TLS_POLL_INTERVAL_MS: '200',
        },
      };
    });
    ({ cp, webhook } = started);
    core = cp.kc.makeApiClient(CoreV1Api);
    // The chart chose files mode (checked once the webhook serves, which it did with these files).
    assert.equal(chartWebhookEnv(started.rendered).REALIP_TLS_MODE, 'files');
    await core.createNamespace({
      body: { metadata: { name: 'shop', labels: { 'realip.dev/inject': 'enabled' } } },
    });
  });
  after(async () => {
    await webhook?.stop();
    await cp?.stop();
  });

  test('the API server trusts the webhook through the caBundle the chart wrote', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'shop', body: app('first') });
    const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
    assert.equal(names.filter((n) => n === SIDECAR_CONTAINER).length, 1, names.join(','));
  });

  test('a renewed certificate (same CA) is picked up without a restart', async () => {
    const reloads = async () => {
      const text = await (await fetch(`http://127.0.0.1:${webhook.metricsPort}/metrics`)).text();
      return Number(/^realip_webhook_tls_reloads_total(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1] ?? '0');
    };
    const before = await reloads();
    makeLeaf(cp.dir, 'second');
    // As the kubelet updates a Secret volume: new files swapped in atomically.
    writeFileSync(join(cp.dir, 'tls.key.new'), readFileSync(join(cp.dir, 'second.key')));
    writeFileSync(join(cp.dir, 'tls.crt.new'), readFileSync(join(cp.dir, 'second.pem')));
    renameSync(join(cp.dir, 'tls.key.new'), join(cp.dir, 'tls.key'));
    renameSync(join(cp.dir, 'tls.crt.new'), join(cp.dir, 'tls.crt'));
    const deadline = Date.now() + 15_000;
    while ((await reloads()) <= before) {
      assert.ok(Date.now() < deadline, 'the webhook never reloaded the renewed certificate');
      await new Promise((r) => setTimeout(r, 100));
    }
    const pod = await core.createNamespacedPod({ namespace: 'shop', body: app('second') });
    assert.ok(pod.spec?.initContainers?.some((c) => c.name === SIDECAR_CONTAINER));
  });
});
