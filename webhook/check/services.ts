/**
 * `realip check`, edge Services: the LoadBalancer and NodePort Services of labelled namespaces,
 * looked at from realip's side (issue 15). Pure: Services and the pods they select in, advice out.
 *
 * What matters, and why:
 * - externalTrafficPolicy: realip takes the client from the PROXY header, so `Local` (kept for the
 *   source address) is not needed; with `Cluster` a connection may arrive through another node,
 *   whose address is then the sender the sidecar sees: the nodes must be trusted.
 * - status.loadBalancer.ingress[].ipMode (KEP-1860): `VIP` (or unset) lets kube-proxy send
 *   in-cluster connections to the load balancer's address straight to the pods, with no load
 *   balancer and so no PROXY header; `Proxy` means the load balancer terminates the connection and
 *   every one, in-cluster too, arrives from it with a header.
 * - port mode: the pod has no iptables redirect, so only a Service targeting the sidecar's named
 *   port (`realip-<name>`) goes through it; one targeting the app's port bypasses the sidecar and
 *   hands the PROXY header to the app.
 */
import type { V1Pod, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { Annotations, parseListener, SIDECAR_CONTAINER } from '../../common/contract.ts';
import type { CheckResult } from './checks.ts';

export const EDGE_TYPES = new Set(['LoadBalancer', 'NodePort']);

interface PodView {
  readonly name: string;
  readonly steering: string | undefined;
  /** Sidecar ports: name -> number. */
  readonly sidecar: Map<string, number>;
  /** Listener port -> app port. */
  readonly listeners: Map<number, number>;
  /** App container ports: name -> number. */
  readonly app: Map<string, number>;
}

function viewOf(pod: V1Pod): PodView | undefined {
  const raw = pod.metadata?.annotations?.[Annotations.status];
  if (raw === undefined) return undefined;
  let status: { steering?: unknown; listeners?: unknown; injected?: unknown };
  try {
    status = JSON.parse(raw) as typeof status;
  } catch {
    return undefined;
  }
  if (status.injected === false) return undefined;
  const all = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const sidecar = new Map<string, number>();
  const app = new Map<string, number>();
  for (const c of all) {
    for (const p of c.ports ?? []) {
      if (c.name === SIDECAR_CONTAINER) sidecar.set(p.name ?? String(p.containerPort), p.containerPort);
      else if (p.name !== undefined) app.set(p.name, p.containerPort);
    }
  }
  const listeners = new Map<number, number>();
  for (const text of Array.isArray(status.listeners) ? status.listeners : []) {
    const l = typeof text === 'string' ? parseListener(text) : 'bad';
    if (typeof l !== 'string') listeners.set(l.listenPort, l.appPort);
  }
  return {
    name: pod.metadata?.name ?? '',
    steering: typeof status.steering === 'string' ? status.steering : undefined,
    sidecar,
    listeners,
    app,
  };
}

function selects(selector: Record<string, string> | undefined, pod: V1Pod): boolean {
  if (selector === undefined || Object.keys(selector).length === 0) return false;
  const labels = pod.metadata?.labels ?? {};
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A Service port's target on one pod: the sidecar, an intercepted app port, or something else. */
function targetOf(sp: V1ServicePort, pod: PodView): { sidecar: boolean; appPort: number | undefined } {
  const t = sp.targetPort ?? sp.port;
  if (typeof t === 'string' && !/^\d+$/.test(t)) {
    if (pod.sidecar.has(t)) return { sidecar: true, appPort: undefined };
    return { sidecar: false, appPort: pod.app.get(t) };
  }
  const n = Number(t);
  if (pod.listeners.has(n) || [...pod.sidecar.values()].includes(n))
    return { sidecar: true, appPort: undefined };
  return { sidecar: false, appPort: n };
}

/** One result per edge Service: warn when traffic can bypass the sidecar, else advice. */
export function serviceAdvice(services: readonly V1Service[], pods: readonly V1Pod[]): CheckResult[] {
  const out: CheckResult[] = [];
  for (const svc of services) {
    const type = svc.spec?.type ?? 'ClusterIP';
    if (!EDGE_TYPES.has(type)) continue;
    const ns = svc.metadata?.namespace ?? '';
    const name = `${ns}/${svc.metadata?.name ?? ''}`;
    const advice: string[] = [];
    const problems: string[] = [];
    const policy = svc.spec?.externalTrafficPolicy ?? 'Cluster';
    advice.push(
      policy === 'Local'
        ? 'externalTrafficPolicy Local is not needed for realip (the client comes from the PROXY header); Cluster spreads connections over every node'
        : "externalTrafficPolicy Cluster: a connection may arrive through another node, so the nodes' addresses must be in the trusted CIDRs",
    );
    if (type === 'LoadBalancer') {
      for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
        const at = ing.ip ?? ing.hostname ?? '?';
        advice.push(
          ing.ipMode === 'Proxy'
            ? `ipMode Proxy at ${at}: the load balancer terminates each connection, so every one (in-cluster too) arrives from it with a PROXY header: trust its source range`
            : `ipMode ${ing.ipMode ?? 'VIP (unset)'} at ${at}: kube-proxy sends in-cluster connections to ${at} straight to the pods, without the load balancer and without a PROXY header (refused as PP_NOT_PROXY in required mode): call the Service by its cluster name from inside`,
        );
      }
    }
    const behind = pods
      .filter((p) => p.metadata?.namespace === ns && selects(svc.spec?.selector, p))
      .map(viewOf)
      .filter((v): v is PodView => v !== undefined);
    if (behind.length === 0) {
      advice.push('no injected pod behind it (yet)');
    } else {
      const pod = behind[0]!;
      for (const sp of svc.spec?.ports ?? []) {
        if ((sp.protocol ?? 'TCP') !== 'TCP') continue;
        const target = targetOf(sp, pod);
        const label = `port ${sp.port} -> targetPort ${sp.targetPort ?? sp.port}`;
        if (target.sidecar) {
          advice.push(`${label}: the sidecar`);
        } else if (pod.steering === 'port') {
          const intercepted = [...pod.listeners].find(([, app]) => app === target.appPort);
          const named = [...pod.sidecar].find(([, n]) => n === intercepted?.[0])?.[0];
          problems.push(
            `${label}: the app's port, but pod ${pod.name} is in port mode: this Service bypasses the sidecar and hands the PROXY header to the app${named !== undefined ? `; target ${named}` : ''}`,
          );
        } else {
          advice.push(`${label}: redirected to the sidecar (redirect mode)`);
        }
      }
    }
    out.push({
      id: `service:${name}`,
      status: problems.length > 0 ? 'warn' : 'info',
      title: `edge Service ${name} (${type})`,
      detail: [...problems, ...advice].join('; '),
      ...(problems.length > 0 ? { code: 'CHK_SERVICE_BYPASSES_SIDECAR' } : {}),
    });
  }
  return out;
}
