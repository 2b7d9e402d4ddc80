/**
 * The little that `realip init` needs from the system: run a program (with stdin), find a program in
 * PATH, read the effective capabilities. Passed in as a `System` so tests and dry runs can see every
 * command that would run.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface System {
  run(file: string, args: readonly string[], input?: string): Promise<RunResult>;
  /** Absolute path of a program found in PATH, or undefined. */
  which(name: string): string | undefined;
  /** PATH as searched by which(), for messages. */
  readonly path: string;
  /** Whether the process holds CAP_NET_ADMIN (undefined when it cannot be told). */
  hasNetAdmin(): boolean | undefined;
  /** Whether this network namespace has IPv6 at all. */
  hasIPv6(): boolean;
}

/** CAP_NET_ADMIN is capability number 12 (linux/capability.h). */
const CAP_NET_ADMIN = 12n;

export function realSystem(env: Readonly<Record<string, string | undefined>>): System {
  const path = env.PATH ?? '';
  return {
    path,
    run(file, args, input) {
      return new Promise((resolve, reject) => {
        const child = spawn(file, [...args], {
          stdio: ['pipe', 'pipe', 'pipe'],
          env: { ...env, LC_ALL: 'C' },
        });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on('data', (b: Buffer) => out.push(b));
        child.stderr.on('data', (b: Buffer) => err.push(b));
        child.on('error', reject);
        child.on('close', (code, signal) =>
          resolve({
            code: code ?? (signal ? 128 : 1),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          }),
        );
        child.stdin.on('error', () => {});
        child.stdin.end(input ?? '');
      });
    },
    which(name) {
      for (const dir of path.split(delimiter)) {
        if (dir === '') continue;
        const p = join(dir, name);
        try {
          accessSync(p, constants.X_OK);
          return p;
        } catch {
          // not here
        }
      }
      return undefined;
    },
    hasNetAdmin() {
      try {
        const m = /^CapEff:\s*([0-9a-fA-F]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
        if (!m) return undefined;
        return ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
      } catch {
        return undefined;
      }
    },
    hasIPv6() {
      try {
        return readFileSync('/proc/sys/net/ipv6/conf/all/disable_ipv6', 'utf8').trim() !== '1';
      } catch {
        return false;
      }
    },
  };
}
