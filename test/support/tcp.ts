/**
 * Helpers for the tcp / transparent hop tests: nginx and HAProxy as our own processes with temp configs, and small socket utilities.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForPort } from '../../devkit/ports.ts';
import { requireTool } from '../../devkit/tools.ts';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'cli/main.ts');

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `realip-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Proc {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
  exited: Promise<number | null>;
}

/** Spawns a process, collecting stdout+stderr; `prefix` is e.g. ['ip','netns','exec',ns] or ['taskset','-c','1']. */
export function startProc(cmd: string, args: readonly string[], prefix: readonly string[] = []): Proc {
  const all = [...prefix, cmd, ...args];
  const child = spawn(all[0]!, all.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', () => resolve(-1));
  });
  return {
    child,
    output: () => out,
    exited,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

export async function waitForOutput(p: Proc, needle: string | RegExp, timeoutMs = 15000): Promise<void> {
  const until = Date.now() + timeoutMs;
  const has = () => (typeof needle === 'string' ? p.output().includes(needle) : needle.test(p.output()));
  while (!has()) {
    if (p.child.exitCode !== null) {
      throw new Error(`process exited (${p.child.exitCode}) before "${needle}":\n${p.output()}`);
    }
    if (Date.now() > until) throw new Error(`timed out waiting for "${needle}":\n${p.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function nginxConf(dir: string, body: string): string {
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
events { worker_connections 4096; }
${body}
`,
  );
  return conf;
}

/**
 * Waits for a peer's ports (inside another namespace they cannot be probed from here: a short
 * pause instead); its stop() also removes its temp dir.
 */
async function ready(
  p: Proc,
  t: { dir: string; remove(): void },
  waitPorts: readonly number[],
  prefix: readonly string[],
): Promise<Proc & { dir: string }> {
  if (prefix.length === 0) for (const port of waitPorts) await waitForPort(port);
  else await new Promise((r) => setTimeout(r, 300));
  return {
    ...p,
    dir: t.dir,
    stop: async () => {
      await p.stop();
      t.remove();
    },
  };
}

/** nginx in the foreground with its own prefix dir; `body` holds the stream/http blocks. */
export async function startNginx(
  body: string,
  waitPorts: readonly number[],
  prefix: readonly string[] = [],
): Promise<Proc & { dir: string }> {
  requireTool('nginx');
  const t = tempDir('nginx');
  const conf = nginxConf(t.dir, body);
  const p = startProc(
    'nginx',
    ['-p', t.dir, '-c', conf, '-e', 'stderr', '-g', `daemon off; pid ${t.dir}/pid; error_log stderr;`],
    prefix,
  );
  return ready(p, t, waitPorts, prefix);
}

export async function startHaproxy(
  config: string,
  waitPorts: readonly number[],
  prefix: readonly string[] = [],
): Promise<Proc & { dir: string }> {
  requireTool('haproxy');
  const t = tempDir('haproxy');
  const conf = join(t.dir, 'haproxy.cfg');
  writeFileSync(conf, config);
  const check = spawnSync('haproxy', ['-c', '-f', conf], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy config invalid:\n${check.stdout}${check.stderr}`);
  const p = startProc('haproxy', ['-f', conf, '-db'], prefix);
  return ready(p, t, waitPorts, prefix);
}

/** Connects, writes `send` (may be empty), reads until the peer ends; resolves with all bytes read. */
export function exchange(
  opts: net.NetConnectOpts,
  send: Buffer | string,
  { end = true, timeoutMs = 10000 } = {},
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(opts, () => {
      if (send.length > 0) s.write(send);
      if (end) s.end();
    });
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no end from ${JSON.stringify(opts)} within ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(t);
      resolve(Buffer.concat(chunks));
    });
  });
}

export function run(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
