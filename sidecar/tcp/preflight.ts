/**
 * Start checks for a transparent listener. Without the capability, every connection would fail
 * with EPERM; without the policy routing, the app's replies to the client's address would leave
 * the pod instead of coming back to us, and every connection would hang until the connect timeout.
 * Both are cheap to check once, so the sidecar refuses to start and says what to fix.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Defaults } from '../../common/contract.ts';
import type { ErrorCode } from '../../common/error-codes/registry.ts';
import { RealipError } from '../../common/errors.ts';

/** capabilities(7) bit numbers. IP_TRANSPARENT needs either (ip(7)). */
export const CAP_NET_ADMIN = 12;
export const CAP_NET_RAW = 13;

export interface PreflightSystem {
  /** Contents of /proc/self/status. */
  procStatus(): string;
  /** Does this network namespace have IPv6 (a non-empty /proc/net/if_inet6)? */
  ipv6(): boolean;
  /** Runs `ip ARGS` and returns stdout; rejects when ip cannot run. */
  ip(args: readonly string[]): Promise<string>;
  /** Live probe: undefined when IP_TRANSPARENT can be set, else an errno code. */
  probe?(family: 4 | 6): string | undefined;
}

export function systemPreflight(probe?: (family: 4 | 6) => string | undefined): PreflightSystem {
  return {
    procStatus: () => readFileSync('/proc/self/status', 'utf8'),
    ipv6: () => {
      try {
        return readFileSync('/proc/net/if_inet6', 'utf8').trim() !== '';
      } catch {
        return false;
      }
    },
    ip: (args) =>
      new Promise((resolve, reject) => {
        execFile('ip', [...args], { timeout: 5000 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      }),
    ...(probe ? { probe } : {}),
  };
}

/** Effective capability set from /proc/self/status (CapEff: hex mask). */
export function effectiveCaps(status: string): bigint {
  const m = /^CapEff:\s*([0-9a-fA-F]+)\s*$/m.exec(status);
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function hasCap(caps: bigint, bit: number): boolean {
  return ((caps >> BigInt(bit)) & 1n) === 1n;
}

/** `ip [-6] rule show` has "from 127.0.0.1/8 iif lo lookup TABLE" (from ::1 for v6). */
export function hasLoopbackRule(ruleShow: string, family: 4 | 6, table: number): boolean {
  const from = family === 4 ? '127\\.0\\.0\\.1/8' : '::1(?:/128)?';
  return new RegExp(`\\sfrom ${from} (?:\\S+ \\S+ )*?iif lo (?:\\S+ \\S+ )*?lookup ${table}\\b`).test(
    ` ${ruleShow.replace(/\s+/g, ' ')}`,
  );
}

/** `ip [-6] route show table TABLE` has "local default dev lo" (or local 0.0.0.0/0, ::/0). */
export function hasLocalDefaultRoute(routeShow: string): boolean {
  return /^local (?:default|0\.0\.0\.0\/0|::\/0) dev lo\b/m.test(routeShow);
}

export function fixCommands(table: number, ipv6: boolean): string[] {
  const v4 = [
    `ip rule add from 127.0.0.1/8 iif lo table ${table}`,
    `ip route add local 0.0.0.0/0 dev lo table ${table}`,
  ];
  const v6 = [
    `ip -6 rule add from ::1/128 iif lo table ${table}`,
    `ip -6 route add local ::/0 dev lo table ${table}`,
  ];
  return ipv6 ? [...v4, ...v6] : v4;
}

/**
 * Throws a RealipError naming everything missing (TCP_NO_CAPABILITY when the capability is among
 * them, else TCP_ROUTING_MISSING; TCP_ROUTING_UNCHECKED when `ip` cannot be run).
 */
export async function transparentPreflight(
  sys: PreflightSystem,
  table: number = Defaults.transparentRouteTable,
): Promise<void> {
  const problems: string[] = [];
  let code: ErrorCode | undefined;
  const caps = effectiveCaps(sys.procStatus());
  const probeError = sys.probe?.(4);
  if ((!hasCap(caps, CAP_NET_ADMIN) && !hasCap(caps, CAP_NET_RAW)) || probeError !== undefined) {
    code = 'TCP_NO_CAPABILITY';
    problems.push(
      `the capability NET_ADMIN or NET_RAW is not effective (CapEff ${caps.toString(16)}` +
        `${probeError ? `, setsockopt(IP_TRANSPARENT): ${probeError}` : ''}); add it to the sidecar's ` +
        'securityContext.capabilities.add, and run it as uid 0 (Kubernetes gives a non-root process ' +
        'no ambient capabilities, so an added capability is not effective for uid 1337)',
    );
  }
  const ipv6 = sys.ipv6();
  const families: (4 | 6)[] = ipv6 ? [4, 6] : [4];
  for (const family of families) {
    const flag = family === 4 ? '-4' : '-6';
    let rules: string;
    try {
      rules = await sys.ip([flag, 'rule', 'show']);
    } catch (err: unknown) {
      throw new RealipError(
        'TCP_ROUTING_UNCHECKED',
        `cannot check the transparent policy routing: "ip ${flag} rule show" failed ` +
          `(${err instanceof Error ? err.message : String(err)}); the sidecar image needs iproute2`,
        { cause: err },
      );
    }
    // A table that was never created makes `ip route show table N` fail: that is "no route".
    const routes = await sys.ip([flag, 'route', 'show', 'table', String(table)]).catch(() => '');
    const from = family === 4 ? '127.0.0.1/8' : '::1';
    if (!hasLoopbackRule(rules, family, table)) {
      problems.push(`missing policy rule (ip ${flag} rule): "from ${from} iif lo lookup ${table}"`);
    }
    if (!hasLocalDefaultRoute(routes)) {
      problems.push(`missing route (ip ${flag} route show table ${table}): "local default dev lo"`);
    }
  }
  if (problems.length === 0) return;
  const routing = problems.some((p) => p.startsWith('missing'));
  const fix = routing
    ? `\nrealip init installs the routing (the webhook adds it as the init container); by hand, as root in the pod's network namespace:\n    ${fixCommands(table, ipv6).join('\n    ')}`
    : '';
  throw new RealipError(
    code ?? 'TCP_ROUTING_MISSING',
    `transparent mode cannot work here:\n  - ${problems.join('\n  - ')}${fix}`,
  );
}
