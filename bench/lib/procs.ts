/**
 * Process helpers for the benchmarks: temp dirs, HAProxy / nginx children with
 * generated configs, CPU time and RSS from /proc.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface Child {
  readonly proc: ChildProcess;
  readonly name: string;
  stderr(): string;
  stop(): Promise<void>;
}

export function startChild(name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env: env ?? process.env });
  let err = '';
  proc.stderr?.on('data', (c: Buffer) => {
    err += c.toString();
    if (err.length > 20000) err = err.slice(-10000);
  });
  return {
    proc,
    name,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        proc.once('exit', () => {
          clearTimeout(t);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

export function nginx(dir: string, name: string, conf: string, core?: number): Child {
  const prefix = join(dir, name);
  execFileSync('mkdir', ['-p', join(prefix, 'logs')]);
  const file = join(prefix, 'nginx.conf');
  writeFileSync(file, conf);
  const args = [
    '-p',
    prefix,
    '-c',
    file,
    '-g',
    `daemon off; pid ${join(prefix, 'pid')}; error_log stderr error;`,
  ];
  return core === undefined
    ? startChild(name, 'nginx', args)
    : startChild(name, 'taskset', ['-c', String(core), 'nginx', ...args]);
}

export function haproxy(dir: string, name: string, conf: string, core?: number): Child {
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, conf);
  const args = ['-f', file, '-db'];
  return core === undefined
    ? startChild(name, 'haproxy', args)
    : startChild(name, 'taskset', ['-c', String(core), 'haproxy', ...args]);
}

/** The pid and all its descendants (nginx master + worker, taskset's exec'd child). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(d));
      children.set(ppid, list);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

const TICK = 100; // USER_HZ on Linux

/** utime + stime of a process tree, in microseconds. */
export function cpuMicros(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return (ticks * 1e6) / TICK;
}

/** Resident set size of a process tree, in MB. */
export function rssMB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}
