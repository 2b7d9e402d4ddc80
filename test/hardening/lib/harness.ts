/**
 * Shared pieces of the hardening suite: sizes (CI or full soak), the shared sidecar starter with
 * this suite's settings, RSS sampling from /proc, percentiles, and figures. Every case reports its figures with
 * `figure()`: they go to the test output (t.diagnostic) and, when REALIP_HARDENING_REPORT names a
 * file, as one JSON line to it (bench/soak.ts prints the table from there).
 */
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { type Sidecar, startSidecar as startSharedSidecar } from '../../support/sidecar.ts';

/** `REALIP_SOAK=full` (npm run soak) runs the full-size figures; anything else the CI sizes. */
export const FULL = process.env.REALIP_SOAK === 'full';

/** A size: the CI value, the full value, or REALIP_SOAK_<NAME> when set (for quick local runs). */
export function size(name: string, ci: number, full: number): number {
  const override = process.env[`REALIP_SOAK_${name.toUpperCase()}`];
  if (override && /^\d+$/.test(override)) return Number(override);
  return FULL ? full : ci;
}

export interface Figure {
  readonly case: string;
  readonly tried: number;
  readonly passed: number;
  readonly violations: number;
  readonly errors?: number;
  /** Peak RSS of the process under test, MB. */
  readonly peakRssMb?: number;
  /** p99 latency of the well-behaved traffic of the case, ms. */
  readonly p99Ms?: number;
  readonly note?: string;
}

export function figure(t: { diagnostic(msg: string): void }, f: Figure): void {
  t.diagnostic(`figure ${JSON.stringify(f)}`);
  const file = process.env.REALIP_HARDENING_REPORT;
  if (file) appendFileSync(file, `${JSON.stringify({ ...f, full: FULL })}\n`);
}

export function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs`; peak in MB. */
export function rssSampler(pid: number, everyMs = 100): { peakMb(): number; stop(): number } {
  let peak = rssKiB(pid);
  const timer = setInterval(() => {
    peak = Math.max(peak, rssKiB(pid));
  }, everyMs);
  timer.unref();
  return {
    peakMb: () => Math.round((Math.max(peak, rssKiB(pid)) / 1024) * 10) / 10,
    stop: () => {
      clearInterval(timer);
      peak = Math.max(peak, rssKiB(pid));
      return Math.round((peak / 1024) * 10) / 10;
    },
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 100) / 100;
}

/** Runs `worker(i)` for i in [0, n) with at most `concurrency` at a time. */
export async function pool(
  n: number,
  concurrency: number,
  worker: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, n) }, async () => {
    while (next < n) {
      const i = next++;
      await worker(i);
    }
  });
  await Promise.all(lanes);
}

export type { Sidecar } from '../../support/sidecar.ts';

export interface SidecarSpec {
  readonly listeners: readonly string[];
  readonly trusted?: string;
  readonly args?: readonly string[];
  /** Command prefix, e.g. ['prlimit', '--nofile=64:64', '--'] or ['ip', 'netns', 'exec', NS]. */
  readonly prefix?: readonly string[];
  /** Admin port (default: a free loopback port). */
  readonly adminPort?: number;
  /** Wait for readiness (default true): polls /readyz, or in a netns the caller waits itself. */
  readonly wait?: boolean;
}

/**
 * The shared sidecar starter with this suite's settings: logging at warn so per-connection lines
 * do not cost the figures, 30 s for a drain before SIGKILL, and a bounded output buffer (hundreds
 * of thousands of connections).
 */
export function startSidecar(spec: SidecarSpec): Promise<Sidecar> {
  return startSharedSidecar({
    listeners: spec.listeners,
    trusted: spec.trusted ?? '127.0.0.1/32,::1/128',
    args: [...(spec.args?.includes('--log-level') ? [] : ['--log-level', 'warn']), ...(spec.args ?? [])],
    ...(spec.prefix === undefined ? {} : { prefix: spec.prefix }),
    ...(spec.adminPort === undefined ? {} : { adminPort: spec.adminPort }),
    ready: spec.wait === false ? 'none' : 'readyz',
    killAfterMs: 30_000,
    outputLimit: 200_000,
  });
}

/** A connected socket, or the connect error. */
export function connect(opts: net.NetConnectOpts): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(opts);
    s.once('connect', () => {
      s.removeListener('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Closes a server, destroying its open connections. */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}
