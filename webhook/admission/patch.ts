/**
 * The patch builder: clone the pod, mutate the clone (containers, probes, status annotation), and
 * diff (Pepr's clone-mutate-diff). `realip inject` uses `mutatePod` directly, so the webhook's
 * patch and the offline output cannot differ.
 */
import {
  Annotations,
  type AppProbe,
  type AppProbeKind,
  appHealthPath,
  checkAppProbe,
  Defaults,
  formatListener,
  SIDECAR_UID,
} from '../../common/contract.ts';
import { version } from '../../common/version.ts';
import type { Decision, Plan } from './decide.ts';
import { cloneJson, diff, type PatchOp } from './json-patch.ts';
import { type Container, type Json, PROBE_KINDS, type Pod, type Probe } from './pod.ts';
import { initContainer, sidecarContainer, sidecarPortNames } from './sidecar-spec.ts';

/** What was injected, stored as JSON in the realip.dev/status annotation. */
export interface InjectionStatus {
  readonly version: string;
  readonly listeners: readonly string[];
  readonly steering: string;
  readonly native: boolean;
  /** Original app probes that were pointed at the sidecar's admin port: container -> kind -> probe. */
  readonly probes?: Record<string, Record<string, Json>>;
  /** The sidecar's admin port and uid, when not the defaults (15021, 1337). */
  readonly adminPort?: number;
  readonly sidecarUid?: number;
  /** Redirect mode: the only sources steered into the sidecar. */
  readonly redirectFrom?: readonly string[];
  /** Enforced Pod Security level when not privileged (it can turn redirect into port mode). */
  readonly podSecurity?: string;
  /** App ports left alone, with the reason code: "PORT/NAME REASON". */
  readonly leftAlone?: readonly string[];
}

export interface Mutation {
  readonly pod: Pod;
  readonly status: InjectionStatus;
  readonly warnings: readonly string[];
}

export function mutatePod(original: Pod, plan: Plan): Mutation {
  const pod = cloneJson(original as unknown as Json) as unknown as Pod;
  const warnings = [...plan.warnings];
  const spec = pod.spec;
  const taken = [...spec.containers, ...(spec.initContainers ?? [])].flatMap((c) =>
    (c.ports ?? []).map((p) => p.name).filter((n): n is string => typeof n === 'string'),
  );
  const init = plan.steering === 'redirect' ? [initContainer(plan)] : [];

  let probes: Record<string, Record<string, Json>> | undefined;
  let appProbes: Record<string, AppProbe> | undefined;
  if (plan.steering === 'redirect') {
    const intercepted = new Set(plan.listeners.map((l) => l.appPort));
    for (const c of spec.containers) {
      for (const kind of PROBE_KINDS) {
        const probe = c[kind];
        if (probe === undefined || probe === null) continue;
        const rewritten = rewriteProbe(c, kind, probe, intercepted, plan.adminPort);
        if (typeof rewritten === 'string') {
          warnings.push(`container ${c.name} ${kind}: ${rewritten}`);
          continue;
        }
        if (rewritten === undefined) continue;
        probes ??= {};
        (probes[c.name] ??= {})[kind] = probe as unknown as Json;
        (appProbes ??= {})[rewritten.path] = rewritten.original;
        c[kind] = rewritten.probe;
      }
    }
  }
  const sidecar = sidecarContainer(plan, sidecarPortNames(plan.listeners, taken), appProbes);

  if (plan.native) {
    spec.initContainers = [...init, sidecar, ...(spec.initContainers ?? [])];
  } else {
    if (init.length > 0) spec.initContainers = [...init, ...(spec.initContainers ?? [])];
    spec.containers = [sidecar, ...spec.containers];
  }

  const status: InjectionStatus = {
    version: version(),
    listeners: plan.listeners.map(formatListener),
    steering: plan.steering,
    native: plan.native,
    ...(probes !== undefined ? { probes } : {}),
    ...(plan.adminPort !== Defaults.adminPort ? { adminPort: plan.adminPort } : {}),
    ...(plan.sidecarUid !== SIDECAR_UID ? { sidecarUid: plan.sidecarUid } : {}),
    ...(plan.steering === 'redirect' ? { redirectFrom: plan.redirectFrom } : {}),
    ...(plan.podSecurity !== 'privileged' ? { podSecurity: plan.podSecurity } : {}),
    ...(leftAlone(plan).length > 0 ? { leftAlone: leftAlone(plan) } : {}),
  };
  pod.metadata ??= {};
  pod.metadata.annotations = {
    ...(pod.metadata.annotations ?? {}),
    [Annotations.status]: JSON.stringify(status),
  };
  return { pod, status, warnings };
}

/** What a skip records in realip.dev/status (no containers are added). */
export interface SkipStatus {
  readonly version: string;
  readonly injected: false;
  readonly reasons: readonly string[];
  readonly leftAlone?: readonly string[];
}

/**
 * A pod not injected for a reason the user may want to see on the pod itself (a mesh, no port
 * safe to intercept, nothing trusted): the same pod with only realip.dev/status added. Undefined
 * for skips that leave the pod untouched (opted out, hostNetwork, mirror, already injected, no ports).
 */
export function markSkipped(
  original: Pod,
  decision: Extract<Decision, { inject: false; denied?: false }>,
): Pod | undefined {
  if (decision.ports === undefined && decision.notes === undefined) return undefined;
  const pod = cloneJson(original as unknown as Json) as unknown as Pod;
  const left = (decision.ports ?? [])
    .filter((p) => p.reason !== undefined)
    .map((p) => `${p.port}${p.name !== undefined ? `/${p.name}` : ''} ${p.reason}`);
  const status: SkipStatus = {
    version: version(),
    injected: false,
    reasons: decision.reasons,
    ...(left.length > 0 ? { leftAlone: left } : {}),
  };
  pod.metadata ??= {};
  pod.metadata.annotations = {
    ...(pod.metadata.annotations ?? {}),
    [Annotations.status]: JSON.stringify(status),
  };
  return pod;
}

function leftAlone(plan: Plan): string[] {
  return plan.ports
    .filter((p) => p.reason !== undefined)
    .map((p) => `${p.port}${p.name !== undefined ? `/${p.name}` : ''} ${p.reason}`);
}

/** A rewritten probe targets the default admin port; the plan may have moved it past the pod's ports. */
/** JSON Patch that turns the original pod into the mutated one. */
export function buildPatch(original: Pod, mutated: Pod): PatchOp[] {
  return diff(original as unknown as Json, mutated as unknown as Json);
}

function optionalString(v: unknown): boolean {
  return v === undefined || v === null || typeof v === 'string';
}

function resolvePort(c: Container, port: number | string): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port !== 'string') return undefined;
  if (/^[0-9]+$/.test(port)) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

/** kubelet's default when timeoutSeconds is unset. */
const DEFAULT_PROBE_TIMEOUT_SECONDS = 1;

interface RewrittenProbe {
  /** The probe as the app container now carries it: admin port, its own path, no headers. */
  readonly probe: Probe;
  /** Admin path and the original probe, for the sidecar's REALIP_APP_PROBES. */
  readonly path: string;
  readonly original: AppProbe;
}

/**
 * A probe that targets an intercepted port would be redirected into the sidecar (and, without a
 * PROXY header, refused): point it at the sidecar's admin port, which performs the original probe
 * on localhost. Returns the rewrite, undefined when the probe is left as is, or a warning.
 */
function rewriteProbe(
  c: Container,
  kind: AppProbeKind,
  probe: Probe,
  intercepted: ReadonlySet<number>,
  adminPort: number,
): RewrittenProbe | string | undefined {
  const { httpGet, tcpSocket, grpc } = probe;
  const timeoutSeconds =
    typeof probe.timeoutSeconds === 'number' ? probe.timeoutSeconds : DEFAULT_PROBE_TIMEOUT_SECONDS;
  const path = appHealthPath(c.name, kind);
  const target = { path, port: adminPort, scheme: 'HTTP' };
  let original: AppProbe;
  let next: Probe;
  if (httpGet !== undefined && httpGet !== null) {
    const port = resolvePort(c, httpGet.port);
    if (port === undefined || !intercepted.has(port)) return undefined;
    // Fields of the wrong type: leave the probe to the API server's validation.
    if (!optionalString(httpGet.host) || !optionalString(httpGet.scheme) || !optionalString(httpGet.path)) {
      return undefined;
    }
    const headers = httpGet.httpHeaders;
    if (headers !== undefined && headers !== null && !Array.isArray(headers)) return undefined;
    if (httpGet.host !== undefined && httpGet.host !== null && httpGet.host !== '') return undefined;
    if (typeof httpGet.scheme === 'string' && httpGet.scheme.toUpperCase() === 'HTTPS') {
      return `HTTPS probe on intercepted port ${port} left unchanged (use redirect-from or port mode)`;
    }
    const appPath = typeof httpGet.path === 'string' && httpGet.path !== '' ? httpGet.path : '/';
    original = {
      httpGet: {
        port,
        path: appPath.startsWith('/') ? appPath : `/${appPath}`,
        scheme: 'HTTP',
        ...(Array.isArray(headers) && headers.length > 0
          ? {
              // Only the two fields of a k8s HTTPHeader; checkAppProbe below judges their values.
              httpHeaders: headers.map((h: { name?: unknown; value?: unknown } | null) => ({
                name: h?.name as string,
                value: h?.value as string,
              })),
            }
          : {}),
      },
      timeoutSeconds,
    };
    // The headers now live only in the sidecar's copy: kubelet sends none to the admin port.
    next = { ...probe, httpGet: target };
  } else if (tcpSocket !== undefined && tcpSocket !== null) {
    const port = resolvePort(c, tcpSocket.port);
    if (port === undefined || !intercepted.has(port)) return undefined;
    if (!optionalString(tcpSocket.host)) return undefined;
    if (tcpSocket.host !== undefined && tcpSocket.host !== null && tcpSocket.host !== '') return undefined;
    original = { tcpSocket: { port }, timeoutSeconds };
    // Same position in the probe, so the offline output reads like the input.
    next = {} as Probe;
    for (const [k, v] of Object.entries(probe)) {
      if (k === 'tcpSocket') next.httpGet = target;
      else next[k] = v;
    }
  } else if (grpc !== undefined && grpc !== null) {
    const port = grpc.port;
    if (typeof port !== 'number' || !intercepted.has(port)) return undefined;
    if (!optionalString(grpc.service)) return undefined;
    original = { grpc: { port, service: grpc.service ?? '' }, timeoutSeconds };
    // kubelet now asks the admin port over HTTP/1.1; the sidecar makes the gRPC call.
    next = {} as Probe;
    for (const [k, v] of Object.entries(probe)) {
      if (k === 'grpc') next.httpGet = target;
      else next[k] = v;
    }
  } else return undefined;
  // The sidecar refuses at start-up what it could not perform: never hand it such a probe.
  const problems = checkAppProbe(path, original);
  if (problems.length > 0)
    return `probe left unchanged, the sidecar could not perform it: ${problems.join('; ')}`;
  return { probe: next, path, original };
}
