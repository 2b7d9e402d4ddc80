/**
 * The shape of one entry of the error registry (common/error-codes/registry.ts). Like fastify's
 * lib/errors.js, each code is declared once with what a reader needs: its meaning and, where the
 * code ends a command or answers a request, the status that goes with it. docs/errors.md's tables
 * are generated from these entries (`npm run docs:errors`).
 */
export interface CodeSpec {
  /** What the code means, as docs/errors.md shows it (Markdown, one table cell). */
  readonly meaning: string;
  /** What to do about it, where the doc's table has that column. */
  readonly action?: string;
  /** The message, where it is fixed; most messages are built from run-time detail instead. */
  readonly message?: string;
  /** The exit status of a command that ends with this code. */
  readonly exit?: 1 | 2;
  /**
   * The HTTP status of the answer carrying the code (the HTTP hop, the admin port, the webhook);
   * 0: no answer is possible, the connection is closed.
   */
  readonly http?: number;
  /** HTTP hop: answered with `http` while the app has not answered yet, else the connection closes. */
  readonly orClose?: true;
  /** `realip check`: the level of a line carrying the code. */
  readonly level?: 'fail' | 'warn';
  /** The version that retired the code: it is listed so that it is never reused, and no longer compiles. */
  readonly retired?: string;
}

/** A family of codes: every key starts with the family's prefix. */
export type Family<P extends string> = Readonly<Record<`${P}_${string}`, CodeSpec>>;
