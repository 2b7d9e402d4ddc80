/**
 * Helpers for the tcp / transparent hop tests and bench: free ports, the sidecar as a child process,
 * nginx and HAProxy as our own processes with temp configs, and small socket utilities.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('../..', import.meta.url).pathname;
export const CLI = join(ROOT, 'cli/main.ts');

export function requireTool(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(`required tool "${name}" is not installed (run: bash test/setup.sh)`);
  }
  return path;
}

/**
 * A port to listen on, picked below the ephemeral range (32768-60999 by default) so that no
 * concurrent test's outgoing connection can take it as its source port between the pick and the
 * bind; checked bindable on 127.0.0.1 and :: (or on `host` when given).
 */
export async function freePort(host?: string): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const hosts = host ? [host] : ['127.0.0.1', '::'];
    const free = await Promise.all(hosts.map((h) => canBind(port, h)));
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

export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `realip-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
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

export interface SidecarOptions {
  readonly listeners: readonly string[];
  readonly trusted?: string;
  readonly args?: readonly string[];
  readonly prefix?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs `realip sidecar` (Node 24 = process.execPath under npm) and waits until it is ready. */
export async function startSidecar(o: SidecarOptions): Promise<Proc & { adminPort: number }> {
  const adminPort = await freePort();
  const args = [
    CLI,
    'sidecar',
    ...o.listeners.flatMap((l) => ['--listener', l]),
    '--trusted-cidrs',
    o.trusted ?? '127.0.0.0/8,::1/128',
    '--admin-port',
    String(adminPort),
    '--admin-host',
    '127.0.0.1',
    ...(o.args ?? []),
  ];
  const p = startProc(process.execPath, args, o.prefix ?? []);
  await waitForOutput(p, '"msg":"sidecar ready"');
  return { ...p, adminPort };
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
