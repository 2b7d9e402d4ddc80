import pino, { type Logger } from 'pino';
import { Env } from './contract.ts';

export type { Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
/** `--log-level` of every command that logs (the option schemas spread it, some with their own help). */
export const LOG_LEVEL_OPTION = {
  flag: 'log-level',
  env: Env.logLevel,
  kind: 'enum',
  values: LOG_LEVELS,
  default: 'info',
  help: 'fatal|error|warn|info|debug|trace|silent',
} as const;

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/**
 * One JSON logger per process, written to stderr so stdout stays for command output.
 * `sync`: write each line with write(2) on the calling thread. Asynchronous (the default) hands each
 * write to a libuv worker and back, a thread round trip per line that a process writing a line per
 * connection on one core pays in full (docs/decisions.md, "Sidecar log writes").
 */
export function createLogger(
  name: string,
  level: LogLevel = 'info',
  options: { sync?: boolean } = {},
): Logger {
  const sync = options.sync ?? false;
  return pino({ name, level, base: { component: name } }, pino.destination({ fd: 2, sync }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
