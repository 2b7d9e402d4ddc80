import type { ErrorCode } from './error-codes/registry.ts';

/**
 * Typed errors with stable codes. Every code is declared once in the error registry
 * (common/error-codes/), which docs/errors.md's tables are generated from; a code not declared
 * there does not compile. Codes are never reused for another meaning.
 *
 * Code families: PP_ (PROXY protocol codec and reader), CFG_ (configuration), HTTP_ (HTTP hop),
 * TCP_ (TCP and transparent hops), STEER_ (realip init), WH_ (webhook), INJ_ (injection decision
 * and patch), CERT_ (certificates), CHK_ (realip check), CLI_ (command line), ADMIN_ (the
 * sidecar's admin port answers).
 */
export class RealipError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RealipError';
    this.code = code;
  }
}

export function isRealipError(err: unknown): err is RealipError {
  return err instanceof RealipError;
}

/** A configuration problem: carries every problem found, so the user fixes them all at once. */
export class ConfigError extends RealipError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super('CFG_INVALID', `invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Exit codes of every command (docs/errors.md, "Exit codes"). */
export const ExitCode = Object.freeze({
  ok: 0,
  /** A runtime failure (or, for `realip check`, a failed check). */
  failed: 1,
  /** Bad options or arguments (CFG_INVALID, CLI_*): nothing was done. */
  usage: 2,
});

/** Errors without a code of ours: a bug, or a system error nothing above expected. */
export const UNEXPECTED: ErrorCode = 'CLI_UNEXPECTED';

/**
 * The one shape of a failure a command reports, on stderr: `realip COMMAND: CODE: message`.
 * An error of ours carries its code; anything else is CLI_UNEXPECTED with its own message.
 */
export function failureLine(command: string, err: unknown, code?: ErrorCode): string {
  const c = code ?? (isRealipError(err) ? err.code : UNEXPECTED);
  const message = err instanceof Error ? err.message : String(err);
  return codeLine(command, c, message);
}

/** `CODE: message`: how a code and its message are shown together, wherever they are shown. */
export function codeText(code: ErrorCode, message: string): string {
  return `${code}: ${message}`;
}

/**
 * The same line for a failure a command finds itself, without an error object:
 * `realip COMMAND: CODE: message` (`realip: CODE: message` with no command).
 */
export function codeLine(command: string, code: ErrorCode, message: string): string {
  return `realip${command === '' ? '' : ` ${command}`}: ${codeText(code, message)}\n`;
}
