/** `realip inject -f FILE|-`: read the YAML, inject it as the webhook would, print it. */
import { readFileSync } from 'node:fs';
import type { Command } from '../../common/command.ts';
import { renderHelp } from '../../common/option-schema.ts';
import {
  INJECT_CLI_OPTIONS,
  type InjectCliConfig,
  parseInjectConfig,
  resolveDefaults,
} from '../../webhook/config.ts';
import { injectYaml } from '../../webhook/inject-yaml.ts';

export const command: Command<InjectCliConfig> = {
  name: 'inject',
  help: renderHelp(
    'realip inject -f FILE|- [options]',
    'Injects the realip sidecar into the pod templates of a YAML stream, as the webhook would, and prints it.',
    INJECT_CLI_OPTIONS,
  ),
  parse: (argv, env) => parseInjectConfig(argv, env).config,
  async run({ file, injection }, io) {
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err: unknown) {
      io.stderr(
        `realip inject: CLI_READ_FAILED: ${file}: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      return 1;
    }
    const result = injectYaml(
      text,
      resolveDefaults(injection, { nativeSidecar: true, nativeSidecarNamedPorts: true }),
    );
    for (const n of result.notes) io.stderr(`${n}\n`);
    if (result.errors.length > 0) {
      io.stderr(`realip inject: INJ_INVALID_INPUT:\n  - ${result.errors.join('\n  - ')}\n`);
      return 1;
    }
    io.stdout(result.output);
    return 0;
  },
};
