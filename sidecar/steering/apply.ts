/**
 * Applying a plan: read the state, work out the actions that bring it to the plan, run them (or
 * print them for --dry-run). Each family's iptables change is one `iptables-restore --noflush`
 * transaction: our chain is declared, emptied and refilled in it, and the PREROUTING jump is added in
 * the same transaction only if `iptables -C` did not find it. Running it again therefore leaves the
 * same rules (kubelet re-runs init containers). The policy routing is made to match the plan: added
 * when missing, removed when no transparent listener needs it any more.
 */
import { RealipError } from '../../common/errors.ts';
import type { IpFamily } from '../../common/ip.ts';
import type { Logger } from '../../common/logger.ts';
import { noCapability, type Tools } from './backend.ts';
import { renderInstall, type SteeringPlan } from './plan.ts';
import {
  findConflicts,
  type IptablesState,
  type RoutingState,
  readIptables,
  readRouting,
  routeFailed,
} from './state.ts';
import type { System } from './system.ts';

export type Action =
  | { readonly kind: 'restore'; readonly family: IpFamily; readonly tool: string; readonly text: string }
  | { readonly kind: 'ip'; readonly family: IpFamily; readonly argv: readonly string[] };

/** Pure: the actions that install `plan` over the given state. */
export function installActions(
  plan: SteeringPlan,
  tables: readonly IptablesState[],
  routing: readonly RoutingState[],
): Action[] {
  const actions: Action[] = [];
  for (const fp of plan.families) {
    const st = tables.find((s) => s.family === fp.family);
    if (!st) continue;
    actions.push({
      kind: 'restore',
      family: fp.family,
      tool: st.tools.restore,
      text: renderInstall(fp, !st.jumpPresent),
    });
  }
  for (const fp of plan.families) {
    const rs = routing.find((r) => r.family === fp.family);
    if (fp.routing) {
      if (!rs || rs.rules === 0) actions.push({ kind: 'ip', family: fp.family, argv: fp.routing.rule });
      if (!rs?.route) actions.push({ kind: 'ip', family: fp.family, argv: fp.routing.route });
    } else if (rs) {
      actions.push(...removeRouting(rs, plan.table));
    }
  }
  return actions;
}

/** Pure: the `ip` commands that remove our rule(s) and route of one family. */
export function removeRouting(rs: RoutingState, table: number): Action[] {
  const actions: Action[] = [];
  const f = rs.family === 4 ? '-4' : '-6';
  const from = rs.family === 4 ? '127.0.0.1/8' : '::1/128';
  const all = rs.family === 4 ? '0.0.0.0/0' : '::/0';
  for (let i = 0; i < rs.rules; i++) {
    actions.push({
      kind: 'ip',
      family: rs.family,
      argv: [f, 'rule', 'del', 'from', from, 'iif', 'lo', 'table', String(table)],
    });
  }
  if (rs.route) {
    actions.push({
      kind: 'ip',
      family: rs.family,
      argv: [f, 'route', 'del', 'local', all, 'dev', 'lo', 'table', String(table)],
    });
  }
  return actions;
}

/** The actions as a shell-like script: what --dry-run prints and what the logs show. */
export function renderActions(actions: readonly Action[]): string {
  const out: string[] = [];
  for (const a of actions) {
    if (a.kind === 'restore') {
      out.push(`${basename(a.tool)} --noflush <<'EOF'`, a.text.trimEnd(), 'EOF');
    } else {
      out.push(`ip ${a.argv.join(' ')}`);
    }
  }
  return out.length === 0 ? '# nothing to do\n' : `${out.join('\n')}\n`;
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

export async function runActions(
  sys: System,
  ip: string | undefined,
  actions: readonly Action[],
  log: Logger,
) {
  for (const a of actions) {
    if (a.kind === 'restore') {
      const r = await sys.run(a.tool, ['-w', '--noflush'], a.text);
      if (r.code !== 0) {
        if (/permission denied|you must be root|operation not permitted/i.test(r.stderr)) {
          throw noCapability(basename(a.tool), r.stderr);
        }
        throw new RealipError(
          'STEER_APPLY_FAILED',
          `${basename(a.tool)} --noflush failed (nothing of this transaction was applied): ${r.stderr.trim()}\n` +
            `input was:\n${a.text}`,
        );
      }
      log.info({ family: a.family, tool: basename(a.tool) }, 'iptables rules applied');
    } else {
      if (ip === undefined) throw missingIp();
      const r = await sys.run(ip, a.argv);
      if (r.code !== 0) throw routeFailed(`ip ${a.argv.join(' ')}`, r.stderr);
      log.info({ family: a.family, command: `ip ${a.argv.join(' ')}` }, 'routing changed');
    }
  }
}

export function missingIp(): RealipError {
  return new RealipError(
    'STEER_IP_MISSING',
    'ip not found in PATH: transparent listeners need the policy routing that `ip` installs ' +
      '(Debian: apt-get install iproute2; Alpine: apk add iproute2)',
  );
}

export interface Installed {
  readonly actions: readonly Action[];
}

/** Reads the state and computes the install actions; throws STEER_CONFLICT when rules are in the way. */
export async function planActions(sys: System, plan: SteeringPlan, tools: Tools): Promise<Action[]> {
  const tables: IptablesState[] = [];
  for (const ft of tools.families) {
    const st = await readIptables(sys, ft, plan.chain);
    const conflicts = findConflicts(st.nat, plan.chain, plan.appPorts);
    if (conflicts.length > 0) {
      throw new RealipError(
        'STEER_CONFLICT',
        `IPv${ft.family} nat PREROUTING already redirects an intercepted port before realip's chain ` +
          `(${basename(ft.save)} -t nat shows: ${conflicts.map((c) => `"${c}"`).join(', ')}); ` +
          'remove that rule or stop intercepting the port',
      );
    }
    tables.push(st);
  }
  const ip = sys.which('ip');
  const needsRouting = plan.families.some((f) => f.routing !== undefined);
  const routing: RoutingState[] = [];
  if (ip === undefined) {
    if (needsRouting) throw missingIp();
  } else {
    for (const ft of tools.families) routing.push(await readRouting(sys, ip, ft.family, plan.table));
  }
  return installActions(plan, tables, routing);
}
