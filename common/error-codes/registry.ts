/**
 * The error registry: every code realip reports, declared once (common/error-codes/*.ts, one
 * file per family). `ErrorCode` is derived from it, and every place that carries a code is typed
 * with it, so a code that is not declared here does not compile. docs/errors.md's tables are
 * generated from it (`npm run docs:errors`; test/unit/errors-doc.test.ts fails on drift).
 *
 * Codes are never reused for another meaning: a retired code stays here with `retired` set, which
 * keeps it in the doc and out of `ErrorCode`.
 *
 * A new code: add it to its family's file (a new family: a file, an entry in FAMILIES and ALL, and a
 * marked table in docs/errors.md), then `npm run docs:errors`.
 */
import { ADMIN_ERRORS } from './admin.ts';
import { CHECK_ERRORS } from './check.ts';
import { CLI_ERRORS } from './cli.ts';
import { CONFIG_ERRORS } from './config.ts';
import { HTTP_ERRORS } from './http.ts';
import { HTTP2_ERRORS } from './http2.ts';
import { PROXY_PROTOCOL_ERRORS } from './proxy-protocol.ts';
import { SCRIPT_ERRORS } from './scripts.ts';
import type { CodeSpec } from './spec.ts';
import { STEERING_ERRORS } from './steering.ts';
import { TCP_ERRORS } from './tcp.ts';
import { WEBHOOK_ERRORS } from './webhook.ts';

/** The families in the order docs/errors.md shows them; the key names the doc's table. */
export const FAMILIES = {
  cli: CLI_ERRORS,
  config: CONFIG_ERRORS,
  'proxy-protocol': PROXY_PROTOCOL_ERRORS,
  http: HTTP_ERRORS,
  http2: HTTP2_ERRORS,
  tcp: TCP_ERRORS,
  steering: STEERING_ERRORS,
  admin: ADMIN_ERRORS,
  webhook: WEBHOOK_ERRORS,
  check: CHECK_ERRORS,
  scripts: SCRIPT_ERRORS,
} as const;

const ALL = {
  ...CLI_ERRORS,
  ...CONFIG_ERRORS,
  ...PROXY_PROTOCOL_ERRORS,
  ...HTTP_ERRORS,
  ...HTTP2_ERRORS,
  ...TCP_ERRORS,
  ...STEERING_ERRORS,
  ...ADMIN_ERRORS,
  ...WEBHOOK_ERRORS,
  ...CHECK_ERRORS,
  ...SCRIPT_ERRORS,
} as const;

type All = typeof ALL;

/** Every code ever declared, retired ones included (for the doc and the never-reuse rule). */
export type DeclaredCode = keyof All;

/** A code in use: declared and not retired. */
export type ErrorCode = {
  [C in DeclaredCode]: All[C] extends { readonly retired: string } ? never : C;
}[DeclaredCode];

/** The codes of one family prefix, e.g. `CodeOf<'HTTP'>`. */
export type CodeOf<P extends string> = Extract<ErrorCode, `${P}_${string}`>;

/** Codes whose entry declares an HTTP status, and that status as a literal type. */
export type HttpCode = { [C in ErrorCode]: All[C] extends { readonly http: number } ? C : never }[ErrorCode];
export type HttpStatusOf<C extends HttpCode> = All[C] extends { readonly http: infer S extends number }
  ? S
  : never;

/** Codes that end a command with the exit status their entry declares. */
export type ExitingCode = {
  [C in ErrorCode]: All[C] extends { readonly exit: number } ? C : never;
}[ErrorCode];

/**
 * The status to pass beside a code: the declared one for a literal code, any number for a code
 * only known at run time (a value held from an earlier check, typed with the whole union).
 */
export type StatusBeside<C extends HttpCode | ''> = HttpCode extends C
  ? number
  : C extends HttpCode
    ? HttpStatusOf<C>
    : number;

/** Codes whose entry declares a fixed message. */
export type MessageCode = {
  [C in ErrorCode]: All[C] extends { readonly message: string } ? C : never;
}[ErrorCode];

export const ERRORS: Readonly<Record<DeclaredCode, CodeSpec>> = Object.freeze(ALL);

/** The HTTP status the registry declares for a code (0: the connection is closed, no answer). */
export function httpStatus<C extends HttpCode>(code: C): HttpStatusOf<C> {
  return (ERRORS[code] as { http: number }).http as HttpStatusOf<C>;
}

/** The fixed message the registry declares for a code. */
export function codeMessage(code: MessageCode): string {
  return (ERRORS[code] as { message: string }).message;
}

/** The exit status of a command that ends with this code. */
export function exitStatus(code: ExitingCode): 1 | 2 {
  return (ERRORS[code] as { exit: 1 | 2 }).exit;
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERRORS, value) && ERRORS[value as DeclaredCode].retired === undefined;
}
