/**
 * What the decision needs to know about the pod's namespace, and what it concludes from it: pure.
 * The webhook reads the Namespace object (kube.ts, cached); `realip inject` takes Namespace
 * documents from its input. An AdmissionRequest carries only the namespace's name.
 */
import type { Pod } from './pod.ts';

export interface NamespaceInfo {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
}

/**
 * The namespace as the decision sees it: known, not looked up (no API access configured, or
 * `realip inject` without a Namespace document), or unreadable (the lookup failed).
 */
export type NamespaceView =
  | { readonly state: 'known'; readonly ns: NamespaceInfo }
  | { readonly state: 'absent' }
  | { readonly state: 'unreadable'; readonly problem: string };

export const NO_NAMESPACE: NamespaceView = Object.freeze({ state: 'absent' });

/** The Pod Security admission label that makes the API server reject non-compliant pods. */
export const POD_SECURITY_ENFORCE_LABEL = 'pod-security.kubernetes.io/enforce';

/** `unknown`: the namespace could not be read; the decision then assumes `restricted`. */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted' | 'unknown';

/**
 * The enforced level. No label means the cluster's default, which is `privileged` unless the
 * API server's AdmissionConfiguration says otherwise (invisible to us: docs/install.md). A value
 * the API server does not know is treated by it as `restricted` (pod-security-admission's
 * `ParseLevel` fallback), and so here.
 */
export function podSecurityLevel(view: NamespaceView): PodSecurityLevel {
  if (view.state === 'unreadable') return 'unknown';
  if (view.state === 'absent') return 'privileged';
  const v = view.ns.labels[POD_SECURITY_ENFORCE_LABEL];
  if (v === undefined || v === 'privileged') return 'privileged';
  if (v === 'baseline') return 'baseline';
  return 'restricted';
}

/**
 * Can the pod carry NET_ADMIN / NET_RAW (the init container, a transparent sidecar)? `baseline`
 * forbids every capability outside its small default set, `restricted` also root; a level we
 * could not read is assumed to forbid it: a pod the API server rejects is the harm to avoid.
 */
export function allowsNetAdmin(level: PodSecurityLevel): boolean {
  return level === 'privileged';
}

export type Mesh = 'istio' | 'linkerd';

/**
 * Another mesh's sidecar on the pod, or about to be added by its injector (it may run after us):
 * two sidecars both redirecting and both owning 15001/15021 break the pod.
 */
export function meshOf(pod: Pod, view: NamespaceView): { mesh: Mesh; evidence: string } | undefined {
  const ann = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  if (ann['sidecar.istio.io/status'] !== undefined)
    return { mesh: 'istio', evidence: 'annotation sidecar.istio.io/status' };
  if (names.includes('istio-proxy')) return { mesh: 'istio', evidence: 'container istio-proxy' };
  if (names.includes('istio-init')) return { mesh: 'istio', evidence: 'init container istio-init' };
  if (ann['linkerd.io/proxy-version'] !== undefined)
    return { mesh: 'linkerd', evidence: 'annotation linkerd.io/proxy-version' };
  if (names.includes('linkerd-proxy')) return { mesh: 'linkerd', evidence: 'container linkerd-proxy' };
  const podIstio = labels['sidecar.istio.io/inject'] ?? ann['sidecar.istio.io/inject'];
  if (podIstio === 'true') return { mesh: 'istio', evidence: 'sidecar.istio.io/inject=true' };
  if (ann['linkerd.io/inject'] === 'enabled')
    return { mesh: 'linkerd', evidence: 'annotation linkerd.io/inject=enabled' };
  if (view.state === 'known') {
    const nsl = view.ns.labels;
    if (podIstio !== 'false' && (nsl['istio-injection'] === 'enabled' || nsl['istio.io/rev'] !== undefined))
      return { mesh: 'istio', evidence: `namespace ${view.ns.name} has Istio injection on` };
    if (ann['linkerd.io/inject'] !== 'disabled' && view.ns.annotations['linkerd.io/inject'] === 'enabled')
      return { mesh: 'linkerd', evidence: `namespace ${view.ns.name} has Linkerd injection on` };
  }
  return undefined;
}
