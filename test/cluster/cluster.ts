/**
 * The test cluster from TypeScript (docs/test-cluster.md): runs up.sh / down.sh, and runs kubectl,
 * helm and other commands inside the cluster's network namespaces. The scripts own the layout; the
 * facts the tests need are read from the cluster.env file up.sh writes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLUSTER_DIR_SCRIPTS = new URL('.', import.meta.url).pathname;
export const REPO = new URL('../..', import.meta.url).pathname;
export const STATE = process.env.REALIP_CLUSTER_DIR ?? '/var/lib/realip-cluster';

export interface ClusterEnv {
  readonly KUBECONFIG: string;
  readonly KUBECTL: string;
  readonly HELM: string;
  readonly NODE_NS: string;
  readonly EDGE_NS: string;
  readonly CLIENT_NS: string;
  readonly NODE_IP: string;
  readonly EDGE_NODE_SIDE_IP: string;
  readonly EDGE_CLIENT_SIDE_IP: string;
  readonly CLIENT_IP: string;
  readonly CLIENT_IP2: string;
  readonly CLIENT_IP6: string;
  readonly EDGE_CLIENT_SIDE_IP6: string;
  readonly POD_CIDR: string;
  readonly POD_GATEWAY: string;
}

let cached: ClusterEnv | undefined;
/** The running cluster's facts; throws when no cluster is up. */
export function clusterEnv(): ClusterEnv {
  if (cached) return cached;
  const file = join(STATE, 'cluster.env');
  if (!existsSync(file)) {
    throw new Error(`no test cluster is up (${file} missing): run the suite with "npm run test:cluster"`);
  }
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  cached = env as unknown as ClusterEnv;
  return cached;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly input?: string;
  readonly timeoutMs?: number;
  readonly env?: Record<string, string>;
}

/** Runs a command to completion (never throws for a non-zero exit; the caller asserts). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : -1), stdout, stderr });
    });
    if (child.stdin) {
      // A command that exits without reading its input must not fail the caller with EPIPE.
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a command in one of the cluster's network namespaces (nsenter: /sys stays the host's). */
export function inNs(
  ns: string,
  cmd: string,
  args: readonly string[],
  opts?: RunOptions,
): Promise<RunResult> {
  return run('nsenter', [`--net=/run/netns/${ns}`, cmd, ...args], opts);
}

/** kubectl as the cluster admin, from the node's namespace (the API server listens there). */
export function kubectl(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  const e = clusterEnv();
  return inNs(e.NODE_NS, e.KUBECTL, ['--kubeconfig', e.KUBECONFIG, ...args], opts);
}

/** kubectl that must succeed: returns stdout, throws with kubectl's message otherwise. */
export async function kubectlOk(args: readonly string[], opts?: RunOptions): Promise<string> {
  const r = await kubectl(args, opts);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** kubectl apply -f - of a manifest string. */
export function apply(manifest: string): Promise<string> {
  return kubectlOk(['apply', '-f', '-'], { input: manifest });
}

/** kubectl get -o json, parsed. */
export async function getJson<T = unknown>(args: readonly string[]): Promise<T> {
  return JSON.parse(await kubectlOk(['get', ...args, '-o', 'json'])) as T;
}

/** helm (the Go-built one) with a private HOME, as the cluster admin. */
export function helm(args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  const e = clusterEnv();
  const home = join(STATE, 'helm-home');
  return inNs(e.NODE_NS, e.HELM, ['--kubeconfig', e.KUBECONFIG, ...args], {
    ...opts,
    env: {
      HOME: home,
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_DATA_HOME: join(home, 'data'),
      ...opts?.env,
    },
  });
}

/** Polls check() until it returns a value (not undefined) or the time is up; the error names what. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Brings the cluster up (up.sh); resolves with its stderr log (timings), rejects with it on failure. */
export async function clusterUp(): Promise<string> {
  const r = await run('bash', [join(CLUSTER_DIR_SCRIPTS, 'up.sh')], {
    timeoutMs: 600_000,
    env: { REALIP_CLUSTER_OWNER: String(process.pid) },
  });
  if (r.code !== 0) throw new Error(`test cluster did not come up:\n${r.stderr}`);
  cached = undefined;
  return r.stderr;
}

/** Tears everything down (down.sh), synchronously so it also works from an exit handler. */
export function clusterDown(): RunResult {
  const r = spawnSync('bash', [join(CLUSTER_DIR_SCRIPTS, 'down.sh')], {
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, REALIP_CLUSTER_OWNER: String(process.pid) },
  });
  cached = undefined;
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

export interface Tracked {
  readonly pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts a long-running process in a cluster namespace (e.g. the edge HAProxy), inside the cluster's
 * tracking cgroup, so down.sh kills it even when the test that started it crashed.
 */
export function spawnTracked(ns: string, cmd: string, args: readonly string[]): Tracked {
  const child = spawn(
    'sh',
    [
      '-c',
      'echo $$ > /sys/fs/cgroup/pids/realip-cluster/cgroup.procs && exec "$@"',
      'sh',
      'nsenter',
      `--net=/run/netns/${ns}`,
      cmd,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    out += c;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? -1,
    output: () => out,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}
