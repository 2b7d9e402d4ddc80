/**
 * --log-connections: how many `connection closed` lines a busy listener writes. Pure apart from
 * the clock passed in. `all` (the default) writes one per connection; `sample:N` one in N;
 * `rate:N` at most N per second per listener; `none` none. Metrics count every connection
 * whatever this says; a written line carries `suppressed`, the lines left out since the last one.
 */
export type LogConnections =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'sample'; readonly every: number }
  | { readonly kind: 'rate'; readonly perSecond: number };

export const LOG_CONNECTIONS_SYNTAX = 'all | none | sample:N (one in N) | rate:N (at most N a second)';

/** Parses the option value; a string is the problem. */
export function parseLogConnections(text: string): LogConnections | string {
  const t = text.trim();
  if (t === 'all' || t === '') return { kind: 'all' };
  if (t === 'none') return { kind: 'none' };
  const m = /^(sample|rate):([0-9]{1,9})(\/s)?$/.exec(t);
  const n = m ? Number(m[2]) : 0;
  if (!m || n < 1 || (m[3] && m[1] !== 'rate')) return `"${text}" is not one of ${LOG_CONNECTIONS_SYNTAX}`;
  return m[1] === 'sample' ? { kind: 'sample', every: n } : { kind: 'rate', perSecond: n };
}

export class LogGate {
  private readonly policy: LogConnections;
  private seen = 0;
  private windowStart = 0;
  private inWindow = 0;
  /** Lines left out since the last one written. */
  suppressed = 0;

  constructor(policy: LogConnections) {
    this.policy = policy;
  }

  /** Should this connection's line be written? `nowMs`: any monotonic millisecond clock. */
  allow(nowMs: number): boolean {
    const p = this.policy;
    let ok: boolean;
    if (p.kind === 'all') ok = true;
    else if (p.kind === 'none') ok = false;
    else if (p.kind === 'sample') {
      // The first of every N, so a quiet listener's first connection is always seen.
      ok = this.seen % p.every === 0;
      this.seen = (this.seen + 1) % p.every;
    } else {
      if (nowMs - this.windowStart >= 1000) {
        this.windowStart = nowMs;
        this.inWindow = 0;
      }
      ok = this.inWindow < p.perSecond;
      if (ok) this.inWindow++;
    }
    if (!ok) this.suppressed++;
    return ok;
  }

  /** The count to put on the line being written, reset to 0. */
  takeSuppressed(): number {
    const n = this.suppressed;
    this.suppressed = 0;
    return n;
  }
}
