/** `realip demo`: the main job end to end on loopback (sidecar/demo/demo.ts), as a table. */
import type { Command } from '../../common/command.ts';
import { ConfigError } from '../../common/errors.ts';
import {
  collectOptions,
  OptionReader,
  type OptionSchema,
  optionList,
  renderHelp,
} from '../../common/option-schema.ts';
import { DEMO_DEADLINE_MS, runDemo } from '../../sidecar/demo/demo.ts';

export const DEMO_SCHEMA = {
  timeoutMs: {
    flag: 'timeout-ms',
    env: 'REALIP_DEMO_TIMEOUT_MS',
    kind: 'int',
    default: DEMO_DEADLINE_MS,
    help: 'give up (exit 1, CLI_DEMO_TIMEOUT) when the demo has not finished by then',
  },
} as const satisfies OptionSchema;
const OPTIONS = optionList(DEMO_SCHEMA);

const SUMMARY =
  'Runs an echo app, the sidecar and an edge sending PROXY headers for several clients on loopback,\n' +
  'and prints what the app saw for each. Exits 0 when every row matches.';

export const command: Command<number> = {
  name: 'demo',
  help: renderHelp('realip demo [options]', SUMMARY, OPTIONS),
  parse(argv, env) {
    const raw = collectOptions(argv, env, OPTIONS);
    const problems = [...raw.problems];
    if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
    const deadlineMs = new OptionReader(raw, problems).int(DEMO_SCHEMA.timeoutMs);
    if (problems.length > 0) throw new ConfigError(problems);
    return deadlineMs;
  },
  run: (deadlineMs) => runDemo(deadlineMs),
};
