/**
 * The one path every `realip` command goes through: `--help` first (so help works whatever else is
 * wrong), then parse (a bad option or argument: `realip CMD: CODE: message`, exit 2, nothing done),
 * then run (a failure that escapes: `realip CMD: CODE: message`, exit 1), then the exit code.
 * cli/commands/<command>.ts each define one Command; cli/commands.ts lists them.
 */
import { ExitCode, failureLine, isRealipError } from './errors.ts';
import { wantsHelp } from './option-schema.ts';

export interface Io {
  readonly stdout: (s: string) => void;
  readonly stderr: (s: string) => void;
}

export const processIo: Io = {
  stdout: (s) => process.stdout.write(s),
  stderr: (s) => process.stderr.write(s),
};

export type Env = Readonly<Record<string, string | undefined>>;

export interface Command<C> {
  /** As typed after `realip`; names the command in every failure line. */
  readonly name: string;
  /** The whole `--help` text (usually renderHelp over the command's option schema). */
  readonly help: string;
  /** Throws a RealipError (ConfigError: CFG_INVALID; CLI_BAD_ARGUMENT) when the input is bad. */
  readonly parse: (argv: readonly string[], env: Env) => C;
  readonly run: (config: C, io: Io) => Promise<number>;
  /** Repeat the help after a configuration error (realip check). */
  readonly helpOnError?: boolean;
}

export async function runCommand<C>(
  command: Command<C>,
  argv: readonly string[],
  env: Env = process.env,
  io: Io = processIo,
): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout(`${command.help}\n`);
    return ExitCode.ok;
  }
  let config: C;
  try {
    config = command.parse(argv, env);
  } catch (err: unknown) {
    const line = failureLine(command.name, err, isRealipError(err) ? undefined : 'CFG_INVALID');
    io.stderr(command.helpOnError ? `${line}\n${command.help}\n` : line);
    return ExitCode.usage;
  }
  try {
    return await command.run(config, io);
  } catch (err: unknown) {
    io.stderr(failureLine(command.name, err));
    return ExitCode.failed;
  }
}

/** A long-running command (sidecar, webhook) drains on the first SIGTERM or SIGINT. */
export function untilStopped(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
