/**
 * `realip check`: is everything in place? Each check returns a result line (pass, fail, warn or
 * skip) with a stable CHK_ code on anything not passing, like `linkerd check`. The checks run in
 * order and a later one is skipped when what it needs failed earlier.
 *
 * Inputs come in (KubeConfig, options, clock), output is data: the command file prints it.
 */
import { randomUUID, type X509Certificate } from 'node:crypto';
import { request } from 'node:https';
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  type KubeConfig,
  type V1LabelSelector,
  type V1MutatingWebhook,
  type V1Pod,
  type V1Service,
  VersionApi,
} from '@kubernetes/client-node';
import type { CodeOf } from '../../common/error-codes/registry.ts';
import { Annotations, INJECT_LABEL, INJECT_LABEL_VALUE, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { allowsNetAdmin, meshOf, type PodSecurityLevel, podSecurityLevel } from '../admission/namespace.ts';
import { failureOf, kubeconfigHint, TimeoutError, withTimeout } from './cause.ts';
import { serviceAdvice } from './services.ts';
import { daysLeft, fetchServedCertificate, parseBundle, verifyAgainstBundle } from './served-cert.ts';

/** `info`: advice that fails nothing (edge Services). */
export type Status = 'pass' | 'fail' | 'warn' | 'skip' | 'info';

export interface CheckResult {
  readonly id: string;
  readonly status: Status;
  readonly title: string;
  readonly detail: string;
  /** A CHK_ code on fail and warn (documented in docs/errors.md). */
  readonly code?: CodeOf<'CHK'>;
}

export interface CheckOptions {
  readonly kc: KubeConfig;
  readonly configName: string;
  /** Overrides where the webhook is reached (e.g. through `kubectl port-forward`). */
  readonly webhookUrl: string | undefined;
  /** Secret with the serving certificate when it cannot be read off a connection. */
  readonly tlsSecretName: string | undefined;
  /** Namespace for the dry-run pod; default: the first labelled namespace the webhook selects. */
  readonly dryRunNamespace: string | undefined;
  readonly minValidityDays: number;
  readonly timeoutMs: number;
  readonly now: () => Date;
}

const WEBHOOK_NAME = 'inject.realip.dev';

/** The cause first (connection refused, TLS failure, 401/403, not found, timeout), then the detail. */
function errText(err: unknown): string {
  return failureOf(err).text;
}

/** The code of a failed API call: RBAC and credentials have their own, the rest the check's. */
function kubeCode(err: unknown, otherwise: CodeOf<'CHK'>): CodeOf<'CHK'> {
  const f = failureOf(err);
  if (f.status === 403) return 'CHK_FORBIDDEN';
  if (f.status === 401) return 'CHK_API_UNAUTHORIZED';
  return otherwise;
}

/** Does a label set match a LabelSelector (matchLabels and matchExpressions)? */
export function selectorMatches(sel: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, e.key);
    const value = labels[e.key];
    const values = e.values ?? [];
    const ok =
      e.operator === 'In'
        ? has && values.includes(value!)
        : e.operator === 'NotIn'
          ? !has || !values.includes(value!)
          : e.operator === 'Exists'
            ? has
            : e.operator === 'DoesNotExist'
              ? !has
              : false;
    if (!ok) return false;
  }
  return true;
}

function skipReasons(status: string | undefined): string | undefined {
  if (status === undefined) return undefined;
  try {
    const s = JSON.parse(status) as { injected?: unknown; reasons?: unknown };
    return s.injected === false && Array.isArray(s.reasons) ? s.reasons.join(', ') : undefined;
  } catch {
    return undefined;
  }
}

/** What injection does in a namespace, from the labels the webhook reads (namespace.ts). */
export function namespaceBehaviour(ns: {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}): { level: PodSecurityLevel; text: string } {
  const view = { state: 'known' as const, ns };
  const level = podSecurityLevel(view);
  const mesh = meshOf({ metadata: {}, spec: { containers: [] } }, view);
  const what =
    mesh !== undefined
      ? `pods skipped (${mesh.mesh} injection is on)`
      : allowsNetAdmin(level)
        ? 'redirect mode as configured'
        : 'port mode (no init container, no transparent listeners)';
  return { level, text: `${ns.name}: ${level}, ${what}` };
}

function podSecurityCheck(
  namespaces: { name: string; labels: Record<string, string>; annotations: Record<string, string> }[],
): CheckResult {
  const rows = namespaces.map(namespaceBehaviour);
  const restricted = rows.some((r) => !allowsNetAdmin(r.level));
  return {
    id: 'pod-security',
    status: restricted ? 'warn' : 'pass',
    title: 'Pod Security enforcement',
    detail: rows.length === 0 ? 'no injected namespace' : rows.map((r) => r.text).join('; '),
    ...(restricted ? { code: 'CHK_POD_SECURITY_PORT_MODE' } : {}),
  };
}

/**
 * A harmless pod: one container with a named HTTP port, which the webhook would intercept. It
 * complies with Pod Security `restricted`, so in any namespace only what realip adds can fail it.
 */
export function probePod(namespace: string): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `realip-check-${randomUUID().slice(0, 8)}`,
      namespace,
      labels: { app: 'realip-check' },
    },
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'app',
          image: 'registry.invalid/realip-check:0',
          ports: [{ name: 'http', containerPort: 8080 }],
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    },
  };
}

function review(namespace: string) {
  const uid = randomUUID();
  return {
    uid,
    body: JSON.stringify({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid,
        kind: { group: '', version: 'v1', kind: 'Pod' },
        resource: { group: '', version: 'v1', resource: 'pods' },
        requestKind: { group: '', version: 'v1', kind: 'Pod' },
        requestResource: { group: '', version: 'v1', resource: 'pods' },
        namespace,
        operation: 'CREATE',
        userInfo: { username: 'realip-check' },
        object: probePod(namespace),
        dryRun: true,
        options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions', dryRun: ['All'] },
      },
    }),
  };
}

function post(
  url: URL,
  body: string,
  opts: { ca?: string; servername?: string; extra?: object },
  timeoutMs: number,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        timeout: timeoutMs,
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
        ...opts.extra,
        method: 'POST',
        // Merged, not replaced: the kubeconfig's options carry their own headers (Authorization),
        // and the webhook refuses a body without its content type (415).
        headers: {
          ...(opts.extra as { headers?: Record<string, string> } | undefined)?.headers,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('timeout', () => req.destroy(new TimeoutError(`POST ${url.pathname}`, timeoutMs)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Where the API server would call the webhook, and the name it checks the certificate against. */
interface Endpoint {
  readonly url: URL | undefined;
  readonly serverName: string;
  readonly service: { name: string; namespace: string; port: number; path: string } | undefined;
}

function endpointOf(wh: V1MutatingWebhook, override: string | undefined): Endpoint {
  const svc = wh.clientConfig.service;
  const service = svc
    ? { name: svc.name, namespace: svc.namespace, port: svc.port ?? 443, path: svc.path ?? '/' }
    : undefined;
  const configured = wh.clientConfig.url ? new URL(wh.clientConfig.url) : undefined;
  const serverName = service ? `${service.name}.${service.namespace}.svc` : (configured?.hostname ?? '');
  return {
    url: override ? new URL(override) : configured,
    serverName: serverName.replace(/^\[|\]$/g, ''),
    service,
  };
}

export async function runChecks(o: CheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const add = (r: CheckResult) => {
    // One line per check, whatever an error text contains.
    results.push({ ...r, detail: r.detail.replace(/\s*\n\s*/g, ' ').trim() });
    return r.status;
  };
  const skipRest = (ids: [string, string][], why: string) => {
    for (const [id, title] of ids) add({ id, status: 'skip', title, detail: why });
  };

  // 1. The API server.
  try {
    const v = await withTimeout('GET /version', o.timeoutMs, o.kc.makeApiClient(VersionApi).getCode());
    add({
      id: 'api',
      status: 'pass',
      title: 'Kubernetes API',
      detail: `${v.gitVersion} at ${o.kc.getCurrentCluster()?.server}`,
    });
  } catch (err: unknown) {
    const f = failureOf(err);
    const server = o.kc.getCurrentCluster()?.server;
    const hint = kubeconfigHint(f, server);
    add({
      id: 'api',
      status: 'fail',
      title: 'Kubernetes API',
      detail: `${f.text}${hint !== '' ? ` (${hint})` : ''}`,
      code:
        f.cause === 'TLS failure'
          ? 'CHK_API_TLS'
          : f.status === 401
            ? 'CHK_API_UNAUTHORIZED'
            : f.status !== undefined
              ? kubeCode(err, 'CHK_API_ERROR')
              : 'CHK_API_UNREACHABLE',
    });
    return results;
  }

  // 2. The webhook configuration.
  const later: [string, string][] = [
    ['ca-bundle', 'caBundle'],
    ['cert', 'serving certificate matches the caBundle'],
    ['cert-validity', 'certificate validity'],
    ['reachable', 'webhook reachable'],
  ];
  let wh: V1MutatingWebhook | undefined;
  try {
    const cfg = await withTimeout(
      'GET mutatingwebhookconfiguration',
      o.timeoutMs,
      o.kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: o.configName }),
    );
    wh = cfg.webhooks?.find((w) => w.name === WEBHOOK_NAME) ?? cfg.webhooks?.[0];
    if (!wh) throw new Error('it has no webhooks');
    const where =
      wh.clientConfig.url ?? `service ${wh.clientConfig.service?.namespace}/${wh.clientConfig.service?.name}`;
    add({
      id: 'config',
      status: 'pass',
      title: `MutatingWebhookConfiguration "${o.configName}"`,
      detail: `${wh.name} -> ${where}; failurePolicy ${wh.failurePolicy}, timeout ${wh.timeoutSeconds}s`,
    });
  } catch (err: unknown) {
    add({
      id: 'config',
      status: 'fail',
      title: `MutatingWebhookConfiguration "${o.configName}"`,
      detail:
        failureOf(err).status === 403
          ? `${errText(err)} (the kubeconfig's user may not read it: realip check needs get on mutatingwebhookconfigurations)`
          : `${errText(err)} (installed with "helm install"? the name is the release's full name)`,
      code: kubeCode(err, 'CHK_CONFIG_MISSING'),
    });
    skipRest(later, 'no webhook configuration');
    await namespaceChecks(o, undefined, add);
    return results;
  }

  // 3. caBundle.
  const caPem = Buffer.from(wh.clientConfig.caBundle ?? '', 'base64').toString('utf8');
  let bundle: X509Certificate[] = [];
  try {
    bundle = parseBundle(caPem);
  } catch (err: unknown) {
    bundle = [];
    add({
      id: 'ca-bundle',
      status: 'fail',
      title: 'caBundle',
      detail: `does not parse: ${errText(err)}`,
      code: 'CHK_CA_BUNDLE_MISSING',
    });
  }
  if (results.at(-1)?.id !== 'ca-bundle') {
    if (bundle.length === 0) {
      add({
        id: 'ca-bundle',
        status: 'fail',
        title: 'caBundle',
        detail:
          'empty: the API server cannot trust the webhook (self-managed mode: is the webhook running? cert-manager: is cainjector?)',
        code: 'CHK_CA_BUNDLE_MISSING',
      });
    } else {
      add({
        id: 'ca-bundle',
        status: 'pass',
        title: 'caBundle',
        detail: bundle.map((c) => c.subject.replace(/\n/g, ', ')).join('; '),
      });
    }
  }

  // 4. The serving certificate: off a connection when we can dial the webhook, else from its Secret.
  const ep = endpointOf(wh, o.webhookUrl);
  let leaf: X509Certificate | undefined;
  let certProblem: string | undefined;
  let source = '';
  try {
    if (ep.url) {
      const port = Number(ep.url.port || 443);
      const served = await fetchServedCertificate(
        ep.url.hostname.replace(/^\[|\]$/g, ''),
        port,
        ep.serverName,
        caPem,
        o.timeoutMs,
      );
      leaf = served.leaf;
      certProblem = bundle.length === 0 ? 'no caBundle to verify against' : served.verifyError;
      source = `served at ${ep.url.host}`;
    } else if (ep.service) {
      const name = o.tlsSecretName ?? `${ep.service.name}-tls`;
      const secret = await withTimeout(
        'GET secret',
        o.timeoutMs,
        o.kc.makeApiClient(CoreV1Api).readNamespacedSecret({ name, namespace: ep.service.namespace }),
      );
      const crt = Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString('utf8');
      leaf = parseBundle(crt)[0];
      if (!leaf) throw new Error(`Secret ${ep.service.namespace}/${name} has no tls.crt`);
      certProblem = verifyAgainstBundle(leaf, bundle, ep.serverName);
      source = `Secret ${ep.service.namespace}/${name}`;
    }
  } catch (err: unknown) {
    certProblem = `cannot get the serving certificate: ${errText(err)}`;
  }
  if (!leaf) {
    add({
      id: 'cert',
      status: 'fail',
      title: 'serving certificate matches the caBundle',
      detail: certProblem ?? 'no endpoint',
      code: 'CHK_CERT_UNAVAILABLE',
    });
    add({ id: 'cert-validity', status: 'skip', title: 'certificate validity', detail: 'no certificate' });
  } else {
    add(
      certProblem === undefined
        ? {
            id: 'cert',
            status: 'pass',
            title: 'serving certificate matches the caBundle',
            detail: `${source}, valid for ${ep.serverName}`,
          }
        : {
            id: 'cert',
            status: 'fail',
            title: 'serving certificate matches the caBundle',
            detail: `${source}: ${certProblem}`,
            code: 'CHK_CA_MISMATCH',
          },
    );
    const days = daysLeft(leaf, o.now());
    add(
      days >= o.minValidityDays
        ? {
            id: 'cert-validity',
            status: 'pass',
            title: 'certificate validity',
            detail: `${Math.floor(days)} days left (until ${leaf.validTo})`,
          }
        : {
            id: 'cert-validity',
            status: 'fail',
            title: 'certificate validity',
            detail: `${days < 0 ? 'expired' : `${Math.floor(days)} days left`} (until ${leaf.validTo}); need >= ${o.minValidityDays}`,
            code: 'CHK_CERT_EXPIRING',
          },
    );
  }

  // 5. Reachability: a real AdmissionReview, answered with our uid.
  await reachability(o, ep, caPem, add);

  // 6 and 7. Namespaces and a dry-run pod.
  await namespaceChecks(o, wh, add);
  return results;
}

async function reachability(o: CheckOptions, ep: Endpoint, caPem: string, add: (r: CheckResult) => Status) {
  const title = 'webhook reachable';
  const r = review('realip-check');
  try {
    let res: { status: number; body: string };
    let via: string;
    if (ep.url) {
      // SNI and the name check use the name the API server would use (an IP is checked as the host).
      const byName = !/^[0-9.]+$|:/.test(ep.serverName);
      res = await post(
        ep.url,
        r.body,
        { ca: caPem, ...(byName ? { servername: ep.serverName } : {}) },
        o.timeoutMs,
      );
      via = ep.url.toString();
    } else {
      // Through the API server's service proxy: the same Service the API server calls.
      const s = ep.service!;
      const cluster = o.kc.getCurrentCluster();
      const url = new URL(
        `/api/v1/namespaces/${s.namespace}/services/https:${s.name}:${s.port}/proxy${s.path}`,
        cluster?.server,
      );
      const extra: Record<string, unknown> = {};
      await o.kc.applyToHTTPSOptions(extra);
      res = await post(url, r.body, { extra }, o.timeoutMs);
      via = `service proxy ${url.pathname}`;
    }
    let answer: { response?: { uid?: string; allowed?: boolean }; message?: string } = {};
    try {
      answer = JSON.parse(res.body) as typeof answer;
    } catch {
      // not JSON: reported below
    }
    if (res.status !== 200 || answer.response?.uid !== r.uid) {
      // A Status from the API server's proxy carries a message; anything else, its first bytes.
      throw new Error(`${via}: ${answer.message ?? `HTTP ${res.status}: ${res.body.slice(0, 200)}`}`, {
        cause: { code: res.status, body: res.body },
      });
    }
    add({
      id: 'reachable',
      status: 'pass',
      title,
      detail: `${via} answered an AdmissionReview (allowed: ${answer.response.allowed})`,
    });
  } catch (err: unknown) {
    const f = failureOf(err);
    // An answer that is not ours: its status names the cause, our message says where it came from.
    const detail =
      f.status !== undefined && err instanceof Error
        ? `${f.cause}${f.cause === 'HTTP error' ? ` ${f.status}` : ''}: ${err.message}`
        : f.text;
    add({
      id: 'reachable',
      status: 'fail',
      title,
      detail,
      code: 'CHK_WEBHOOK_UNREACHABLE',
    });
  }
}

async function namespaceChecks(
  o: CheckOptions,
  wh: V1MutatingWebhook | undefined,
  add: (r: CheckResult) => Status,
) {
  const core = o.kc.makeApiClient(CoreV1Api);
  let selected: string[] = [];
  try {
    const list = await withTimeout(
      'GET namespaces',
      o.timeoutMs,
      core.listNamespace({ labelSelector: `${INJECT_LABEL}=${INJECT_LABEL_VALUE}` }),
    );
    const labelled = list.items.map((n) => ({
      name: n.metadata?.name ?? '',
      labels: n.metadata?.labels ?? {},
      annotations: n.metadata?.annotations ?? {},
    }));
    selected = labelled.filter((n) => selectorMatches(wh?.namespaceSelector, n.labels)).map((n) => n.name);
    const excluded = labelled.filter((n) => !selected.includes(n.name)).map((n) => n.name);
    if (labelled.length === 0) {
      add({
        id: 'namespaces',
        status: 'warn',
        title: 'labelled namespaces',
        detail: `none: label one with "kubectl label namespace NAME ${INJECT_LABEL}=${INJECT_LABEL_VALUE}"`,
        code: 'CHK_NO_LABELLED_NAMESPACE',
      });
    } else if (excluded.length > 0) {
      add({
        id: 'namespaces',
        status: 'warn',
        title: 'labelled namespaces',
        detail: `injected: ${selected.join(', ') || '(none)'}; labelled but excluded by the webhook's namespaceSelector: ${excluded.join(', ')}`,
        code: 'CHK_NAMESPACE_EXCLUDED',
      });
    } else {
      add({ id: 'namespaces', status: 'pass', title: 'labelled namespaces', detail: selected.join(', ') });
    }
    if (labelled.length > 0) add(podSecurityCheck(labelled.filter((n) => selected.includes(n.name))));
  } catch (err: unknown) {
    add({
      id: 'namespaces',
      status: 'fail',
      title: 'labelled namespaces',
      detail: errText(err),
      code: kubeCode(err, 'CHK_NAMESPACES_UNREADABLE'),
    });
  }
  await serviceChecks(o, selected, add);

  const title = 'dry-run pod is injected';
  const ns = o.dryRunNamespace ?? selected[0];
  if (ns === undefined) {
    add({
      id: 'dry-run',
      status: 'skip',
      title,
      detail: 'no labelled namespace to try (or pass --dry-run-namespace)',
    });
    return;
  }
  try {
    const pod = await withTimeout(
      'POST pod (dry run)',
      o.timeoutMs,
      core.createNamespacedPod({ namespace: ns, body: probePod(ns), dryRun: 'All' }),
    );
    const names = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => c.name);
    const count = names.filter((n) => n === SIDECAR_CONTAINER).length;
    // A skip the webhook recorded on the pod says why (e.g. no trusted CIDRs).
    const skipped = skipReasons(pod.metadata?.annotations?.[Annotations.status]);
    add(
      count === 1
        ? {
            id: 'dry-run',
            status: 'pass',
            title,
            detail: `in namespace ${ns}: containers ${names.join(', ')}`,
          }
        : {
            id: 'dry-run',
            status: 'fail',
            title,
            detail:
              skipped !== undefined
                ? `in namespace ${ns}: not injected, the webhook says ${skipped}`
                : `in namespace ${ns}: ${count === 0 ? 'no' : count} ${SIDECAR_CONTAINER} container (containers: ${names.join(', ')}); is the webhook down with failurePolicy Ignore?`,
            code: 'CHK_NOT_INJECTED',
          },
    );
  } catch (err: unknown) {
    add({
      id: 'dry-run',
      status: 'fail',
      title,
      detail: `in namespace ${ns}: ${errText(err)}`,
      code: kubeCode(err, 'CHK_DRY_RUN_FAILED'),
    });
  }
}

/** The edge Services (LoadBalancer, NodePort) of the injected namespaces, with advice. */
async function serviceChecks(
  o: CheckOptions,
  namespaces: readonly string[],
  add: (r: CheckResult) => Status,
) {
  if (namespaces.length === 0) return;
  const core = o.kc.makeApiClient(CoreV1Api);
  try {
    const services: V1Service[] = [];
    const pods: V1Pod[] = [];
    for (const namespace of namespaces) {
      const [svcs, ps] = await Promise.all([
        withTimeout('GET services', o.timeoutMs, core.listNamespacedService({ namespace })),
        withTimeout('GET pods', o.timeoutMs, core.listNamespacedPod({ namespace })),
      ]);
      services.push(...svcs.items);
      pods.push(...ps.items);
    }
    const rows = serviceAdvice(services, pods);
    if (rows.length === 0) {
      add({
        id: 'services',
        status: 'info',
        title: 'edge Services',
        detail: `no LoadBalancer or NodePort Service in ${namespaces.join(', ')}`,
      });
    }
    for (const r of rows) add(r);
  } catch (err: unknown) {
    add({
      id: 'services',
      status: 'warn',
      title: 'edge Services',
      detail: errText(err),
      code: kubeCode(err, 'CHK_SERVICES_UNREADABLE'),
    });
  }
}
