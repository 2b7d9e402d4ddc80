/** `realip inject -f FILE|-`: read the YAML, inject it as the webhook would, print it. */
import { readFileSync } from 'node:fs';
import type { Command } from '../../common/command.ts';
import { type ErrorCode, exitStatus } from '../../common/error-codes/registry.ts';
import { codeLine } from '../../common/errors.ts';
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
        codeLine('inject', 'CLI_READ_FAILED', `${file}: ${err instanceof Error ? err.message : String(err)}`),
      );
      return exitStatus('CLI_READ_FAILED');
    }
    const result = injectYaml(
      text,
      resolveDefaults(injection, { nativeSidecar: true, nativeSidecarNamedPorts: true }),
    );
    for (const n of result.notes) io.stderr(`${n}\n`);
    if (result.errors.length > 0) {
      // The problems start on their own lines, so no space after the code's colon.
      const code = 'INJ_INVALID_INPUT' satisfies ErrorCode;
      io.stderr(`realip inject: ${code}:\n  - ${result.errors.join('\n  - ')}\n`);
      return exitStatus(code);
    }
    io.stdout(result.output);
    return 0;
  },
};
