/**
 * `realip COMMAND ...` from this checkout as a user runs it, without blocking the event loop (a
 * test's own server may have to answer meanwhile): stdout and stderr collected, killed after
 * `timeoutMs`. The environment is only what is given (plus PATH), so the host's never leaks in.
 */
import { spawn } from 'node:child_process';
import { realipArgv } from './k8s.ts';

export interface RealipRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export function runRealip(
  args: readonly string[],
  o: {
    readonly env: Readonly<Record<string, string>>;
    readonly wrap?: readonly string[];
    readonly timeoutMs?: number;
  },
): Promise<RealipRun> {
  const [node, argv] = realipArgv(args);
  const wrap = o.wrap ?? [];
  const [cmd, ...rest] = wrap.length > 0 ? [...wrap, node, ...argv] : [node, ...argv];
  return new Promise((resolve) => {
    const child = spawn(cmd!, rest, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
