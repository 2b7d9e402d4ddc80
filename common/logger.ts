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

/** One JSON logger per process, written to stderr so stdout stays for command output. */
export function createLogger(name: string, level: LogLevel = 'info'): Logger {
  return pino({ name, level, base: { component: name } }, pino.destination({ fd: 2, sync: false }));
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
