/**
 * What the test cluster may leave on the host, measured before it starts and after it stops:
 * network namespaces, mounts, cgroups, processes in our tracking cgroup, the host namespace's
 * iptables rules, and the fixed paths the kubelet and containerd use. teardown fails the run when
 * anything differs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { STATE } from './cluster.ts';

export interface HostSnapshot {
  readonly netns: string[];
  readonly mounts: string[];
  readonly cgroups: string[];
  readonly iptables: string;
  readonly paths: string[];
}

const FIXED_PATHS = [
  '/var/lib/kubelet',
  '/var/log/containers',
  '/var/log/pods',
  '/run/containerd',
  '/var/lib/cni',
];
const OUR_NETNS = /^(realip-node|realip-edge|realip-client|cni-.*)$/;

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** The host network namespace's rules, without counters (they change on their own). */
function iptablesRules(): string {
  return ['iptables-save', 'ip6tables-save']
    .map((c) =>
      sh(c, [])
        .split('\n')
        .filter((l) => !l.startsWith('#'))
        .map((l) => l.replace(/\[\d+:\d+\]/g, ''))
        .join('\n'),
    )
    .join('\n');
}

export function snapshot(): HostSnapshot {
  const netns = existsSync('/run/netns') ? readdirSync('/run/netns').filter((n) => OUR_NETNS.test(n)) : [];
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(STATE) || /^\/run\/(containerd|netns\/cni-)|^\/var\/lib\/kubelet/.test(m));
  const cgroups: string[] = [];
  for (const ctl of readdirSync('/sys/fs/cgroup')) {
    for (const name of ['kubepods', 'kubepods.slice', 'realip-cluster']) {
      if (existsSync(`/sys/fs/cgroup/${ctl}/${name}`)) cgroups.push(`/sys/fs/cgroup/${ctl}/${name}`);
    }
  }
  const paths = [STATE, ...FIXED_PATHS].filter((p) => existsSync(p));
  return { netns, mounts, cgroups, iptables: iptablesRules(), paths };
}

/** Human-readable differences between two snapshots (empty: nothing left behind). */
export function leftovers(before: HostSnapshot, after: HostSnapshot): string[] {
  const out: string[] = [];
  for (const k of ['netns', 'mounts', 'cgroups', 'paths'] as const) {
    for (const x of after[k].filter((y) => !before[k].includes(y))) out.push(`${k}: ${x}`);
  }
  if (after.iptables !== before.iptables) out.push('iptables: the host namespace rules changed');
  return out;
}
