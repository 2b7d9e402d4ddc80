/**
 * What `realip init` does: steer the pod's traffic into the sidecar (redirect mode). Runs in an
 * init container with NET_ADMIN in the pod's network namespace; reads the same REALIP_LISTENERS as
 * the sidecar (cli/commands/init.ts parses them).
 */
import { Defaults } from '../../common/contract.ts';
import type { Io } from '../../common/command.ts';
import type { IpFamily } from '../../common/ip.ts';
import { createLogger } from '../../common/logger.ts';
import { type Action, planActions, renderActions, runActions } from './apply.ts';
import { chooseBackend, noCapability } from './backend.ts';
import { cleanupActions } from './cleanup.ts';
import type { SteeringConfig } from './config.ts';
import { planSteering, renderInstall } from './plan.ts';
import type { System } from './system.ts';

/** Installs (or removes) the steering of `config`; with --dry-run prints the plan instead. */
export async function executeSteering(config: SteeringConfig, sys: System, io: Io): Promise<number> {
  const log = createLogger('realip-init', config.logLevel);
  const families: IpFamily[] = sys.hasIPv6() ? [4, 6] : [4];
  if (families.length === 1) log.info('ipv6 is disabled in this network namespace: ipv4 only');
  const plan = planSteering({ listeners: config.listeners, redirectFrom: config.redirectFrom, families });
  const verb = config.cleanup ? 'cleanup' : 'install';

  if (sys.hasNetAdmin() === false) {
    if (!config.dryRun) throw noCapability('', '');
    // Without the capability the current rules cannot be read: show the plan for a fresh namespace.
    const actions: Action[] = config.cleanup
      ? []
      : [
          ...plan.families.map(
            (fp): Action => ({
              kind: 'restore',
              family: fp.family,
              tool: `ip${fp.family === 6 ? '6' : ''}tables-restore`,
              text: renderInstall(fp, true),
            }),
          ),
          ...plan.families.flatMap((fp): Action[] =>
            fp.routing
              ? [
                  { kind: 'ip', family: fp.family, argv: fp.routing.rule },
                  { kind: 'ip', family: fp.family, argv: fp.routing.route },
                ]
              : [],
          ),
        ];
    io.stdout(
      `# realip init --dry-run (${verb}): nothing was changed\n` +
        '# no CAP_NET_ADMIN: the current rules could not be read; this is the plan for a fresh pod network namespace\n' +
        renderActions(actions),
    );
    return 0;
  }

  let actions: Action[];
  let backendNote: string;
  if (config.cleanup) {
    actions = await cleanupActions(sys, config.backend, families, plan.chain, plan.table);
    backendNote = config.backend === 'auto' ? 'auto: every installed backend searched' : config.backend;
  } else {
    const tools = await chooseBackend(sys, config.backend, families);
    backendNote = `${tools.backend} (${tools.reason})`;
    actions = await planActions(sys, plan, tools);
  }
  if (config.dryRun) {
    io.stdout(
      `# realip init --dry-run (${verb}): nothing was changed\n# iptables backend: ${backendNote}\n${renderActions(actions)}`,
    );
    return 0;
  }
  await runActions(sys, sys.which('ip'), actions, log);
  log.info(
    {
      backend: backendNote,
      listeners: config.listeners.length,
      chain: Defaults.iptablesChain,
      actions: actions.length,
    },
    config.cleanup ? 'steering removed' : 'steering installed',
  );
  log.flush();
  return 0;
}
