/**
 * --access-log: one `request` line per HTTP request, at info level (format: docs/sidecar.md).
 * Only built when the option is on: with it off, the hop reads no method or path at all.
 * The request-target has passed the parser (visible ASCII only, no spaces or controls); the query
 * is left out (it often carries tokens) and the path is cut at MAX_LOGGED_PATH characters.
 */
export const MAX_LOGGED_PATH = 256;

export function loggedPath(buf: Buffer, start: number, end: number): string {
  const q = buf.indexOf(0x3f, start); // '?'
  const stop = q >= 0 && q < end ? q : end;
  if (stop - start <= MAX_LOGGED_PATH) return buf.toString('latin1', start, stop);
  return `${buf.toString('latin1', start, start + MAX_LOGGED_PATH)}...`;
}

/** What is remembered of a request in flight for its access-log line. */
export interface PendingRequest {
  readonly method: string;
  readonly path: string;
}
