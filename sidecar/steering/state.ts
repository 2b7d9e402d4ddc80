/**
 * Reading what is installed now (iptables-save, `iptables -C`, `ip rule`, `ip route`), and the pure
 * parsing and conflict checks on that text.
 */
import { RealipError } from '../../common/errors.ts';
import type { IpFamily } from '../../common/ip.ts';
import { type FamilyTools, noCapability, saveFailed } from './backend.ts';
import { jumpRule, routingPlan } from './plan.ts';
import type { System } from './system.ts';

export interface NatTable {
  /** Chain names declared in the nat table, builtin and user. */
  readonly chains: ReadonlySet<string>;
  /** Rules per chain, in iptables-save form ("-A CHAIN ..."), in order. */
  readonly rules: ReadonlyMap<string, readonly string[]>;
}

export interface IptablesState {
  readonly family: IpFamily;
  readonly tools: FamilyTools;
  readonly nat: NatTable;
  readonly chainExists: boolean;
  /** From `iptables -t nat -C PREROUTING -j CHAIN`. */
  readonly jumpPresent: boolean;
  /** How many identical jumps iptables-save shows (cleanup deletes each). */
  readonly jumpCount: number;
}

export interface RoutingState {
  readonly family: IpFamily;
  readonly rules: number;
  readonly route: boolean;
}

/** Parses the *nat section of iptables-save output. */
export function parseNat(saveText: string): NatTable {
  const chains = new Set<string>();
  const rules = new Map<string, string[]>();
  let inNat = false;
  for (const line of saveText.split('\n')) {
    if (line.startsWith('*')) {
      inNat = line === '*nat';
      continue;
    }
    if (!inNat) continue;
    if (line === 'COMMIT') {
      inNat = false;
      continue;
    }
    const decl = /^:(\S+) /.exec(line);
    if (decl) {
      chains.add(decl[1]!);
      continue;
    }
    const rule = /^-A (\S+) /.exec(line);
    if (rule) {
      const list = rules.get(rule[1]!) ?? [];
      list.push(line);
      rules.set(rule[1]!, list);
    }
  }
  return { chains, rules };
}

/** Whether a rule (iptables-save form) matches tcp destination port `port` (or every port). */
function coversPort(rule: string, port: number): boolean {
  const proto = /(?:^| )-p (\S+)/.exec(rule)?.[1];
  if (proto !== undefined && proto !== 'tcp' && proto !== '6') return false;
  if (/ ! --dports? /.test(rule)) return true; // a negated port match: assume it may cover ours
  const single = / --dport (\d+)(?::(\d+))?(?: |$)/.exec(rule);
  if (single)
    return inRange(port, Number(single[1]), single[2] === undefined ? Number(single[1]) : Number(single[2]));
  const multi = / --dports (\S+)/.exec(rule);
  if (multi) {
    return multi[1]!.split(',').some((part) => {
      const [a, b] = part.split(':');
      return inRange(port, Number(a), b === undefined ? Number(a) : Number(b));
    });
  }
  return true;
}

function inRange(port: number, lo: number, hi: number): boolean {
  return port >= lo && port <= hi;
}

const STEALING_TARGETS = / -j (REDIRECT|DNAT|TPROXY)(?: |$)/;

/**
 * Rules that would take our app ports before our chain sees them: REDIRECT/DNAT rules in PREROUTING
 * ahead of our jump (all of PREROUTING when the jump is still to be appended), including those in
 * user chains that PREROUTING jumps to first.
 */
export function findConflicts(nat: NatTable, chain: string, appPorts: readonly number[]): string[] {
  const found: string[] = [];
  const prerouting = nat.rules.get('PREROUTING') ?? [];
  const ours = prerouting.indexOf(jumpRule(chain));
  const before = ours === -1 ? prerouting : prerouting.slice(0, ours);
  const visit = (rules: readonly string[], seen: Set<string>) => {
    for (const rule of rules) {
      const target = / -j (\S+)/.exec(rule)?.[1];
      if (target === undefined || target === chain) continue;
      if (STEALING_TARGETS.test(rule)) {
        if (appPorts.some((p) => coversPort(rule, p))) found.push(rule);
      } else if (nat.chains.has(target) && !seen.has(target) && appPorts.some((p) => coversPort(rule, p))) {
        seen.add(target);
        visit(nat.rules.get(target) ?? [], seen);
      }
    }
  };
  visit(before, new Set(['PREROUTING']));
  return found;
}

export async function readIptables(sys: System, tools: FamilyTools, chain: string): Promise<IptablesState> {
  // Without `-t nat`: the legacy save then lists only tables that exist, instead of creating the nat
  // table in this namespace just by looking at it (cleanup must leave no trace).
  const saved = await sys.run(tools.save, []);
  if (saved.code !== 0) throw saveFailed(tools.save, saved.stderr);
  const nat = parseNat(saved.stdout);
  const chainExists = nat.chains.has(chain);
  const jumpCount = (nat.rules.get('PREROUTING') ?? []).filter((r) => r === jumpRule(chain)).length;
  let jumpPresent = false;
  if (chainExists) {
    const c = await sys.run(tools.cmd, ['-w', '-t', 'nat', '-C', 'PREROUTING', '-j', chain]);
    if (c.code === 0) jumpPresent = true;
    else if (c.code !== 1) {
      if (/permission denied|you must be root/i.test(c.stderr)) throw noCapability(tools.cmd, c.stderr);
      throw new RealipError(
        'STEER_READ_FAILED',
        `${tools.cmd} -t nat -C PREROUTING -j ${chain} failed: ${c.stderr.trim()}`,
      );
    }
  }
  return { family: tools.family, tools, nat, chainExists, jumpPresent, jumpCount };
}

export async function readRouting(
  sys: System,
  ip: string,
  family: IpFamily,
  table: number,
): Promise<RoutingState> {
  const plan = routingPlan(family, table);
  // "ip -4 rule list from 127.0.0.1/8 iif lo table N": the selector of the rule we add.
  const ruleSelector = plan.rule.slice(3);
  const rules = await sys.run(ip, [plan.rule[0]!, 'rule', 'list', ...ruleSelector]);
  if (rules.code !== 0) throw routeFailed(`ip ${plan.rule[0]} rule list`, rules.stderr);
  const routes = await sys.run(ip, [plan.rule[0]!, 'route', 'show', 'table', String(table)]);
  // A table that was never used does not exist yet: same as empty.
  if (routes.code !== 0 && !/does not exist/i.test(routes.stderr)) {
    throw routeFailed(`ip ${plan.rule[0]} route show table ${table}`, routes.stderr);
  }
  return {
    family,
    rules: rules.stdout.split('\n').filter((l) => l.trim() !== '').length,
    route: /^local (?:default|0\.0\.0\.0\/0|::\/0) dev lo\b/m.test(routes.stdout),
  };
}

export function routeFailed(command: string, stderr: string): RealipError {
  if (/operation not permitted|permission denied/i.test(stderr)) return noCapability('ip', stderr);
  return new RealipError('STEER_ROUTE_FAILED', `${command} failed: ${stderr.trim() || 'no message'}`);
}
