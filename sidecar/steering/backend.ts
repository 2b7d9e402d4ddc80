/**
 * Which iptables backend to drive. A node's rules live either in nf_tables (iptables-nft) or in the
 * legacy x_tables (iptables-legacy); both are active in the kernel, so rules written with the other
 * backend still apply, but they are invisible to the other tool and confuse anyone debugging. Like
 * Istio and Linkerd we use the backend that already holds rules, and nft when neither does (the
 * default of current distributions). `--iptables-backend nft|legacy` forces one.
 */
import type { IpFamily } from '../../common/ip.ts';
import { RealipError } from '../../common/errors.ts';
import type { BackendChoice } from './config.ts';
import type { System } from './system.ts';

export type Backend = 'nft' | 'legacy';

export interface FamilyTools {
  readonly family: IpFamily;
  /** e.g. iptables-nft-save */
  readonly save: string;
  readonly restore: string;
  /** e.g. iptables-nft, for `-C` checks */
  readonly cmd: string;
}

export interface Tools {
  readonly backend: Backend;
  /** How the backend was chosen, for logs and the dry-run header. */
  readonly reason: string;
  readonly families: readonly FamilyTools[];
}

export function toolNames(backend: Backend, family: IpFamily): FamilyTools {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  return {
    family,
    save: `${base}-${backend}-save`,
    restore: `${base}-${backend}-restore`,
    cmd: `${base}-${backend}`,
  };
}

/** Resolves every binary to an absolute path, or fails naming the first one that is missing. */
export function resolveTools(
  sys: System,
  backend: Backend,
  families: readonly IpFamily[],
  reason: string,
): Tools {
  const resolved: FamilyTools[] = [];
  for (const family of families) {
    const names = toolNames(backend, family);
    const find = (name: string): string => {
      const p = sys.which(name);
      if (p === undefined) throw missing(name, sys.path);
      return p;
    };
    resolved.push({ family, save: find(names.save), restore: find(names.restore), cmd: find(names.cmd) });
  }
  return { backend, reason, families: resolved };
}

export function missing(name: string, path: string): RealipError {
  return new RealipError(
    'STEER_IPTABLES_MISSING',
    `${name} not found in PATH (${path || 'empty'}): realip init needs the iptables tools ` +
      '(Debian: apt-get install iptables; Alpine: apk add iptables ip6tables)',
  );
}

/** Number of rules and user chains in iptables-save output: how much a backend is in use. */
export function countRules(saveText: string): number {
  let n = 0;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('-A ')) n++;
    else if (/^:\S+ - /.test(line)) n++;
  }
  return n;
}

/**
 * Chooses the backend. For `auto`, reads every table with both backends' save tools (those that are
 * installed) and picks the one holding more rules; on a tie (usually: nothing anywhere) nft.
 */
export async function chooseBackend(
  sys: System,
  choice: BackendChoice,
  families: readonly IpFamily[],
): Promise<Tools> {
  if (choice !== 'auto') return resolveTools(sys, choice, families, `forced by --iptables-backend ${choice}`);
  const counts: Record<Backend, number | undefined> = { nft: undefined, legacy: undefined };
  for (const backend of ['nft', 'legacy'] as const) {
    let total = 0;
    for (const family of families) {
      const save = sys.which(toolNames(backend, family).save);
      if (save === undefined) {
        if (family === 4) break;
        continue;
      }
      const r = await sys.run(save, []);
      if (r.code !== 0) throw saveFailed(save, r.stderr);
      total += countRules(r.stdout);
      counts[backend] = total;
    }
  }
  const { nft, legacy } = counts;
  if (nft === undefined && legacy === undefined) {
    throw missing(`${toolNames('nft', 4).save} (or ${toolNames('legacy', 4).save})`, sys.path);
  }
  const pick: Backend =
    legacy !== undefined && (nft === undefined || legacy > nft)
      ? 'legacy'
      : nft !== undefined
        ? 'nft'
        : 'legacy';
  const reason = `auto: ${counts.nft ?? 'no'} nft rules/chains, ${counts.legacy ?? 'no'} legacy rules/chains`;
  return resolveTools(sys, pick, families, reason);
}

export function saveFailed(tool: string, stderr: string): RealipError {
  if (/permission denied|you must be root|operation not permitted/i.test(stderr))
    return noCapability(tool, stderr);
  return new RealipError('STEER_READ_FAILED', `${tool} failed: ${stderr.trim() || 'no message'}`);
}

export function noCapability(tool: string, detail: string): RealipError {
  return new RealipError(
    'STEER_NO_CAP',
    'realip init needs CAP_NET_ADMIN in the pod network namespace to change iptables rules and routes ' +
      '(add securityContext.capabilities.add: ["NET_ADMIN", "NET_RAW"] to the init container)' +
      (detail ? `; ${tool}: ${detail.trim()}` : ''),
  );
}
