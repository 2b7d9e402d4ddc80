/**
 * The sidecar's own ports and uid: pure. The sidecar shares the pod's network stack, so its
 * listener and admin ports must be ports no container of the pod declares; they are picked from the
 * configured bases upwards, stepping over what is taken, instead of denying the pod.
 */
import type { Pod } from './pod.ts';

export interface SidecarPorts {
  readonly admin: number;
  readonly listeners: readonly number[];
}

/**
 * The admin port: the first free port from `adminBase`. Listeners: `count` free ports from
 * `listenerBase`, never the admin port. Returns a problem when the port space runs out.
 */
export function assignSidecarPorts(
  count: number,
  used: ReadonlySet<number>,
  listenerBase: number,
  adminBase: number,
): SidecarPorts | string {
  let admin = adminBase;
  while (used.has(admin) && admin <= 65535) admin++;
  if (admin > 65535) return `no free port from ${adminBase} for the sidecar's admin port`;
  const listeners: number[] = [];
  for (let port = listenerBase; listeners.length < count && port <= 65535; port++) {
    if (port !== admin && !used.has(port)) listeners.push(port);
  }
  if (listeners.length < count)
    return `no ${count} free ports from ${listenerBase} for the sidecar's listeners`;
  return { admin, listeners };
}

/** Uids (and gids) the pod's own containers run as: the sidecar must not share one. */
export function declaredUids(pod: Pod): Set<number> {
  const out = new Set<number>();
  const add = (sc: unknown) => {
    if (typeof sc !== 'object' || sc === null) return;
    const { runAsUser, runAsGroup, fsGroup } = sc as Record<string, unknown>;
    for (const v of [runAsUser, runAsGroup, fsGroup]) if (typeof v === 'number') out.add(v);
  };
  add(pod.spec.securityContext);
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) add(c.securityContext);
  return out;
}

/** `base`, or the next uid no container of the pod runs as. */
export function chooseSidecarUid(pod: Pod, base: number): number {
  const taken = declaredUids(pod);
  let uid = base;
  while (taken.has(uid)) uid++;
  return uid;
}
