/**
 * Network-namespace "small worlds" for integration and end-to-end tests (root only).
 *
 *   client ns                edge ns (the node)                          pod ns
 *   eth0 198.51.100.7/24 --- cli0 198.51.100.1/24                         eth0 10.244.1.5/24
 *        198.51.100.8..       2001:db8::1/64       br0 10.244.1.1/24 --- vpod      fd00:10:244::5/64
 *        2001:db8::7/64 ..                             fd00:10:244::1/64 --- vother   other ns: eth0 10.244.1.6/24
 *                              (forwarding on)                                           fd00:10:244::6/64
 *
 * Every name carries a unique prefix per world, so tests run in parallel; `cleanup()` kills what
 * was started in the namespaces and deletes them, and must be called from t.after / finally.
 * Addresses exist only inside these namespaces: nothing is sent anywhere else.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const IP = '/usr/sbin/ip';
/** The realip CLI entry, run from the checkout's sources with this Node (24). */
export const REALIP_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** Runs a program (not in any namespace) and collects its output. Never rejects on a non-zero exit. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: opts.env ? { ...opts.env } : process.env,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${e.message} (is it installed? test/setup.sh installs it)`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Like run, but throws with the command and its stderr when it exits non-zero. */
export async function must(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await run(file, args, opts);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function uniqueName(tag: string): string {
  return `realip-${tag}-${randomBytes(3).toString('hex')}`;
}

/** One network namespace, with helpers to run things inside it. */
export class Netns {
  readonly name: string;
  readonly #children = new Set<ChildProcess>();

  constructor(name: string) {
    this.name = name;
  }

  static async create(name: string): Promise<Netns> {
    await must(IP, ['netns', 'add', name]);
    const ns = new Netns(name);
    try {
      await ns.must(['ip', 'link', 'set', 'lo', 'up']);
      // No duplicate address detection: addresses are usable at once, tests do not wait for DAD.
      await ns.must([
        'sysctl',
        '-qw',
        'net.ipv6.conf.all.accept_dad=0',
        'net.ipv6.conf.default.accept_dad=0',
      ]);
      return ns;
    } catch (err) {
      // Nobody holds the namespace yet, so nobody else would delete it (a missing sysctl left 16).
      await ns.destroy().catch(() => {});
      throw err;
    }
  }

  run(argv: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return run(IP, ['netns', 'exec', this.name, ...argv], opts);
  }

  must(argv: readonly string[], opts: RunOptions = {}): Promise<string> {
    return must(IP, ['netns', 'exec', this.name, ...argv], opts);
  }

  /** `realip ARGS` inside the namespace, from the checkout's sources. */
  realip(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.run([process.execPath, REALIP_MAIN, ...args], opts);
  }

  /** Starts a long-running process inside the namespace; cleanup() kills it. Output is kept. */
  spawn(argv: readonly string[], env?: Readonly<Record<string, string>>): Spawned {
    const child = spawn(IP, ['netns', 'exec', this.name, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: env ? { ...process.env, ...env } : process.env,
    });
    this.#children.add(child);
    const s: Spawned = { child, stdout: '', stderr: '', exited: new Promise((r) => child.on('close', r)) };
    child.stdout?.on('data', (b: Buffer) => {
      s.stdout += b.toString('utf8');
    });
    child.stderr?.on('data', (b: Buffer) => {
      s.stderr += b.toString('utf8');
    });
    child.on('close', () => this.#children.delete(child));
    return s;
  }

  /** Waits until something listens on TCP `port` inside the namespace (polls `ss`). */
  async waitForPort(port: number, timeoutMs = 10_000, watch?: Spawned): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.run(['ss', '-Htln', `sport = :${port}`]);
      if (r.code === 0 && r.stdout.trim() !== '') return;
      if (watch && watch.child.exitCode !== null) {
        throw new Error(
          `process exited (${watch.child.exitCode}) before listening on ${port} in ${this.name}: ${watch.stderr}`,
        );
      }
      if (Date.now() > deadline) {
        throw new Error(`nothing listens on tcp port ${port} in ${this.name} after ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Opens a TCP connection from inside the namespace, writes `send`, half-closes, and returns what
   * came back until the peer closed (or `error` with the socket error code).
   */
  async connect(opts: {
    host: string;
    port: number;
    localAddress?: string;
    send: string | Buffer;
    /** Half-close right after sending (default true); false: wait for the peer to close first. */
    halfClose?: boolean;
    timeoutMs?: number;
  }): Promise<{ data: string; error?: string }> {
    const script = `
      const net = require('node:net');
      const [host, port, local, hex, ms, half] = process.argv.slice(1);
      const s = net.connect({ host, port: Number(port), ...(local ? { localAddress: local } : {}) });
      const chunks = [];
      let error;
      s.setTimeout(Number(ms), () => { error = 'TIMEOUT'; s.destroy(); });
      s.on('connect', () => (half === '1' ? s.end(Buffer.from(hex, 'hex')) : s.write(Buffer.from(hex, 'hex'))));
      s.on('data', (b) => chunks.push(b));
      s.on('error', (e) => { error = e.code || e.message; });
      s.on('close', () => {
        process.stdout.write(JSON.stringify({ data: Buffer.concat(chunks).toString('latin1'), ...(error ? { error } : {}) }));
      });`;
    const hex = Buffer.from(opts.send).toString('hex');
    const ms = opts.timeoutMs ?? 5000;
    const r = await this.run(
      [
        process.execPath,
        '-e',
        script,
        opts.host,
        String(opts.port),
        opts.localAddress ?? '',
        hex,
        String(ms),
        opts.halfClose === false ? '0' : '1',
      ],
      { timeoutMs: ms + 5000 },
    );
    if (r.code !== 0) throw new Error(`client in ${this.name} failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as { data: string; error?: string };
  }

  /** Kills what spawn() started, then anything else still inside, then deletes the namespace. */
  async destroy(): Promise<void> {
    const children = [...this.#children];
    for (const child of children) child.kill('SIGKILL');
    // 'exit', not 'close': a grandchild (nginx worker) may hold the pipes open until killed below.
    await Promise.all(
      children.map(
        (c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(0) : c.once('exit', r))),
      ),
    );
    const pids = await run(IP, ['netns', 'pids', this.name]);
    for (const pid of pids.stdout.split('\n').filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await run(IP, ['netns', 'del', this.name]);
    for (const child of children) {
      child.stdout?.destroy();
      child.stderr?.destroy();
    }
  }
}

export interface Spawned {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<unknown>;
}

export const WorldAddresses = Object.freeze({
  clientV4: ['198.51.100.7', '198.51.100.8', '198.51.100.9'],
  clientV6: ['2001:db8::7', '2001:db8::8', '2001:db8::9'],
  edgeClientSideV4: '198.51.100.1',
  edgeClientSideV6: '2001:db8::1',
  /** The node's address on the pod network: what the pod sees as the sender of edge traffic. */
  nodeV4: '10.244.1.1',
  nodeV6: 'fd00:10:244::1',
  podV4: '10.244.1.5',
  podV6: 'fd00:10:244::5',
  /** Another pod on the same node: an untrusted sender inside the pod network. */
  otherV4: '10.244.1.6',
  otherV6: 'fd00:10:244::6',
  podCidrV4: '10.244.1.0/24',
  podCidrV6: 'fd00:10:244::/64',
});

export interface World {
  readonly prefix: string;
  readonly client: Netns;
  readonly edge: Netns;
  readonly pod: Netns;
  readonly other: Netns;
  readonly addr: typeof WorldAddresses;
  cleanup(): Promise<void>;
}

/**
 * Builds client -> edge (router, the node) -> pod, plus another pod on the node's bridge. On any
 * failure while building, what was created is removed before the error is thrown.
 */
export async function buildWorld(tag = 'w'): Promise<World> {
  const prefix = uniqueName(tag);
  const made: Netns[] = [];
  const cleanup = async () => {
    const errors: unknown[] = [];
    for (const ns of made.reverse()) await ns.destroy().catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw new AggregateError(errors, 'netns cleanup failed');
  };
  try {
    const client = await Netns.create(`${prefix}-client`);
    made.push(client);
    const edge = await Netns.create(`${prefix}-edge`);
    made.push(edge);
    const pod = await Netns.create(`${prefix}-pod`);
    made.push(pod);
    const other = await Netns.create(`${prefix}-other`);
    made.push(other);
    const a = WorldAddresses;

    await edge.must(['sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
    // client <-> edge
    await must(IP, [
      '-n',
      edge.name,
      'link',
      'add',
      'cli0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      client.name,
    ]);
    await edge.must(['ip', 'addr', 'add', `${a.edgeClientSideV4}/24`, 'dev', 'cli0']);
    await edge.must(['ip', 'addr', 'add', `${a.edgeClientSideV6}/64`, 'dev', 'cli0', 'nodad']);
    await edge.must(['ip', 'link', 'set', 'cli0', 'up']);
    for (const v4 of a.clientV4) await client.must(['ip', 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
    for (const v6 of a.clientV6) await client.must(['ip', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
    await client.must(['ip', 'link', 'set', 'eth0', 'up']);
    await client.must(['ip', 'route', 'add', 'default', 'via', a.edgeClientSideV4]);
    await client.must(['ip', '-6', 'route', 'add', 'default', 'via', a.edgeClientSideV6]);
    // the node's pod bridge, and two pods on it
    await edge.must(['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await edge.must(['ip', 'addr', 'add', `${a.nodeV4}/24`, 'dev', 'br0']);
    await edge.must(['ip', 'addr', 'add', `${a.nodeV6}/64`, 'dev', 'br0', 'nodad']);
    await edge.must(['ip', 'link', 'set', 'br0', 'up']);
    for (const [ns, port, v4, v6] of [
      [pod, 'vpod', a.podV4, a.podV6],
      [other, 'vother', a.otherV4, a.otherV6],
    ] as const) {
      await must(IP, [
        '-n',
        edge.name,
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns.name,
      ]);
      await edge.must(['ip', 'link', 'set', port, 'master', 'br0']);
      await edge.must(['ip', 'link', 'set', port, 'up']);
      await ns.must(['ip', 'addr', 'add', `${v4}/24`, 'dev', 'eth0']);
      await ns.must(['ip', 'addr', 'add', `${v6}/64`, 'dev', 'eth0', 'nodad']);
      await ns.must(['ip', 'link', 'set', 'eth0', 'up']);
      await ns.must(['ip', 'route', 'add', 'default', 'via', a.nodeV4]);
      await ns.must(['ip', '-6', 'route', 'add', 'default', 'via', a.nodeV6]);
    }
    return { prefix, client, edge, pod, other, addr: a, cleanup };
  } catch (err) {
    await cleanup().catch(() => {});
    throw err;
  }
}

/** State of a namespace's steering, compared before/after `realip init` (comments and counters out). */
export async function steeringState(ns: Netns): Promise<string> {
  const parts: string[] = [];
  for (const argv of [
    ['iptables-save', '-t', 'nat'],
    ['ip6tables-save', '-t', 'nat'],
    // `-t nat` shows an empty nat table also where none was ever loaded (nft shows the same): the
    // kernel keeps a legacy table once loaded, and an empty one with ACCEPT policies changes nothing.
    ['iptables-legacy-save', '-t', 'nat'],
    ['ip6tables-legacy-save', '-t', 'nat'],
    ['ip', '-4', 'rule'],
    ['ip', '-6', 'rule'],
    ['ip', '-4', 'route', 'show', 'table', '15100'],
    ['ip', '-6', 'route', 'show', 'table', '15100'],
  ]) {
    // Exit codes are left out: a routing table that never existed ("FIB table does not exist") and
    // one emptied by cleanup (the kernel keeps it) hold the same routes: none.
    const r = await ns.run(argv);
    const text = r.stdout
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .map((l) => l.replace(/\[\d+:\d+\]$/, '[0:0]'))
      .join('\n');
    parts.push(`== ${argv.join(' ')}\n${text}`);
  }
  return parts.join('\n');
}
