/**
 * The envtest set-up the k8s-* suites share: the chart rendered and applied on a real control plane
 * with the MutatingWebhookConfiguration pointed at a local `realip webhook`. The webhook's port is
 * known only once it listens, and the configuration must exist before it starts (self-managed TLS
 * patches its caBundle): so render with a placeholder URL, apply, start the webhook with the
 * chart's environment, then point the URL at it.
 */
import { AdmissionregistrationV1Api, CoreV1Api } from '@kubernetes/client-node';
import {
  applyChartObjects,
  type ControlPlane,
  chartWebhookEnv,
  helmTemplate,
  type RunningWebhook,
  serviceAccountKubeconfig,
  startControlPlane,
  startRealipWebhook,
} from './k8s.ts';

export interface ChartWebhookOptions {
  /** The release namespace, created here; the webhook's REALIP_WEBHOOK_NAMESPACE (a fieldRef in the chart). */
  readonly namespace: string;
  /** The Helm release, also the name of its ServiceAccount and MutatingWebhookConfiguration. */
  readonly release?: string;
  /** `--set` / `--set-file` arguments of the suite; the placeholder URL is added here. */
  readonly values: readonly string[];
  /** Whose token the webhook uses: the chart's ServiceAccount (its RBAC for real) or the admin's. */
  readonly identity: 'chart-service-account' | 'admin';
  /** Environment over the chart's (e.g. where the certificate files are mounted). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface ChartWebhook {
  /** The render that was applied (the chart's environment can be read from it). */
  readonly rendered: string;
  readonly webhook: RunningWebhook;
}

export async function startChartWebhook(cp: ControlPlane, o: ChartWebhookOptions): Promise<ChartWebhook> {
  const release = o.release ?? 'realip';
  await cp.kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: o.namespace } } });
  const rendered = helmTemplate(['--set', 'webhook.url=https://127.0.0.1:1/mutate', ...o.values], {
    release,
    namespace: o.namespace,
  });
  await applyChartObjects(cp, rendered);
  const kubeconfig =
    o.identity === 'admin' ? cp.kubeconfigPath : await serviceAccountKubeconfig(cp, o.namespace, release);
  const webhook = await startRealipWebhook(
    {
      ...chartWebhookEnv(rendered),
      REALIP_WEBHOOK_NAMESPACE: o.namespace,
      ...o.env,
      KUBECONFIG: kubeconfig,
      REALIP_LOG_LEVEL: 'warn',
    },
    cp.dir,
  );
  try {
    await cp.kc.makeApiClient(AdmissionregistrationV1Api).patchMutatingWebhookConfiguration({
      name: release,
      body: [{ op: 'replace', path: '/webhooks/0/clientConfig/url', value: webhook.url }],
    });
  } catch (err) {
    await webhook.stop();
    throw err;
  }
  return { rendered, webhook };
}

export interface Envtest extends ChartWebhook {
  readonly cp: ControlPlane;
}

/**
 * A control plane with the chart's webhook on it. `options` may be a function of the control plane
 * (to write files into cp.dir first). On a failure it stops what it started, so a suite's after()
 * only has to stop what it was given.
 */
export async function startEnvtest(
  options: ChartWebhookOptions | ((cp: ControlPlane) => ChartWebhookOptions),
): Promise<Envtest> {
  const cp = await startControlPlane();
  try {
    const o = typeof options === 'function' ? options(cp) : options;
    return { cp, ...(await startChartWebhook(cp, o)) };
  } catch (err) {
    await cp.stop();
    throw err;
  }
}

/**
 * The values every self-managed-TLS suite sets: the trusted CIDRs (with none a redirect-mode pod
 * is skipped, INJ_SKIP_NO_TRUSTED_SOURCES) and 127.0.0.1 in the webhook's own certificate (the API
 * server calls it there).
 */
export function selfManagedTlsValues(trustedCidrs: string): string[] {
  return ['--set', `injection.trustedCidrs=${trustedCidrs}`, '--set', 'tls.extraSans={127.0.0.1}'];
}
