/**
 * The steering plan: pure functions from the listener contract to the exact iptables-restore text
 * (IPv4 and IPv6) and `ip` commands that `realip init` applies. No I/O here; apply.ts reads the
 * current state and decides which parts of the plan still have to run.
 *
 * What is installed, per family, in the nat table:
 *
 *   :REALIP_PREROUTING - [0:0]          our own chain (declaring it in a --noflush restore creates
 *   -F REALIP_PREROUTING                 it or empties it: re-running replaces the content)
 *   -A REALIP_PREROUTING [-s CIDR] ! -i lo -p tcp -m tcp --dport APP -j REDIRECT --to-ports LISTEN
 *   -A PREROUTING -j REALIP_PREROUTING  the jump, added only when absent
 *
 * PREROUTING sees only packets that arrive on an interface; the sidecar's own connections to the app
 * (127.0.0.1:APP) are locally generated and go through OUTPUT, so they are never redirected. The
 * `! -i lo` matters for the transparent hop: its connection from the client's address to
 * 127.0.0.1:APP leaves through lo and comes back IN on lo, through PREROUTING; without the match it
 * would be redirected back into the sidecar. Rules are written exactly as iptables-save prints them,
 * so the installed rules can be compared with the plan line by line.
 *
 * For transparent listeners, the policy routing that delivers the app's replies (from 127.0.0.1 to
 * the client's address) back to the sidecar's transparent socket instead of the default route:
 *   ip -4 rule add from 127.0.0.1/8 iif lo table 15100 ; ip -4 route add local 0.0.0.0/0 dev lo table 15100
 *   ip -6 rule add from ::1/128 iif lo table 15100     ; ip -6 route add local ::/0 dev lo table 15100
 */
import type { Cidr } from '../../common/cidr.ts';
import { Defaults, type ListenerSpec } from '../../common/contract.ts';
import { formatIPv4, formatIPv6, type IpFamily } from '../../common/ip.ts';

export interface PlanInput {
  readonly listeners: readonly ListenerSpec[];
  readonly redirectFrom: readonly Cidr[];
  readonly families?: readonly IpFamily[];
  readonly chain?: string;
  readonly table?: number;
}

/** The `ip` rule and route of one family, as argv after `ip`. */
export interface RoutingPlan {
  readonly rule: readonly string[];
  readonly route: readonly string[];
}

export interface FamilyPlan {
  readonly family: IpFamily;
  readonly chain: string;
  /** Rules of our chain, in iptables-save form. */
  readonly chainRules: readonly string[];
  /** The PREROUTING jump, in iptables-save form. */
  readonly jumpRule: string;
  /** Present when a transparent listener needs the reply routing. */
  readonly routing: RoutingPlan | undefined;
}

export interface SteeringPlan {
  readonly chain: string;
  readonly table: number;
  readonly families: readonly FamilyPlan[];
  /** App ports that are redirected (for conflict detection). */
  readonly appPorts: readonly number[];
}

export function planSteering(input: PlanInput): SteeringPlan {
  const chain = input.chain ?? Defaults.iptablesChain;
  const table = input.table ?? Defaults.transparentRouteTable;
  const families = input.families ?? [4, 6];
  const transparent = input.listeners.some((l) => l.mode === 'transparent');
  return {
    chain,
    table,
    appPorts: input.listeners.map((l) => l.appPort),
    families: families.map((family) => {
      const sources = input.redirectFrom.filter((c) => c.family === family).map(cidrText);
      // No redirect-from at all: every source. Redirect-from without a range of this family: none.
      const matches = input.redirectFrom.length === 0 ? [''] : sources.map((s) => `-s ${s} `);
      const chainRules: string[] = [];
      for (const l of input.listeners) {
        for (const m of matches) {
          chainRules.push(
            `-A ${chain} ${m}! -i lo -p tcp -m tcp --dport ${l.appPort} -j REDIRECT --to-ports ${l.listenPort}`,
          );
        }
      }
      return {
        family,
        chain,
        chainRules,
        jumpRule: jumpRule(chain),
        routing: transparent ? routingPlan(family, table) : undefined,
      };
    }),
  };
}

export function jumpRule(chain: string): string {
  return `-A PREROUTING -j ${chain}`;
}

export function routingPlan(family: IpFamily, table: number): RoutingPlan {
  return family === 4
    ? {
        rule: ['-4', 'rule', 'add', 'from', '127.0.0.1/8', 'iif', 'lo', 'table', String(table)],
        route: ['-4', 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', String(table)],
      }
    : {
        rule: ['-6', 'rule', 'add', 'from', '::1/128', 'iif', 'lo', 'table', String(table)],
        route: ['-6', 'route', 'add', 'local', '::/0', 'dev', 'lo', 'table', String(table)],
      };
}

/** iptables-save prints a source as the masked network and its prefix length. */
export function cidrText(c: Cidr): string {
  return `${c.family === 4 ? formatIPv4(c.bytes) : formatIPv6(c.bytes)}/${c.prefix}`;
}

/**
 * The iptables-restore input (for `--noflush`) that installs one family: declare and empty our
 * chain, fill it, and add the jump when it is not there yet. One restore is one transaction.
 */
export function renderInstall(fp: FamilyPlan, addJump: boolean): string {
  return [
    '*nat',
    `:${fp.chain} - [0:0]`,
    `-F ${fp.chain}`,
    ...fp.chainRules,
    ...(addJump ? [fp.jumpRule] : []),
    'COMMIT',
    '',
  ].join('\n');
}

/** The iptables-restore input (for `--noflush`) that removes our jumps and our chain. */
export function renderRemove(chain: string, jumps: number): string {
  const del = jumpRule(chain).replace(/^-A /, '-D ');
  return [
    '*nat',
    ...Array.from({ length: jumps }, () => del),
    `-F ${chain}`,
    `-X ${chain}`,
    'COMMIT',
    '',
  ].join('\n');
}
