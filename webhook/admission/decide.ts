/**
 * The injection decision: pure. A pod and the cluster-wide defaults go in; out comes either a plan
 * (what to inject, with every annotation already validated) or the reasons not to inject, each a
 * stable code that feeds logs, the `reason` metric label and the AdmissionResponse warnings
 * (Linkerd's `Injectable()` report, in spirit). Invalid annotations deny the pod with a message
 * naming the annotation, the bad value and what is expected.
 */
import { CidrSet } from '../../common/cidr.ts';
import {
  Annotations,
  ANNOTATION_PREFIX,
  Defaults,
  INIT_CONTAINER,
  LISTENER_MODES,
  type ListenerMode,
  PROXY_MODES,
  type ProxyMode,
  parsePort,
  SIDECAR_CONTAINER,
  STEERING_MODES,
  type SteeringMode,
} from '../../common/contract.ts';
import type { Pod } from './pod.ts';

/** The kubelet marks static (mirror) pods with this annotation; they cannot be mutated usefully. */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

export const EMIT_VERSIONS = ['v1', 'v2'] as const;
export type EmitVersion = (typeof EMIT_VERSIONS)[number];
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
  readonly redirectFrom: readonly string[];
  /** Resolved: `auto` has become on/off by the time a decision is made. */
  readonly nativeSidecar: boolean;
  /**
   * Do Services resolve named ports declared on native sidecars (EndpointSlice: Kubernetes 1.32+)?
   * Port mode depends on it; when false, port-mode pods get a regular sidecar. Default: true.
   */
  readonly nativeSidecarNamedPorts?: boolean;
  readonly resources: SidecarResources;
}

/** Reasons not to inject (stable codes; documented in docs/errors.md and docs/webhook.md). */
export const SkipReasons = Object.freeze({
  disabled: 'INJ_SKIP_DISABLED',
  hostNetwork: 'INJ_SKIP_HOST_NETWORK',
  mirrorPod: 'INJ_SKIP_MIRROR_POD',
  alreadyInjected: 'INJ_SKIP_ALREADY_INJECTED',
  noPorts: 'INJ_SKIP_NO_PORTS',
});
export type SkipReason = (typeof SkipReasons)[keyof typeof SkipReasons];

export const DenyReasons = Object.freeze({
  invalidAnnotation: 'INJ_INVALID_ANNOTATION',
  portConflict: 'INJ_PORT_CONFLICT',
});
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
  readonly redirectFrom: readonly string[];
  readonly emit?: EmitVersion;
  readonly native: boolean;
  readonly image: string;
  readonly imagePullPolicy?: PullPolicy;
  readonly resources: SidecarResources;
  /** Non-fatal remarks (unknown realip.dev/ annotations, probes left alone). */
  readonly warnings: readonly string[];
}

export type Decision =
  | { readonly inject: true; readonly plan: Plan }
  | { readonly inject: false; readonly denied?: false; readonly reasons: readonly SkipReason[] }
  | {
      readonly inject: false;
      readonly denied: true;
      readonly reasons: readonly DenyReason[];
      readonly problems: readonly string[];
    };

const KNOWN_ANNOTATIONS = new Set<string>(Object.values(Annotations));

export function isAlreadyInjected(pod: Pod): boolean {
  if (pod.metadata?.annotations?.[Annotations.status] !== undefined) return true;
  const names = [...pod.spec.containers, ...(pod.spec.initContainers ?? [])].map((c) => c.name);
  return names.includes(SIDECAR_CONTAINER) || names.includes(INIT_CONTAINER);
}

export function decide(pod: Pod, defaults: InjectionDefaults): Decision {
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

  const warnings: string[] = [];
  for (const key of Object.keys(ann)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !KNOWN_ANNOTATIONS.has(key)) {
      warnings.push(`unknown annotation ${key} ignored`);
    }
  }

  const trustedCidrs = cidrList(ann, Annotations.trustedCidrs, defaults.trustedCidrs, problems);
  const redirectFrom = cidrList(ann, Annotations.redirectFrom, defaults.redirectFrom, problems);
  const proxy = oneOf(ann, Annotations.proxy, PROXY_MODES, defaults.proxy, problems);
  const steering = oneOf(ann, Annotations.steering, STEERING_MODES, defaults.steering, problems);
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
  const ports = choosePorts(pod, problems);
  if (problems.length > 0) {
    return { inject: false, denied: true, reasons: [DenyReasons.invalidAnnotation], problems };
  }
  if (ports.length === 0) return { inject: false, reasons: [SkipReasons.noPorts] };

  const listenPorts = assignListenPorts(ports.length);
  const listeners = ports.map((p, i) => ({
    mode: p.mode,
    listenPort: listenPorts[i]!,
    appPort: p.port,
    ...(p.name !== undefined ? { appPortName: p.name } : {}),
  }));
  const conflicts = portConflicts(pod, listeners);
  if (conflicts.length > 0) {
    return { inject: false, denied: true, reasons: [DenyReasons.portConflict], problems: conflicts };
  }
  const plan: Plan = {
    listeners,
    trustedCidrs,
    proxy,
    steering,
    redirectFrom,
    ...(emit !== undefined ? { emit } : {}),
    native: defaults.nativeSidecar && (steering !== 'port' || defaults.nativeSidecarNamedPorts !== false),
    image: defaults.image,
    ...(defaults.imagePullPolicy !== undefined ? { imagePullPolicy: defaults.imagePullPolicy } : {}),
    resources,
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

interface ChosenPort {
  readonly port: number;
  readonly mode: ListenerMode;
  readonly name?: string;
}

/** Istio-style protocol selection by port name: http*, web -> http; everything else -> tcp. */
export function modeForPortName(name: string | undefined): ListenerMode {
  if (name === undefined) return 'tcp';
  return name.startsWith('http') || name === 'web' ? 'http' : 'tcp';
}

/** Declared TCP container ports of the app containers: port -> name (first declaration wins). */
function declaredPorts(pod: Pod): Map<number, string | undefined> {
  const out = new Map<number, string | undefined>();
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      // out of range: the API server's validation rejects the pod after us; do not plan for it
      if (p.containerPort < 1 || p.containerPort > 65535) continue;
      if (!out.has(p.containerPort)) out.set(p.containerPort, p.name ?? undefined);
    }
  }
  return out;
}

/** Ports to intercept, sorted by app port so listener ports are assigned in a stable order. */
function choosePorts(pod: Pod, problems: string[]): ChosenPort[] {
  const declared = declaredPorts(pod);
  const text = pod.metadata?.annotations?.[Annotations.ports];
  const chosen: ChosenPort[] = [];
  if (text === undefined) {
    for (const [port, name] of declared) {
      chosen.push({ port, mode: modeForPortName(name), ...(name !== undefined ? { name } : {}) });
    }
  } else {
    const expected =
      'a comma-separated list of PORT=MODE (MODE one of http, tcp, transparent), e.g. 8080=http,5432=tcp';
    const seen = new Set<number>();
    for (const raw of text.split(',')) {
      const entry = raw.trim();
      if (entry === '') continue;
      const eq = entry.indexOf('=');
      const portText = eq === -1 ? entry : entry.slice(0, eq).trim();
      const modeText = eq === -1 ? undefined : entry.slice(eq + 1).trim();
      const port = parsePort(portText);
      if (port === undefined) {
        problems.push(bad(Annotations.ports, text, `${expected}; "${portText}" is not a port 1-65535`));
        continue;
      }
      if (modeText !== undefined && !(LISTENER_MODES as readonly string[]).includes(modeText)) {
        problems.push(bad(Annotations.ports, text, `${expected}; "${modeText}" is not a mode`));
        continue;
      }
      if (seen.has(port)) {
        problems.push(bad(Annotations.ports, text, `${expected}; port ${port} is listed twice`));
        continue;
      }
      seen.add(port);
      const name = declared.get(port);
      const mode = (modeText as ListenerMode | undefined) ?? modeForPortName(name);
      chosen.push({ port, mode, ...(name !== undefined ? { name } : {}) });
    }
  }
  return chosen.sort((a, b) => a.port - b.port);
}

/** 15001, 15002, ... one per intercepted port, stepping over the admin port (15021). */
export function assignListenPorts(count: number): number[] {
  const out: number[] = [];
  const admin: number = Defaults.adminPort;
  for (let port: number = Defaults.sidecarPortBase; out.length < count; port++) {
    if (port !== admin) out.push(port);
  }
  return out;
}

/** The sidecar's own ports must not collide with ports the app uses (they share a network stack). */
function portConflicts(pod: Pod, listeners: readonly PlannedListener[]): string[] {
  const reserved = new Map<number, string>([[Defaults.adminPort, "the sidecar's admin port"]]);
  for (const l of listeners) reserved.set(l.listenPort, `the sidecar's listener for app port ${l.appPort}`);
  const problems: string[] = [];
  const used = new Set<number>([...declaredPorts(pod).keys(), ...listeners.map((l) => l.appPort)]);
  for (const port of [...used].sort((a, b) => a - b)) {
    const what = reserved.get(port);
    if (what !== undefined) {
      problems.push(
        `app port ${port} conflicts with ${what}; realip reserves ${Defaults.sidecarPortBase}-${listeners[listeners.length - 1]?.listenPort ?? Defaults.sidecarPortBase} and ${Defaults.adminPort}`,
      );
    }
  }
  return problems;
}
