/**
 * `realip check`: with the user's kubeconfig, one line per check (pass, fail, warn, skip) and a
 * non-zero exit when any check fails. The only check file that touches process.*.
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { Command } from '../../common/command.ts';
import { exitStatus } from '../../common/error-codes/registry.ts';
import { codeLine } from '../../common/errors.ts';
import { runChecks } from '../../webhook/check/checks.ts';
import { CHECK_USAGE, type CheckConfig, parseCheckConfig } from '../../webhook/check/config.ts';
import { formatResults } from '../../webhook/check/report.ts';

export const command: Command<CheckConfig> = {
  name: 'check',
  help: CHECK_USAGE,
  helpOnError: true,
  parse: parseCheckConfig,
  async run(config, io) {
    const kc = new KubeConfig();
    try {
      const file = config.kubeconfig;
      if (file !== undefined && !file.includes(':')) kc.loadFromFile(file);
      else kc.loadFromDefault();
      if (config.context !== undefined) kc.setCurrentContext(config.context);
      if (!kc.getCurrentCluster()) throw new Error('no current cluster in the kubeconfig');
    } catch (err: unknown) {
      io.stderr(
        codeLine(
          'check',
          'CHK_KUBECONFIG_INVALID',
          `cannot load the kubeconfig: ${err instanceof Error ? err.message : String(err)}`,
        ),
      );
      return exitStatus('CHK_KUBECONFIG_INVALID');
    }
    const results = await runChecks({
      kc,
      configName: config.configName,
      webhookUrl: config.webhookUrl,
      tlsSecretName: config.tlsSecretName,
      dryRunNamespace: config.dryRunNamespace,
      minValidityDays: config.minValidityDays,
      timeoutMs: config.timeoutMs,
      now: () => new Date(),
    });
    io.stdout(`${formatResults(results)}\n`);
    const code = results.some((r) => r.status === 'fail') ? 1 : 0;
    // A server that accepted a connection and never answered keeps its socket (and so this process)
    // alive after our own timeout gave up on it: exit anyway once the report is out. unref(): when
    // nothing else is pending the process ends on its own and this never fires.
    setTimeout(() => process.exit(code), 1000).unref();
    return code;
  },
};
