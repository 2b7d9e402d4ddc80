/**
 * Shared pieces of the hardening suite: sizes (CI or full soak), the sidecar as a real child
 * process, RSS sampling from /proc, percentiles, and figures. Every case reports its figures with
 * `figure()`: they go to the test output (t.diagnostic) and, when REALIP_HARDENING_REPORT names a
 * file, as one JSON line to it (bench/soak.ts prints the table from there).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from '../../helpers/tcp.ts';

/**
 * A free port BELOW the ephemeral range (32768-60999 on Linux). Ports from bind(0) are ephemeral:
 * after this suite's hundreds of thousands of client connections, one of them may take such a
 * port as its source port between the check and the server's bind. Ports here are never picked as
 * source ports, so only another listener can race us (and one that did fails the bind check).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await Promise.all(['127.0.0.1', '::'].map((host) => canBind(port, host)));
    if (free.every(Boolean)) return port;
  }
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, ipv6Only: host === '::' }, () => s.close(() => resolve(true)));
  });
}

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

export interface Sidecar {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly adminPort: number;
  output(): string;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

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
 * `realip sidecar` as a child process (Node 24 = process.execPath under npm), logging at warn so
 * per-connection lines do not cost the figures, ready when /readyz answers 200.
 */
export async function startSidecar(spec: SidecarSpec): Promise<Sidecar> {
  const adminPort = spec.adminPort ?? (await freePort());
  const argv = [
    ...(spec.prefix ?? []),
    process.execPath,
    CLI,
    'sidecar',
    ...spec.listeners.flatMap((l) => ['--listener', l]),
    '--trusted-cidrs',
    spec.trusted ?? '127.0.0.1/32,::1/128',
    '--admin-port',
    String(adminPort),
    '--admin-host',
    '127.0.0.1',
    ...(spec.args?.includes('--log-level') ? [] : ['--log-level', 'warn']),
    ...(spec.args ?? []),
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (out.length > 200_000) out = out.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1)),
  );
  const sidecar: Sidecar = {
    child,
    pid: child.pid!,
    adminPort,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
        const r = await exited;
        clearTimeout(t);
        return r;
      }
      return exited;
    },
  };
  if (spec.wait === false) return sidecar;
  const until = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}) before ready:\n${out}`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/readyz`)
      .then((r) => r.status === 200)
      .catch(() => false);
    if (ok) return sidecar;
    if (Date.now() > until) {
      await sidecar.stop('SIGKILL');
      throw new Error(`sidecar not ready after 20 s:\n${out}`);
    }
    await sleep(50);
  }
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
