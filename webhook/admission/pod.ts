/**
 * The parts of a Pod the webhook reads, typed loosely: everything else passes through untouched.
 * `checkPodShape` rejects objects whose shape would make the decision or the patch meaningless,
 * naming the field (the API server validates the rest after mutation).
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
  [key: string]: unknown;
}

export interface Probe {
  httpGet?: {
    path?: string;
    port: number | string;
    host?: string;
    scheme?: string;
    [key: string]: unknown;
  };
  tcpSocket?: { port: number | string; host?: string; [key: string]: unknown };
  /** kubelet's gRPC health probe: a number only (the API server refuses a named port here). */
  grpc?: { port: number; service?: string | null; [key: string]: unknown };
  [key: string]: unknown;
}

export interface Container {
  name: string;
  ports?: ContainerPort[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  [key: string]: unknown;
}

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  hostNetwork?: boolean;
  [key: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  [key: string]: unknown;
}

export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec: PodSpec;
  [key: string]: unknown;
}

export const PROBE_KINDS = ['livenessProbe', 'readinessProbe', 'startupProbe'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Returns the problems (field path and what is expected), empty when the pod can be handled. */
export function checkPodShape(obj: unknown, at = ''): string[] {
  const problems: string[] = [];
  if (!isObject(obj)) return [`${at.replace(/\.$/, '') || 'object'}: expected an object`];
  const meta = obj.metadata;
  if (meta !== undefined) {
    if (!isObject(meta)) problems.push(`${at}metadata: expected an object`);
    else {
      for (const key of ['annotations', 'labels'] as const) {
        const m = meta[key];
        if (m === undefined || m === null) continue;
        if (!isObject(m)) problems.push(`${at}metadata.${key}: expected a map of strings`);
        else {
          for (const [k, v] of Object.entries(m)) {
            if (typeof v !== 'string') problems.push(`${at}metadata.${key}["${k}"]: expected a string`);
          }
        }
      }
    }
  }
  const spec = obj.spec;
  if (!isObject(spec)) return [...problems, `${at}spec: expected an object`];
  checkContainers(spec.containers, `${at}spec.containers`, true, problems);
  checkContainers(spec.initContainers, `${at}spec.initContainers`, false, problems);
  if (spec.hostNetwork !== undefined && spec.hostNetwork !== null && typeof spec.hostNetwork !== 'boolean') {
    problems.push(`${at}spec.hostNetwork: expected a boolean`);
  }
  return problems;
}

function checkContainers(list: unknown, at: string, required: boolean, problems: string[]): void {
  if (list === undefined || list === null) {
    if (required) problems.push(`${at}: expected a list of containers`);
    return;
  }
  if (!Array.isArray(list)) {
    problems.push(`${at}: expected a list of containers`);
    return;
  }
  list.forEach((c: unknown, i) => {
    const here = `${at}[${i}]`;
    if (!isObject(c)) {
      problems.push(`${here}: expected an object`);
      return;
    }
    if (typeof c.name !== 'string') problems.push(`${here}.name: expected a string`);
    if (c.ports !== undefined && c.ports !== null) {
      if (!Array.isArray(c.ports)) problems.push(`${here}.ports: expected a list`);
      else {
        c.ports.forEach((p: unknown, j) => {
          if (!isObject(p) || typeof p.containerPort !== 'number' || !Number.isInteger(p.containerPort)) {
            problems.push(`${here}.ports[${j}].containerPort: expected an integer`);
          } else if (p.name !== undefined && p.name !== null && typeof p.name !== 'string') {
            problems.push(`${here}.ports[${j}].name: expected a string`);
          }
        });
      }
    }
    for (const kind of PROBE_KINDS) {
      const probe = c[kind];
      if (probe === undefined || probe === null) continue;
      if (!isObject(probe)) problems.push(`${here}.${kind}: expected an object`);
      else {
        for (const handler of ['httpGet', 'tcpSocket'] as const) {
          const h = probe[handler];
          if (h === undefined || h === null) continue;
          if (!isObject(h) || (typeof h.port !== 'number' && typeof h.port !== 'string')) {
            problems.push(`${here}.${kind}.${handler}.port: expected a number or a name`);
          }
        }
        const grpc = probe.grpc;
        if (grpc !== undefined && grpc !== null && (!isObject(grpc) || typeof grpc.port !== 'number')) {
          problems.push(`${here}.${kind}.grpc.port: expected a number`);
        }
      }
    }
  });
}
