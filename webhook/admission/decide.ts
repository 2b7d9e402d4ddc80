/**
 * The injection decision: pure. A pod, its namespace and the cluster-wide defaults go in; out
 * comes either a plan (what to inject, with every annotation already validated, and what happens
 * to each app port) or the reasons not to inject, each a stable code that feeds logs, the
 * `reason` metric label, the AdmissionResponse warnings and realip.dev/status (Linkerd's
 * `Injectable()` report, in spirit). Invalid annotations deny the pod with a message naming the
 * annotation, the bad value and what is expected. Everything else that could break the workload
 * (a mesh, Pod Security, a port of unknown protocol) skips or leaves alone, never denies.
 */
import { CidrSet } from '../../common/cidr.ts';
import type { CodeOf } from '../../common/error-codes/registry.ts';
import {
  Annotations,
  ANNOTATION_PREFIX,
  Defaults,
  EMIT_VERSIONS,
  type EmitVersion,
  INIT_CONTAINER,
  type ListenerMode,
  PROXY_MODES,
  type ProxyMode,
  SIDECAR_CONTAINER,
  SIDECAR_UID,
  STEERING_MODES,
  type SteeringMode,
} from '../../common/contract.ts';
import {
  allowsNetAdmin,
  meshOf,
  NO_NAMESPACE,
  type NamespaceView,
  type PodSecurityLevel,
  podSecurityLevel,
} from './namespace.ts';
import type { Pod } from './pod.ts';
import { allDeclaredPortNumbers, choosePorts, type PortDecision, PortReasons } from './port-rules.ts';
import { assignSidecarPorts, chooseSidecarUid } from './sidecar-ports.ts';

/** The kubelet marks static (mirror) pods with this annotation; they cannot be mutated usefully. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];
export const NATIVE_SIDECAR_MODES = ['auto', 'on', 'off'] as const;
export type NativeSidecarMode = (typeof NATIVE_SIDECAR_MODES)[number];

export interface SidecarResources {
  readonly cpuRequest?: string;
  readonly memoryRequest?: string;
  readonly cpuLimit?: string;
  readonly memoryLimit?: string;
}

/** Cluster-wide injection defaults (from the webhook's configuration, set by the chart). */
export interface InjectionDefaults {
  readonly image: string;
  readonly imagePullPolicy?: PullPolicy;
  readonly trustedCidrs: readonly string[];
  readonly proxy: ProxyMode;
  readonly steering: SteeringMode;
  /** Empty: the trusted CIDRs (only the edge's connections are steered into the sidecar). */
  readonly redirectFrom: readonly string[];
  /** Resolved: `auto` has become on/off by the time a decision is made. */
  readonly nativeSidecar: boolean;
  /**
   * Do Services resolve named ports declared on native sidecars (EndpointSlice: Kubernetes 1.32+)?
   * Port mode depends on it; when false, port-mode pods get a regular sidecar. Default: true.
   */
  readonly nativeSidecarNamedPorts?: boolean;
  readonly resources: SidecarResources;
  /** First listener port (default 15001); ports the pod declares are stepped over. */
  readonly listenerPortBase?: number;
  /** The sidecar's admin port (default 15021), moved up past ports the pod declares. */
  readonly adminPort?: number;
  /** The non-root uid/gid of the sidecar (default 1337), moved up past uids the pod declares. */
  readonly sidecarUid?: number;
}

/** Reasons not to inject (stable codes; documented in docs/errors.md and docs/webhook.md). */
export const SkipReasons = Object.freeze({
  disabled: 'INJ_SKIP_DISABLED',
  hostNetwork: 'INJ_SKIP_HOST_NETWORK',
  mirrorPod: 'INJ_SKIP_MIRROR_POD',
  alreadyInjected: 'INJ_SKIP_ALREADY_INJECTED',
  noPorts: 'INJ_SKIP_NO_PORTS',
  noInterceptedPorts: 'INJ_SKIP_NO_INTERCEPTED_PORTS',
  mesh: 'INJ_SKIP_MESH',
  noTrustedSources: 'INJ_SKIP_NO_TRUSTED_SOURCES',
} satisfies Record<string, CodeOf<'INJ'>>);
export type SkipReason = (typeof SkipReasons)[keyof typeof SkipReasons];

export const DenyReasons = Object.freeze({
  invalidAnnotation: 'INJ_INVALID_ANNOTATION',
  portConflict: 'INJ_PORT_CONFLICT',
} satisfies Record<string, CodeOf<'INJ'>>);
export type DenyReason = (typeof DenyReasons)[keyof typeof DenyReasons];

export interface PlannedListener {
  readonly mode: ListenerMode;
  readonly listenPort: number;
  readonly appPort: number;
  /** The app's port name when it declared one (used to name the sidecar's port in port mode). */
  readonly appPortName?: string;
}

export interface Plan {
  readonly listeners: readonly PlannedListener[];
  readonly trustedCidrs: readonly string[];
  readonly proxy: ProxyMode;
  readonly steering: SteeringMode;
  /** Never empty in redirect mode: only these sources are steered into the sidecar. */
  readonly redirectFrom: readonly string[];
  readonly emit?: EmitVersion;
  readonly native: boolean;
  readonly image: string;
  readonly imagePullPolicy?: PullPolicy;
  readonly resources: SidecarResources;
  readonly adminPort: number;
  readonly sidecarUid: number;
  /** Every app port and what happens to it (intercepted in a mode, or left alone and why). */
  readonly ports: readonly PortDecision[];
  readonly podSecurity: PodSecurityLevel;
  /** Non-fatal remarks (unknown realip.dev/ annotations, probes left alone, mode changes). */
  readonly warnings: readonly string[];
}

export type Decision =
  | { readonly inject: true; readonly plan: Plan }
  | {
      readonly inject: false;
      readonly denied?: false;
      readonly reasons: readonly SkipReason[];
      /** Port decisions, when the pod got that far (visible in warnings and status). */
      readonly ports?: readonly PortDecision[];
      /** Remarks for the user (which mesh, which Pod Security level). */
      readonly notes?: readonly string[];
    }
  | {
      readonly inject: false;
      readonly denied: true;
      readonly reasons: readonly DenyReason[];
      readonly problems: readonly string[];
    };

const KNOWN_ANNOTATIONS = new Set<string>(Object.values(Annotations));

/**
 * Injected before: our containers, or a status that records an injection. A status recording a
 * skip (`"injected": false`) does not count: the decision is made again.
 */
export function isAlreadyInjected(pod: Pod): boolean {
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  if (names.includes(SIDECAR_CONTAINER) || names.includes(INIT_CONTAINER)) return true;
  const status = pod.metadata?.annotations?.[Annotations.status];
  if (status === undefined) return false;
  try {
    return (JSON.parse(status) as { injected?: unknown }).injected !== false;
  } catch {
    return true;
  }
}

export function decide(
  pod: Pod,
  defaults: InjectionDefaults,
  namespace: NamespaceView = NO_NAMESPACE,
): Decision {
  const ann = pod.metadata?.annotations ?? {};
  const problems: string[] = [];
  const skip: SkipReason[] = [];

  const injectValue = ann[Annotations.inject];
  if (injectValue !== undefined) {
    if (injectValue === 'false' || injectValue === 'disabled') skip.push(SkipReasons.disabled);
    else if (injectValue !== 'true' && injectValue !== 'enabled') {
      problems.push(bad(Annotations.inject, injectValue, '"true" or "false"'));
    }
  }
  if (pod.spec.hostNetwork === true) skip.push(SkipReasons.hostNetwork);
  if (ann[MIRROR_POD_ANNOTATION] !== undefined) skip.push(SkipReasons.mirrorPod);
  if (isAlreadyInjected(pod)) skip.push(SkipReasons.alreadyInjected);
  if (skip.length > 0) return { inject: false, reasons: skip };
  const mesh = meshOf(pod, namespace);
  if (mesh !== undefined) {
    return {
      inject: false,
      reasons: [SkipReasons.mesh],
      notes: [
        `the pod is in the ${mesh.mesh} mesh (${mesh.evidence}); realip does not inject beside another mesh's sidecar`,
      ],
    };
  }

  const warnings: string[] = [];
  for (const key of Object.keys(ann)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN_ANNOTATIONS.has(key)) {
      warnings.push(`unknown annotation ${key} ignored`);
    }
  }

  const trustedCidrs = cidrList(ann, Annotations.trustedCidrs, defaults.trustedCidrs, problems);
  const redirectFrom = cidrList(
    ann,
    Annotations.redirectFrom,
    defaults.redirectFrom.length > 0 ? defaults.redirectFrom : trustedCidrs,
    problems,
  );
  const proxy = oneOf(ann, Annotations.proxy, PROXY_MODES, defaults.proxy, problems);
  let steering = oneOf(ann, Annotations.steering, STEERING_MODES, defaults.steering, problems);
  const emitText = ann[Annotations.emit];
  let emit: EmitVersion | undefined;
  if (emitText !== undefined) emit = oneOf(ann, Annotations.emit, EMIT_VERSIONS, 'v2', problems);
  const resources: SidecarResources = {
    ...definedOnly({
      cpuRequest: quantity(ann, Annotations.cpuRequest, defaults.resources.cpuRequest, problems),
      memoryRequest: quantity(ann, Annotations.memoryRequest, defaults.resources.memoryRequest, problems),
      cpuLimit: quantity(ann, Annotations.cpuLimit, defaults.resources.cpuLimit, problems),
      memoryLimit: quantity(ann, Annotations.memoryLimit, defaults.resources.memoryLimit, problems),
    }),
  };
  const nsPorts = namespace.state === 'known' ? namespace.ns.annotations[Annotations.ports] : undefined;
  const chosen = choosePorts(pod, nsPorts, problems);
  if (problems.length > 0) {
    return { inject: false, denied: true, reasons: [DenyReasons.invalidAnnotation], problems };
  }
  if (chosen.decisions.length === 0) return { inject: false, reasons: [SkipReasons.noPorts] };

  // Pod Security: NET_ADMIN (the init container, transparent listeners) only where the namespace
  // allows it; otherwise port mode, which needs no privilege, rather than a pod the API server rejects.
  const podSecurity = podSecurityLevel(namespace);
  let ports = chosen.decisions;
  if (!allowsNetAdmin(podSecurity)) {
    const why =
      podSecurity === 'unknown'
        ? `the namespace could not be read (${namespace.state === 'unreadable' ? namespace.problem : ''}); assuming Pod Security "restricted"`
        : `Pod Security "${podSecurity}" is enforced in this namespace`;
    if (ports.some((p) => p.mode === 'transparent')) {
      ports = ports.map((p) =>
        p.mode === 'transparent'
          ? {
              port: p.port,
              ...(p.name !== undefined ? { name: p.name } : {}),
              reason: PortReasons.podSecurity,
            }
          : p,
      );
      warnings.push(`${why}: transparent listeners need NET_ADMIN; those ports are left alone`);
    }
    if (steering === 'redirect') {
      steering = 'port';
      warnings.push(
        `${why}: the redirect init container needs NET_ADMIN, so port mode: point the edge Service at the sidecar's port (realip-<port name>)`,
      );
    }
  }
  const intercepted = ports.filter((p) => p.mode !== undefined);
  if (intercepted.length === 0) {
    return { inject: false, reasons: [SkipReasons.noInterceptedPorts], ports, notes: warnings };
  }
  if (steering === 'redirect' && redirectFrom.length === 0) {
    // An empty source list would make `realip init` steer every source, refused for want of trust.
    return {
      inject: false,
      reasons: [SkipReasons.noTrustedSources],
      ports,
      notes: [...warnings, 'no trusted CIDRs and no redirect-from: nothing may be steered into the sidecar'],
    };
  }

  const used = allDeclaredPortNumbers(pod);
  for (const p of ports) used.add(p.port);
  const assigned = assignSidecarPorts(
    intercepted.length,
    used,
    defaults.listenerPortBase ?? Defaults.sidecarPortBase,
    defaults.adminPort ?? Defaults.adminPort,
  );
  if (typeof assigned === 'string') {
    return { inject: false, denied: true, reasons: [DenyReasons.portConflict], problems: [assigned] };
  }
  const listeners: PlannedListener[] = intercepted.map((p, i) => ({
    mode: p.mode!,
    listenPort: assigned.listeners[i]!,
    appPort: p.port,
    ...(p.name !== undefined ? { appPortName: p.name } : {}),
  }));
  const plan: Plan = {
    listeners,
    trustedCidrs,
    proxy,
    steering,
    redirectFrom: steering === 'redirect' ? redirectFrom : [],
    ...(emit !== undefined ? { emit } : {}),
    native: defaults.nativeSidecar && (steering !== 'port' || defaults.nativeSidecarNamedPorts !== false),
    image: defaults.image,
    ...(defaults.imagePullPolicy !== undefined ? { imagePullPolicy: defaults.imagePullPolicy } : {}),
    resources,
    adminPort: assigned.admin,
    sidecarUid: chooseSidecarUid(pod, defaults.sidecarUid ?? SIDECAR_UID),
    ports,
    podSecurity,
    warnings,
  };
  return { inject: true, plan };
}

function bad(annotation: string, value: string, expected: string): string {
  return `annotation ${annotation}: ${JSON.stringify(value)} is not valid; expected ${expected}`;
}

function oneOf<T extends string>(
  ann: Record<string, string>,
  key: string,
  allowed: readonly T[],
  fallback: T,
  problems: string[],
): T {
  const v = ann[key];
  if (v === undefined) return fallback;
  if ((allowed as readonly string[]).includes(v)) return v as T;
  problems.push(bad(key, v, `one of ${allowed.join(', ')}`));
  return fallback;
}

function cidrList(
  ann: Record<string, string>,
  key: string,
  fallback: readonly string[],
  problems: string[],
): readonly string[] {
  const v = ann[key];
  if (v === undefined) return fallback;
  const items = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const parsed = CidrSet.parse(items);
  if (parsed.problems.length > 0) {
    problems.push(bad(key, v, `a comma-separated list of IPv4/IPv6 CIDRs (${parsed.problems.join('; ')})`));
    return fallback;
  }
  return items;
}

/** A Kubernetes resource quantity as written in practice: 100m, 0.5, 64Mi, 1G. */
const QUANTITY = /^(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
export function isQuantity(text: string): boolean {
  return QUANTITY.test(text);
}

function quantity(
  ann: Record<string, string>,
  key: string,
  fallback: string | undefined,
  problems: string[],
): string | undefined {
  const v = ann[key];
  if (v === undefined) return fallback;
  if (isQuantity(v)) return v;
  problems.push(bad(key, v, 'a Kubernetes quantity such as 100m, 0.5, 64Mi or 1Gi'));
  return fallback;
}

function definedOnly<T extends Record<string, string | undefined>>(o: T): Partial<Record<keyof T, string>> {
  const out: Partial<Record<keyof T, string>> = {};
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] !== undefined) out[k] = o[k]!;
  return out;
}
