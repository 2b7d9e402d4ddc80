/**
 * Looking inside the node for what the API does not show: a pod's network namespace (its iptables
 * rules), its containers' cgroups (memory use against the limit), its sandbox process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { K8sObject } from './apps.ts';
import { run } from './cluster.ts';

const CGROUP = '/sys/fs/cgroup';

function containerId(pod: K8sObject, name: string): string {
  const all = [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])];
  const s = all.find((c: { name: string }) => c.name === name);
  const id = (s?.containerID as string | undefined)?.replace(/^containerd:\/\//, '');
  if (!id) throw new Error(`no container id for ${name} in pod ${pod.metadata.name}`);
  return id;
}

/** The pod's cgroup directory in a v1 controller hierarchy (kubelet cgroupfs driver). */
export function podCgroup(controller: string, pod: K8sObject): string {
  const uid = pod.metadata.uid as string;
  for (const qos of ['', 'burstable', 'besteffort']) {
    const dir = join(CGROUP, controller, 'kubepods', qos, `pod${uid}`);
    try {
      readdirSync(dir);
      return dir;
    } catch {
      // next QoS class
    }
  }
  throw new Error(`no ${controller} cgroup for pod ${pod.metadata.name} (${uid})`);
}

export function containerCgroup(controller: string, pod: K8sObject, container: string): string {
  return join(podCgroup(controller, pod), containerId(pod, container));
}

/** The first process of a container (from its pids cgroup). */
export function containerPid(pod: K8sObject, container: string): number {
  const procs = readFileSync(join(containerCgroup('pids', pod, container), 'cgroup.procs'), 'utf8')
    .trim()
    .split('\n');
  const pid = Number(procs[0]);
  if (!(pid > 0)) throw new Error(`no process in container ${container} of ${pod.metadata.name}`);
  return pid;
}

/** Pids of the pod sandbox (the cgroup of the pod that is none of its containers'). */
export function sandboxPids(pod: K8sObject): number[] {
  const dir = podCgroup('pids', pod);
  const known = new Set(
    [...(pod.status.initContainerStatuses ?? []), ...(pod.status.containerStatuses ?? [])]
      .map((c: { containerID?: string }) => c.containerID?.replace(/^containerd:\/\//, ''))
      .filter(Boolean),
  );
  const sandbox = readdirSync(dir, { withFileTypes: true }).filter(
    (d) => d.isDirectory() && !known.has(d.name),
  );
  return sandbox.flatMap((d) => {
    let procs: string;
    try {
      procs = readFileSync(join(dir, d.name, 'cgroup.procs'), 'utf8');
    } catch (err: unknown) {
      // A container that exited a moment ago (not in the pod's status any more) has its cgroup
      // removed between readdir and read: it holds no process, so nothing of the sandbox is lost.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return procs.trim().split('\n').filter(Boolean).map(Number);
  });
}

/** iptables-save of the pod's network namespace (entered through one of its processes). */
export async function podIptables(pod: K8sObject, container: string): Promise<string> {
  const pid = containerPid(pod, container);
  const r = await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'iptables-save']);
  if (r.code !== 0) throw new Error(`iptables-save in pod ${pod.metadata.name}: ${r.stderr}`);
  return r.stdout;
}

export function memoryStats(
  pod: K8sObject,
  container: string,
): { usage: number; max: number; limit: number; oom: string } {
  const dir = containerCgroup('memory', pod, container);
  const num = (f: string) => Number(readFileSync(join(dir, f), 'utf8').trim());
  return {
    usage: num('memory.usage_in_bytes'),
    max: num('memory.max_usage_in_bytes'),
    limit: num('memory.limit_in_bytes'),
    oom: readFileSync(join(dir, 'memory.oom_control'), 'utf8'),
  };
}
