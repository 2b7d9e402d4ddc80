/**
 * `realip sidecar` as a real child process (Node 24 = process.execPath under npm): the one starter
 * that the tcp, http and hardening suites share. Ready means /readyz answered 200, which the
 * sidecar sets in the same step as it logs "sidecar ready" (after every listener is bound); inside
 * another network namespace the admin port is out of reach, so there it waits for that log line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { sidecarArgv } from '../../devkit/sidecar-argv.ts';
import { CLI } from './tcp.ts';

export interface SidecarOptions {
  readonly listeners: readonly string[];
  /** Default: loopback, v4 and v6. */
  readonly trusted?: string;
  readonly args?: readonly string[];
  /** Command prefix, e.g. ['prlimit', '--nofile=64:64', '--'] or ['ip', 'netns', 'exec', NS]. */
  readonly prefix?: readonly string[];
  /** Admin port (default: a free loopback port below the ephemeral range). */
  readonly adminPort?: number;
  /**
   * How to know it is ready: 'readyz' (default) polls the admin port; 'log' waits for the
   * "sidecar ready" line (needs info logging; for a sidecar in another network namespace); 'none'
   * returns at once (the caller waits itself, or expects a failure).
   */
  readonly ready?: 'readyz' | 'log' | 'none';
  /** How long stop() waits after its signal before SIGKILL (default 3 s; a drain test wants more). */
  readonly killAfterMs?: number;
  /** Keep only the last part of the output past this many characters (default: keep all). */
  readonly outputLimit?: number;
}

export interface Sidecar {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly adminPort: number;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code, or the signal name when a signal ended it. */
  readonly exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

export async function startSidecar(o: SidecarOptions): Promise<Sidecar> {
  const adminPort = o.adminPort ?? (await freePortBelowEphemeral());
  const argv = [
    ...(o.prefix ?? []),
    process.execPath,
    ...sidecarArgv(CLI, {
      listeners: o.listeners,
      trusted: o.trusted ?? '127.0.0.0/8,::1/128',
      adminPort,
      adminHost: '127.0.0.1',
      ...(o.args === undefined ? {} : { args: o.args }),
    }),
  ];
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString();
    if (o.outputLimit !== undefined && out.length > o.outputLimit) out = out.slice(-o.outputLimit / 2);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, sig) => resolve(code ?? sig ?? -1));
    child.once('error', () => resolve(-1));
  });
  const killAfterMs = o.killAfterMs ?? 3000;
  const sidecar: Sidecar = {
    child,
    pid: child.pid!,
    adminPort,
    output: () => out,
    exited,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill(signal);
        const t = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        await exited;
        clearTimeout(t);
      }
    },
  };
  const ready = o.ready ?? 'readyz';
  if (ready === 'none') return sidecar;
  const until = Date.now() + READY_TIMEOUT_MS;
  const isReady = async () =>
    ready === 'log'
      ? out.includes('"msg":"sidecar ready"')
      : fetch(`http://127.0.0.1:${adminPort}/readyz`)
          .then((r) => r.status === 200)
          .catch(() => false);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited (${child.exitCode}) before ready:\n${out}`);
    if (await isReady()) return sidecar;
    if (Date.now() > until) {
      await sidecar.stop('SIGKILL');
      throw new Error(`sidecar not ready after ${READY_TIMEOUT_MS / 1000} s:\n${out}`);
    }
    await sleep(ready === 'log' ? 25 : 50);
  }
}
