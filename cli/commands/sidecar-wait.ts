/**
 * `realip sidecar-wait`: returns once the sidecar's admin port answers /readyz with 200 (exit 0),
 * or gives up after the timeout (exit 1). The webhook puts it in the sidecar's postStart hook when
 * native sidecars are off: the kubelet starts the app containers only after the hook returns.
 */
import type { Command } from '../../common/command.ts';
import { Defaults, Env } from '../../common/contract.ts';
import { exitStatus } from '../../common/error-codes/registry.ts';
import { ConfigError, codeLine } from '../../common/errors.ts';
import {
  collectOptions,
  OptionReader,
  type OptionSchema,
  optionList,
  renderHelp,
} from '../../common/option-schema.ts';
import { waitReady } from '../../sidecar/wait.ts';

export const SIDECAR_WAIT_SCHEMA = {
  adminPort: {
    flag: 'admin-port',
    env: Env.adminPort,
    kind: 'port',
    default: Defaults.adminPort,
    help: "the sidecar's admin port",
  },
  timeoutMs: {
    flag: 'timeout-ms',
    env: 'REALIP_WAIT_TIMEOUT_MS',
    kind: 'int',
    default: 120_000,
    help: 'give up after this long',
  },
} as const satisfies OptionSchema;
const OPTIONS = optionList(SIDECAR_WAIT_SCHEMA);

interface WaitConfig {
  readonly port: number;
  readonly timeoutMs: number;
}

function parse(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): WaitConfig {
  const raw = collectOptions(argv, env, OPTIONS);
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const read = new OptionReader(raw, problems);
  const port = read.port(SIDECAR_WAIT_SCHEMA.adminPort);
  const timeoutMs = read.int(SIDECAR_WAIT_SCHEMA.timeoutMs);
  if (problems.length > 0) throw new ConfigError(problems);
  return { port, timeoutMs };
}

export const command: Command<WaitConfig> = {
  name: 'sidecar-wait',
  help: renderHelp('realip sidecar-wait [options]', 'Waits until the sidecar is ready.', OPTIONS),
  parse,
  async run({ port, timeoutMs }, io) {
    if (await waitReady(port, timeoutMs)) return 0;
    io.stderr(
      codeLine(
        'sidecar-wait',
        'CLI_SIDECAR_NOT_READY',
        `sidecar not ready on port ${port} after ${timeoutMs} ms`,
      ),
    );
    return exitStatus('CLI_SIDECAR_NOT_READY');
  },
};
