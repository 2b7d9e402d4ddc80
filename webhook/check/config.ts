/** The options of `realip check`, parsed once into a frozen object (every problem at once). */
import { ConfigError } from '../../common/errors.ts';
import {
  collectOptions,
  OptionReader,
  type OptionSchema,
  optionList,
  renderHelp,
} from '../../common/option-schema.ts';
import { WEBHOOK_SCHEMA } from '../config-schema.ts';
import type { CheckOptions } from './checks.ts';

export const CHECK_SCHEMA = {
  kubeconfig: {
    flag: 'kubeconfig',
    env: 'KUBECONFIG',
    kind: 'string',
    help: 'kubeconfig file (default: ~/.kube/config or in-cluster)',
  },
  context: {
    flag: 'context',
    env: 'REALIP_CHECK_CONTEXT',
    kind: 'string',
    help: 'kubeconfig context (default: the current one)',
  },
  configName: {
    flag: 'config-name',
    env: WEBHOOK_SCHEMA.webhookConfigName.env,
    kind: 'string',
    default: 'realip',
    help: "the MutatingWebhookConfiguration's name (the Helm release's full name)",
  },
  webhookUrl: {
    flag: 'webhook-url',
    env: 'REALIP_CHECK_WEBHOOK_URL',
    kind: 'url',
    help: 'reach the webhook here instead (e.g. https://127.0.0.1:8443/mutate after kubectl port-forward)',
  },
  tlsSecretName: {
    flag: 'tls-secret-name',
    env: WEBHOOK_SCHEMA.tlsSecretName.env,
    kind: 'string',
    help: 'Secret with the serving certificate when it is reached through the Service (default: <service>-tls)',
  },
  dryRunNamespace: {
    flag: 'dry-run-namespace',
    env: 'REALIP_CHECK_NAMESPACE',
    kind: 'string',
    help: 'namespace for the dry-run pod (default: the first labelled namespace)',
  },
  minValidityDays: {
    flag: 'min-validity-days',
    env: 'REALIP_CHECK_MIN_VALIDITY_DAYS',
    kind: 'int',
    default: 30,
    help: 'fail when the serving certificate expires sooner',
  },
  timeoutMs: {
    flag: 'timeout-ms',
    env: 'REALIP_CHECK_TIMEOUT_MS',
    kind: 'int',
    default: 5000,
    help: 'per network call',
  },
} as const satisfies OptionSchema;
export const CHECK_OPTIONS = optionList(CHECK_SCHEMA);

export const CHECK_USAGE = renderHelp(
  'realip check [options]',
  'Checks that realip is installed and working: webhook configuration, caBundle, serving certificate,\n' +
    'reachability, labelled namespaces (and their Pod Security level: what injection does there), and a\n' +
    'server-side dry-run pod. Exits 1 when a check fails.',
  CHECK_OPTIONS,
);

/** What runChecks takes, less the kubeconfig (loaded by the command) and the clock. */
export type CheckConfig = Omit<CheckOptions, 'kc' | 'now'> & {
  readonly kubeconfig: string | undefined;
  readonly context: string | undefined;
};

export function parseCheckConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): CheckConfig {
  const raw = collectOptions(argv, env, CHECK_OPTIONS);
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const read = new OptionReader(raw, problems);
  const o = CHECK_SCHEMA;
  const config: CheckConfig = {
    kubeconfig: read.text(o.kubeconfig),
    context: read.text(o.context),
    configName: read.text(o.configName) ?? o.configName.default,
    minValidityDays: read.int(o.minValidityDays),
    timeoutMs: read.int(o.timeoutMs),
    webhookUrl: read.url(o.webhookUrl),
    tlsSecretName: read.text(o.tlsSecretName),
    dryRunNamespace: read.text(o.dryRunNamespace),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
