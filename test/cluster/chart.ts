/**
 * The chart as a user installs it, with the images this suite built (no registry: pullPolicy Never).
 * Trusted CIDRs: kube-proxy source-NATs NodePort traffic to the node's pod-bridge address (cni0),
 * and the edge reaches the node from the node network.
 */
import { clusterEnv, helm, kubectl, kubectlOk, REPO, waitFor } from './cluster.ts';

export const RELEASE = 'realip';
export const RELEASE_NS = 'realip-system';
export const SIDECAR_IMAGE = 'localhost/realip/realip-sidecar:test';
export const WEBHOOK_IMAGE = 'localhost/realip/realip-webhook:test';
export const APPS_IMAGE = 'localhost/realip-test/apps:1';

export function chartValues(extra: readonly string[] = []): string[] {
  const e = clusterEnv();
  return [
    '--set',
    'image.repository=localhost/realip/realip-webhook',
    '--set',
    'image.tag=test',
    '--set',
    'image.pullPolicy=Never',
    '--set',
    'injection.sidecar.image.repository=localhost/realip/realip-sidecar',
    '--set',
    'injection.sidecar.image.tag=test',
    '--set',
    'injection.sidecar.image.pullPolicy=Never',
    '--set',
    `injection.trustedCidrs={${e.POD_GATEWAY}/32,${e.NODE_IP.replace(/\.\d+$/, '.0')}/24}`,
    ...extra,
  ];
}

/** helm upgrade --install, waiting for the webhook Deployment to be Ready. */
export async function installChart(extra: readonly string[] = []): Promise<void> {
  const r = await helm(
    [
      'upgrade',
      '--install',
      RELEASE,
      `${REPO}charts/realip`,
      '--namespace',
      RELEASE_NS,
      '--create-namespace',
      '--wait',
      '--timeout',
      '4m',
      ...chartValues(extra),
    ],
    { timeoutMs: 300_000 },
  );
  if (r.code !== 0) {
    const pods = await kubectlOk(['get', 'pods', '-A', '-o', 'wide']).catch((e: unknown) => String(e));
    throw new Error(`helm install failed (${r.code}): ${r.stderr}\n${pods}`);
  }
  await waitForSteadyInjection();
}

const PROBE_NS = 'realip-probe';

/**
 * `helm --wait` returns once the new webhook pods are Ready, but while the old ones terminate the
 * Service may still route an admission to one of them for a moment (kube-proxy syncs behind the
 * EndpointSlice): with failurePolicy Ignore that pod is created without the sidecar, as it would
 * be in any cluster during a webhook rollout. The scenarios need the new release serving, so wait
 * until five server-side dry-run pods in a row are injected.
 */
async function waitForSteadyInjection(): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: PROBE_NS, labels: { 'realip.dev/inject': 'enabled' } },
    }),
  });
  const pod = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', namespace: PROBE_NS },
    spec: {
      containers: [{ name: 'web', image: APPS_IMAGE, ports: [{ name: 'http', containerPort: 8080 }] }],
    },
  });
  let streak = 0;
  await waitFor(
    'the webhook release serving every admission',
    async () => {
      const r = await kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], { input: pod });
      streak = r.code === 0 && r.stdout.includes('"realip-sidecar"') ? streak + 1 : 0;
      return streak >= 5 ? true : undefined;
    },
    120_000,
    300,
  );
}
