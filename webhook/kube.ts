/**
 * The webhook's Kubernetes calls, through @kubernetes/client-node: the KubeCertApi used by
 * self-managed TLS, and the API server version that decides `--native-sidecar auto`.
 * The kubeconfig comes from KubeConfig.loadFromDefault() (KUBECONFIG, ~/.kube/config or in-cluster).
 */
import {
  AdmissionregistrationV1Api,
  ApiException,
  CoreV1Api,
  EventsV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type V1Secret,
  VersionApi,
} from '@kubernetes/client-node';
import { RealipError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { NamespaceView } from './admission/namespace.ts';
import type { CertBundle } from './certs.ts';
import type { EventSender } from './events.ts';
import type { ServerSupport } from './config.ts';
import type { KubeCertApi, StoredSecret } from './self-managed.ts';

export function loadKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err: unknown) {
    const why = err instanceof Error ? err.message : String(err);
    throw new RealipError('WH_KUBECONFIG_INVALID', `cannot load the kubeconfig: ${why}`, { cause: err });
  }
  return kc;
}

/** loadFromDefault() falls back to http://localhost:8080 when it finds nothing: no API access. */
export function isFallbackConfig(kc: KubeConfig): boolean {
  return kc.getCurrentCluster()?.server === 'http://localhost:8080' && kc.getCurrentUser()?.name === 'user';
}

export type NamespaceLookup = (name: string) => Promise<NamespaceView>;

/**
 * Reads Namespace objects for the decision (labels: Pod Security, meshes; annotations: the
 * namespace's realip.dev/ports), cached for `ttlMs` so a burst of pods costs one GET. A failure or
 * a slow answer is `unreadable` (the decision then assumes Pod Security "restricted"), cached for a
 * shorter time so an outage does not add the timeout to every admission.
 */
export function namespaceLookup(
  kc: KubeConfig,
  log: Logger,
  opts: { ttlMs?: number; failureTtlMs?: number; timeoutMs?: number; now?: () => number } = {},
): NamespaceLookup {
  const core = kc.makeApiClient(CoreV1Api);
  const ttlMs = opts.ttlMs ?? 30_000;
  const failureTtlMs = opts.failureTtlMs ?? 5_000;
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const now = opts.now ?? Date.now;
  const cache = new Map<string, { view: NamespaceView; until: number }>();
  return async (name) => {
    const hit = cache.get(name);
    if (hit !== undefined && hit.until > now()) return hit.view;
    let view: NamespaceView;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      });
      const ns = await Promise.race([core.readNamespace({ name }), timeout]);
      view = {
        state: 'known',
        ns: { name, labels: ns.metadata?.labels ?? {}, annotations: ns.metadata?.annotations ?? {} },
      };
    } catch (err: unknown) {
      const problem = err instanceof Error ? err.message.split('\n')[0]! : String(err);
      log.warn(
        { namespace: name, err: problem },
        'cannot read the namespace; assuming pod security restricted',
      );
      view = { state: 'unreadable', problem: `GET namespace ${name}: ${problem.slice(0, 120)}` };
    } finally {
      clearTimeout(timer);
    }
    cache.set(name, { view, until: now() + (view.state === 'known' ? ttlMs : failureTtlMs) });
    if (cache.size > 10_000) cache.delete(cache.keys().next().value as string);
    return view;
  };
}

/**
 * Creates events.k8s.io/v1 Events (the chart grants `create` on them, nothing else). Named by
 * generateName: each is a new object, so no read or patch is needed.
 */
export function kubeEventSender(kc: KubeConfig, instance: string): EventSender {
  const api = kc.makeApiClient(EventsV1Api);
  return async (e) => {
    await api.createNamespacedEvent({
      namespace: e.namespace,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { generateName: 'realip-', namespace: e.namespace },
        eventTime: new V1MicroTime(),
        reportingController: 'realip.dev/webhook',
        reportingInstance: instance.slice(0, 128),
        action: 'Admit',
        reason: e.reason,
        type: e.type,
        note: e.note,
        regarding: { ...e.regarding },
      },
    });
  };
}

function statusOf(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s === undefined ? '' : Buffer.from(s, 'base64').toString('utf8'));

function secretBody(namespace: string, name: string, bundle: CertBundle, resourceVersion?: string): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { 'app.kubernetes.io/managed-by': 'realip-webhook' },
      ...(resourceVersion !== undefined ? { resourceVersion } : {}),
    },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': b64(bundle.cert), 'tls.key': b64(bundle.key), 'ca.crt': b64(bundle.ca) },
  };
}

export function kubeCertApi(kc: KubeConfig): KubeCertApi {
  const core = kc.makeApiClient(CoreV1Api);
  const adm = kc.makeApiClient(AdmissionregistrationV1Api);
  return {
    async readSecret(namespace, name): Promise<StoredSecret | undefined> {
      try {
        const s = await core.readNamespacedSecret({ name, namespace });
        const d = s.data ?? {};
        return {
          bundle: { cert: unb64(d['tls.crt']), key: unb64(d['tls.key']), ca: unb64(d['ca.crt']) },
          resourceVersion: s.metadata?.resourceVersion ?? '',
        };
      } catch (err: unknown) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    async createSecret(namespace, name, bundle) {
      try {
        await core.createNamespacedSecret({ namespace, body: secretBody(namespace, name, bundle) });
        return true;
      } catch (err: unknown) {
        if (statusOf(err) === 409) return false;
        throw err;
      }
    },
    async replaceSecret(namespace, name, bundle, resourceVersion) {
      try {
        // Keep what we do not own (type, labels, annotations of a Secret the chart pre-created):
        // a Secret's type is immutable, so a replace must carry the existing one.
        const current = await core.readNamespacedSecret({ name, namespace });
        const fresh = secretBody(namespace, name, bundle, resourceVersion);
        const body: V1Secret = {
          ...current,
          metadata: { ...current.metadata, resourceVersion },
          data: { ...(current.data ?? {}), ...fresh.data },
        };
        await core.replaceNamespacedSecret({ name, namespace, body });
        return true;
      } catch (err: unknown) {
        if (statusOf(err) === 409) return false;
        throw err;
      }
    },
    async readCaBundles(configName) {
      const cfg = await adm.readMutatingWebhookConfiguration({ name: configName });
      return (cfg.webhooks ?? []).map((w) => unb64(w.clientConfig.caBundle));
    },
    async patchCaBundles(configName, caPem) {
      const cfg = await adm.readMutatingWebhookConfiguration({ name: configName });
      const count = (cfg.webhooks ?? []).length;
      const ops: object[] = [];
      for (let i = 0; i < count; i++) {
        ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: b64(caPem) });
      }
      await adm.patchMutatingWebhookConfiguration(
        { name: configName, body: ops },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
    },
  };
}

function atLeast(major: string, minor: string, wantMinor: number): boolean {
  const ma = Number.parseInt(major, 10);
  const mi = Number.parseInt(minor, 10); // "29+" on some distributions
  if (!Number.isFinite(ma) || !Number.isFinite(mi)) return false;
  return ma > 1 || (ma === 1 && mi >= wantMinor);
}

/** Native sidecars (restartable init containers) are on by default from Kubernetes 1.29. */
export function supportsNativeSidecar(major: string, minor: string): boolean {
  return atLeast(major, minor, 29);
}

/** EndpointSlices resolve named ports declared on native sidecars from 1.32 (kubernetes#127976). */
export function resolvesSidecarNamedPorts(major: string, minor: string): boolean {
  return atLeast(major, minor, 32);
}

/**
 * Reads the API server version once (at start) for `--native-sidecar auto`. Anything but a clear
 * answer within the timeout means off: a regular sidecar works everywhere.
 */
export async function detectNativeSidecar(
  kc: KubeConfig,
  log: Logger,
  timeoutMs = 5000,
): Promise<ServerSupport> {
  try {
    const api = kc.makeApiClient(VersionApi);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const info = await Promise.race([api.getCode(), timeout]).finally(() => clearTimeout(timer));
    const support = {
      nativeSidecar: supportsNativeSidecar(info.major, info.minor),
      nativeSidecarNamedPorts: resolvesSidecarNamedPorts(info.major, info.minor),
    };
    log.info({ gitVersion: info.gitVersion, ...support }, 'api server version read');
    return support;
  } catch (err: unknown) {
    log.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'cannot read the api server version; native sidecars off',
    );
    return { nativeSidecar: false, nativeSidecarNamedPorts: false };
  }
}
