import { codeMessage, exitStatus } from '../common/error-codes/registry.ts';
import { codeLine, ExitCode, failureLine } from '../common/errors.ts';
import { version } from '../common/version.ts';
import { commands } from './commands.ts';

function usage(): string {
  const names = Object.keys(commands);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  return [
    'Usage: realip <command> [options]',
    '',
    'realip makes every pod see the real client address: it terminates the PROXY protocol sent by an',
    'edge L4 load balancer and re-presents the client to unmodified apps.',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}${commands[n]!.summary}`),
    '',
    'Run "realip <command> --help" for the options of a command. Every option also reads a REALIP_* variable.',
    `  ${'--version'.padEnd(width)}  print the version`,
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    if (name === undefined)
      process.stderr.write(codeLine('', 'CLI_NO_COMMAND', codeMessage('CLI_NO_COMMAND')));
    return name === undefined ? exitStatus('CLI_NO_COMMAND') : ExitCode.ok;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`${codeLine('', 'CLI_UNKNOWN_COMMAND', `unknown command "${name}"`)}\n${usage()}\n`);
    return exitStatus('CLI_UNKNOWN_COMMAND');
  }
  // A command reports its own failures; anything that still escapes is reported the same way.
  try {
    const run = await command.load();
    return await run(rest);
  } catch (err: unknown) {
    process.stderr.write(failureLine(name, err));
    return ExitCode.failed;
  }
}

// `node cli/main.ts ...` from a checkout runs the CLI directly (bin/realip.js does the same).
if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
