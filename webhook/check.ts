/**
 * `realip check`: with the user's kubeconfig, one line per check (pass, fail, warn, skip) and a
 * non-zero exit when any check fails. The only check file that touches process.*.
 */
import { KubeConfig } from '@kubernetes/client-node';
import { exitStatus } from '../common/error-codes/registry.ts';
import { ConfigError, codeLine, codeText } from '../common/errors.ts';
import { attempt, collectOptions, type OptionSpec, reader, renderHelp } from '../common/options.ts';
import { type CheckResult, runChecks, type Status } from './check/checks.ts';

export const CHECK_OPTIONS: readonly OptionSpec[] = [
  { flag: 'kubeconfig', env: 'KUBECONFIG', help: 'kubeconfig file (default: ~/.kube/config or in-cluster)' },
  { flag: 'context', env: 'REALIP_CHECK_CONTEXT', help: 'kubeconfig context (default: the current one)' },
  {
    flag: 'config-name',
    env: 'REALIP_WEBHOOK_CONFIG_NAME',
    default: 'realip',
    help: "the MutatingWebhookConfiguration's name (the Helm release's full name)",
  },
  {
    flag: 'webhook-url',
    env: 'REALIP_CHECK_WEBHOOK_URL',
    help: 'reach the webhook here instead (e.g. https://127.0.0.1:8443/mutate after kubectl port-forward)',
  },
  {
    flag: 'tls-secret-name',
    env: 'REALIP_TLS_SECRET_NAME',
    help: 'Secret with the serving certificate when it is reached through the Service (default: <service>-tls)',
  },
  {
    flag: 'dry-run-namespace',
    env: 'REALIP_CHECK_NAMESPACE',
    help: 'namespace for the dry-run pod (default: the first labelled namespace)',
  },
  {
    flag: 'min-validity-days',
    env: 'REALIP_CHECK_MIN_VALIDITY_DAYS',
    default: '30',
    help: 'fail when the serving certificate expires sooner',
  },
  { flag: 'timeout-ms', env: 'REALIP_CHECK_TIMEOUT_MS', default: '5000', help: 'per network call' },
];

export const CHECK_USAGE = renderHelp(
  'realip check [options]',
  'Checks that realip is installed and working: webhook configuration, caBundle, serving certificate,\n' +
    'reachability, labelled namespaces (and their Pod Security level: what injection does there), and a\n' +
    'server-side dry-run pod. Exits 1 when a check fails.',
  CHECK_OPTIONS,
);

const MARK: Record<Status, string> = {
  pass: '[ok]  ',
  fail: '[FAIL]',
  warn: '[warn]',
  skip: '[skip]',
  info: '[info]',
};

export function formatResults(results: readonly CheckResult[]): string {
  // `CODE: message` after the title, as every command reports a failure (issue 15).
  const lines = results.map(
    (r) => `${MARK[r.status]} ${r.title}: ${r.code !== undefined ? `${r.code}: ` : ''}${r.detail}`,
  );
  const failed = results.filter((r) => r.status === 'fail').length;
  lines.push(
    '',
    failed === 0
      ? 'realip check: all checks passed'
      : `realip check: ${codeText(
          'CHK_FAILED',
          `${failed} check(s) failed (${[
            ...new Set(results.filter((r) => r.status === 'fail').map((r) => r.code)),
          ].join(', ')})`,
        )}`,
  );
  return lines.join('\n');
}

export async function run(argv: readonly string[]): Promise<number> {
  const raw = collectOptions(argv, process.env, CHECK_OPTIONS);
  if (raw.help) {
    process.stdout.write(`${CHECK_USAGE}\n`);
    return 0;
  }
  const env = reader(raw);
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const minValidityDays = attempt(
    problems,
    30,
    () => env.get('REALIP_CHECK_MIN_VALIDITY_DAYS').required().asIntPositive(),
    CHECK_OPTIONS,
    raw.values,
  );
  const timeoutMs = attempt(
    problems,
    5000,
    () => env.get('REALIP_CHECK_TIMEOUT_MS').required().asIntPositive(),
    CHECK_OPTIONS,
    raw.values,
  );
  const webhookUrl = attempt(
    problems,
    undefined,
    () => env.get('REALIP_CHECK_WEBHOOK_URL').asUrlString(),
    CHECK_OPTIONS,
    raw.values,
  );
  if (problems.length > 0) {
    const err = new ConfigError(problems);
    process.stderr.write(`realip check: ${err.code}: ${err.message}\n\n${CHECK_USAGE}\n`);
    return 2;
  }
  const kc = new KubeConfig();
  try {
    const file = raw.values.KUBECONFIG;
    if (file !== undefined && !file.includes(':')) kc.loadFromFile(file);
    else kc.loadFromDefault();
    const context = raw.values.REALIP_CHECK_CONTEXT;
    if (context !== undefined) kc.setCurrentContext(context);
    if (!kc.getCurrentCluster()) throw new Error('no current cluster in the kubeconfig');
  } catch (err: unknown) {
    process.stderr.write(
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
    configName: raw.values.REALIP_WEBHOOK_CONFIG_NAME ?? 'realip',
    webhookUrl,
    tlsSecretName: raw.values.REALIP_TLS_SECRET_NAME,
    dryRunNamespace: raw.values.REALIP_CHECK_NAMESPACE,
    minValidityDays,
    timeoutMs,
    now: () => new Date(),
  });
  process.stdout.write(`${formatResults(results)}\n`);
  const code = results.some((r) => r.status === 'fail') ? 1 : 0;
  // A server that accepted a connection and never answered keeps its socket (and so this process)
  // alive after our own timeout gave up on it: exit anyway once the report is out. unref(): when
  // nothing else is pending the process ends on its own and this never fires.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}
