/**
 * Real peers for tests: HAProxy and nginx as our own child processes with temp configs, on
 * ephemeral loopback ports. A missing binary fails the test with a message naming it and the
 * setup script (tests never skip).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from '../../devkit/ports.ts';
import { requireTool } from '../../devkit/tools.ts';

export const REPO = new URL('../..', import.meta.url).pathname;

export interface Proc {
  readonly child: ChildProcess;
  readonly dir: string;
  output(): string;
  /** Waits until the port accepts; fails at once (with the process output) if the process exits. */
  ready(port: number, host?: string): Promise<void>;
  stop(): Promise<void>;
}

function startProc(cmd: string, args: string[], dir: string): Proc {
  const child = spawn(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code, sig) =>
      reject(new Error(`${cmd} exited (${code ?? sig}) before it was ready:\n${out}`)),
    ),
  );
  exited.catch(() => {});
  return {
    child,
    dir,
    output: () => out,
    ready: (port, host = '127.0.0.1') =>
      Promise.race([waitForPort(port, host), exited]).catch((e: Error) => {
        throw new Error(`${e.message}\n${out}`);
      }),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** HAProxy in the foreground (-db) with the given config body (global/defaults are added). */
export function startHaproxy(config: string): Proc {
  const bin = requireTool('haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'realip-haproxy-'));
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(
    file,
    `global\n  maxconn 4000\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\n${config}\n`,
  );
  return startProc(bin, ['-db', '-f', file], dir);
}

/** nginx in the foreground with its own prefix; `config` is the body after the events block. */
export function startNginx(config: string, opts: { stream?: boolean } = {}): Proc {
  const bin = requireTool('nginx');
  const dir = mkdtempSync(join(tmpdir(), 'realip-nginx-'));
  const file = join(dir, 'nginx.conf');
  const load = opts.stream ? 'load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n' : '';
  writeFileSync(
    file,
    `${load}worker_processes 1;\nerror_log ${dir}/error.log warn;\npid ${dir}/nginx.pid;\nevents { worker_connections 4096; }\n${config}\n`,
  );
  return startProc(bin, ['-p', dir, '-c', file, '-g', 'daemon off;'], dir);
}

export function onceData(
  socket: net.Socket,
  until: (all: Buffer) => boolean,
  timeoutMs = 5000,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let all = Buffer.alloc(0);
    const timer = setTimeout(
      () => done(new Error(`timed out; got ${JSON.stringify(all.toString('latin1'))}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      all = Buffer.concat([all, d]);
      if (until(all)) done();
    };
    const onEnd = () => done();
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      if (err) reject(err);
      else resolve(all);
    };
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
  });
}
