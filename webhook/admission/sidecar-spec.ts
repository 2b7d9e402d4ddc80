/**
 * The containers realip adds to a pod, built from a plan. Everything the sidecar and `realip init`
 * read comes from common/contract.ts, so the two sides cannot drift.
 *
 * Security: the sidecar runs as a non-root user with a read-only root filesystem and no
 * capabilities, except NET_ADMIN + NET_RAW when it has transparent listeners (IP_TRANSPARENT and
 * the policy routing they need). The init container needs NET_ADMIN + NET_RAW and root to program
 * iptables, and nothing else (not privileged, no privilege escalation).
 */
import {
  type AppProbesJson,
  Env,
  formatListener,
  INIT_CONTAINER,
  SIDECAR_CONTAINER,
  SIDECAR_WAIT_COMMAND,
  SidecarAdminPaths,
} from '../../common/contract.ts';
import type { Plan, PlannedListener, SidecarResources } from './decide.ts';
import type { Container, JsonObject } from './pod.ts';

const IANA_SVC_NAME = /^(?=.*[a-z])[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
function isPortName(name: string): boolean {
  return name.length <= 15 && IANA_SVC_NAME.test(name) && !name.includes('--');
}

/**
 * Names for the sidecar's ports in port mode: `realip-<app port name>` when that fits the 15
 * characters a port name may have, else `realip-<app port>`; unique within the pod.
 */
export function sidecarPortNames(listeners: readonly PlannedListener[], taken: Iterable<string>): string[] {
  const used = new Set(taken);
  return listeners.map((l) => {
    const byName = l.appPortName !== undefined ? `realip-${l.appPortName}` : undefined;
    let name =
      byName !== undefined && isPortName(byName) && !used.has(byName) ? byName : `realip-${l.appPort}`;
    for (let i = 2; used.has(name); i++) name = `realip-${l.appPort}-${i}`;
    used.add(name);
    return name;
  });
}

export function listenersValue(plan: Plan): string {
  return plan.listeners.map(formatListener).join(',');
}

function resources(r: SidecarResources): JsonObject | undefined {
  const requests: JsonObject = {};
  const limits: JsonObject = {};
  if (r.cpuRequest !== undefined) requests.cpu = r.cpuRequest;
  if (r.memoryRequest !== undefined) requests.memory = r.memoryRequest;
  if (r.cpuLimit !== undefined) limits.cpu = r.cpuLimit;
  if (r.memoryLimit !== undefined) limits.memory = r.memoryLimit;
  const out: JsonObject = {};
  if (Object.keys(limits).length > 0) out.limits = limits;
  if (Object.keys(requests).length > 0) out.requests = requests;
  return Object.keys(out).length > 0 ? out : undefined;
}

function adminProbe(port: number, path: string, periodSeconds: number, failureThreshold: number): JsonObject {
  return {
    httpGet: { path, port, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
  };
}

/** appProbes: the original probes the sidecar serves on its admin port (see common/app-probes.ts). */
export function sidecarContainer(
  plan: Plan,
  portNames: readonly string[],
  appProbes?: AppProbesJson,
): Container {
  const transparent = plan.listeners.some((l) => l.mode === 'transparent');
  const env: JsonObject[] = [
    { name: Env.listeners, value: listenersValue(plan) },
    { name: Env.trustedCidrs, value: plan.trustedCidrs.join(',') },
    { name: Env.proxy, value: plan.proxy },
    { name: Env.adminPort, value: String(plan.adminPort) },
  ];
  if (plan.emit !== undefined) env.push({ name: Env.emit, value: plan.emit });
  if (appProbes !== undefined) env.push({ name: Env.appProbes, value: JSON.stringify(appProbes) });
  const c: Container = { name: SIDECAR_CONTAINER, image: plan.image };
  if (plan.imagePullPolicy !== undefined) c.imagePullPolicy = plan.imagePullPolicy;
  c.args = ['sidecar'];
  c.env = env;
  if (plan.steering === 'port') {
    c.ports = plan.listeners.map((l, i) => ({
      name: portNames[i]!,
      containerPort: l.listenPort,
      protocol: 'TCP',
    }));
  }
  const res = resources(plan.resources);
  if (res !== undefined) c.resources = res;
  // Capabilities added for a non-root user never become effective (no ambient capabilities, and
  // allowPrivilegeEscalation: false blocks file capabilities), so a sidecar with transparent
  // listeners runs as uid 0 with only NET_ADMIN + NET_RAW; every other sidecar is non-root.
  c.securityContext = {
    runAsUser: transparent ? 0 : plan.sidecarUid,
    runAsGroup: transparent ? 0 : plan.sidecarUid,
    runAsNonRoot: !transparent,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: transparent ? { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] } : { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  // startup gates the app (native sidecars): listeners are bound once /readyz answers 200.
  c.startupProbe = adminProbe(plan.adminPort, SidecarAdminPaths.readyz, 1, 60);
  c.readinessProbe = adminProbe(plan.adminPort, SidecarAdminPaths.readyz, 5, 3);
  c.livenessProbe = adminProbe(plan.adminPort, SidecarAdminPaths.healthz, 10, 3);
  if (plan.native) {
    c.restartPolicy = 'Always';
  } else {
    // Regular containers start in order and the kubelet waits for postStart before the next one:
    // the app starts only once the sidecar answers on its admin port.
    c.lifecycle = { postStart: { exec: { command: [...SIDECAR_WAIT_COMMAND] } } };
  }
  return c;
}

export function initContainer(plan: Plan): Container {
  const env: JsonObject[] = [{ name: Env.listeners, value: listenersValue(plan) }];
  if (plan.redirectFrom.length > 0) env.push({ name: Env.redirectFrom, value: plan.redirectFrom.join(',') });
  const c: Container = { name: INIT_CONTAINER, image: plan.image };
  if (plan.imagePullPolicy !== undefined) c.imagePullPolicy = plan.imagePullPolicy;
  c.args = ['init'];
  c.env = env;
  const res = resources(plan.resources);
  if (res !== undefined) c.resources = res;
  c.securityContext = {
    runAsUser: 0,
    runAsGroup: 0,
    runAsNonRoot: false,
    // iptables takes its lock under /run: the root filesystem stays writable for this short run.
    readOnlyRootFilesystem: false,
    allowPrivilegeEscalation: false,
    privileged: false,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
  return c;
}
