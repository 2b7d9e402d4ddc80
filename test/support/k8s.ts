/**
 * A real Kubernetes control plane for tests: etcd and kube-apiserver, both built from Go modules by
 * test/setup.d/20-k8s-tools.sh, on loopback with random ports and a temp directory. No kubelet, no
 * controller-manager, no scheduler: pods are stored (and pass admission) but never run.
 *
 * The admin user authenticates with a static token and is in system:masters; authorization is RBAC,
 * so tokens of ServiceAccounts (TokenRequest works without a controller-manager) get exactly what
 * their Roles grant: the chart's least-privilege RBAC is exercised for real.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  CoreV1Api,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  PatchStrategy,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { freeEphemeralPort } from '../../devkit/ports.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const TOOLS_SCRIPT = join(ROOT, 'test/setup.d/20-k8s-tools.sh');

export type Tool = 'helm' | 'kube-apiserver' | 'etcd';

let binDir: string | undefined;
/** The cached bin directory of the Go-built tools (the build script owns the cache key). */
export function toolsBinDir(): string {
  binDir ??= execFileSync('bash', [TOOLS_SCRIPT, '--print-dir'], { encoding: 'utf8' }).trim();
  return binDir;
}

/** Absolute path of a Go-built tool; throws a message telling how to build it when it is missing. */
export function toolPath(tool: Tool): string {
  const p = join(toolsBinDir(), tool);
  if (!existsSync(p)) {
    throw new Error(
      `${tool} not found at ${p}: build the control-plane tools with "bash test/setup.sh" ` +
        '(or just "bash test/setup.d/20-k8s-tools.sh"; 10-20 minutes once, cached afterwards)',
    );
  }
  return p;
}

export const CHART_DIR = join(ROOT, 'charts/realip');

let helmHome: string | undefined;
/** Runs the Go-built helm with a private HOME (no repositories, no plugins, no user config). */
export function helm(args: readonly string[]): { status: number; stdout: string; stderr: string } {
  const bin = toolPath('helm');
  helmHome ??= mkdtempSync(join(tmpdir(), 'realip-helm-home-'));
  const r = spawnSync(bin, args, {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: helmHome,
      HELM_CACHE_HOME: join(helmHome, 'cache'),
      HELM_CONFIG_HOME: join(helmHome, 'config'),
      HELM_DATA_HOME: join(helmHome, 'data'),
    },
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` of our chart; throws with helm's message on failure. */
export function helmTemplate(
  setArgs: readonly string[] = [],
  opts: { release?: string; namespace?: string } = {},
): string {
  const r = helm([
    'template',
    opts.release ?? 'realip',
    CHART_DIR,
    '--namespace',
    opts.namespace ?? 'realip-system',
    ...setArgs,
  ]);
  if (r.status !== 0) throw new Error(`helm template failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  readonly server: string;
  readonly kubeconfigPath: string;
  readonly kc: KubeConfig;
  /** The admin's bearer token (system:masters). */
  readonly token: string;
  /** The API server's serving CA (PEM), as in the kubeconfig. */
  readonly caPem: string;
  /** Temp directory holding data, logs and keys; removed by stop(). */
  readonly dir: string;
  /** Writes a kubeconfig for another bearer token (e.g. a ServiceAccount's) and returns its path. */
  kubeconfigForToken(name: string, token: string): string;
  stop(): Promise<void>;
}

interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly log: string;
}

function start(name: string, cmd: string, args: string[], dir: string): Proc {
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  return { name, child, log };
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => p.child.once('exit', () => resolve()));
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function get(url: string, token: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        headers: { authorization: `Bearer ${token}` },
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        timeout: 2000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(what: string, proc: Proc, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null) {
      throw new Error(`${proc.name} exited with ${proc.child.exitCode} before ${what}:\n${tail(proc.log)}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what} (${String(last)}):\n${tail(proc.log)}`,
  );
}

function kubeconfigYaml(name: string, server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: realip-test',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    `- name: ${name}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    `- name: ${name}`,
    '  context:',
    '    cluster: realip-test',
    `    user: ${name}`,
    `current-context: ${name}`,
    '',
  ].join('\n');
}

/**
 * Starts etcd and kube-apiserver and waits for /readyz. Pass the test context to have it stopped in
 * t.after (which runs even when the test fails); suites call stop() in their after hook.
 */
export async function startControlPlane(t?: TestContext): Promise<ControlPlane> {
  // Free ports are picked before the servers bind them, so a parallel test file can take one in
  // between: try again with fresh ports (and a fresh directory).
  let last: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      const cp = await startControlPlaneOnce();
      t?.after(cp.stop);
      return cp;
    } catch (err: unknown) {
      last = err;
      if (err instanceof Error && /not found at .*build the control-plane tools/.test(err.message)) throw err;
    }
  }
  throw last;
}

async function startControlPlaneOnce(): Promise<ControlPlane> {
  const etcdBin = toolPath('etcd');
  const apiserverBin = toolPath('kube-apiserver');
  const dir = mkdtempSync(join(tmpdir(), 'realip-k8s-'));
  const procs: Proc[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const p of [...procs].reverse()) await stopProc(p);
    if (!process.env.REALIP_KEEP_K8S_DIR) rmSync(dir, { recursive: true, force: true });
  };
  // A crashed test runner must not leave servers behind.
  const onExit = () => {
    for (const p of procs) p.child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  try {
    const etcdPort = await freeEphemeralPort();
    const peerPort = await freeEphemeralPort();
    const etcd = start(
      'etcd',
      etcdBin,
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      ],
      dir,
    );
    procs.push(etcd);
    await waitFor(
      'etcd to be ready',
      etcd,
      async () => {
        const res = await fetch(`http://127.0.0.1:${etcdPort}/health`);
        return res.ok;
      },
      30_000,
    );

    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${token},realip-admin,realip-admin-uid,"system:masters"\n`);
    const certDir = join(dir, 'certs');
    mkdirSync(certDir);
    const port = await freeEphemeralPort();
    const apiserver = start(
      'kube-apiserver',
      apiserverBin,
      [
        `--etcd-servers=http://127.0.0.1:${etcdPort}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${port}`,
        `--cert-dir=${certDir}`,
        '--service-cluster-ip-range=10.96.0.0/24',
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        // No controller-manager creates the "default" ServiceAccount of each namespace, which this
        // plugin would require for every pod.
        '--disable-admission-plugins=ServiceAccount',
        '--allow-privileged=true',
        '--profiling=false',
        '--enable-priority-and-fairness=false',
        '--endpoint-reconciler-type=none',
        '-v=1',
      ],
      dir,
    );
    procs.push(apiserver);
    const server = `https://127.0.0.1:${port}`;
    await waitFor(
      'kube-apiserver /readyz',
      apiserver,
      async () => (await get(`${server}/readyz`, token)).status === 200,
      90_000,
    );
    const caPem = readFileSync(join(certDir, 'apiserver.crt'), 'utf8');
    const kubeconfigFor = (name: string, tok: string) => {
      const path = join(dir, `kubeconfig-${name}.yaml`);
      writeFileSync(path, kubeconfigYaml(name, server, caPem, tok), { mode: 0o600 });
      return path;
    };
    const kubeconfigPath = kubeconfigFor('admin', token);
    // The kubeconfig must verify the server for real (no insecure-skip-tls-verify).
    await get(`${server}/version`, token, caPem);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const cp: ControlPlane = {
      server,
      kubeconfigPath,
      kc,
      token,
      caPem,
      dir,
      kubeconfigForToken: kubeconfigFor,
      stop: async () => {
        process.removeListener('exit', onExit);
        await stop();
      },
    };
    return cp;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A real token of a ServiceAccount (TokenRequest: no controller-manager needed), as a kubeconfig. */
export async function serviceAccountKubeconfig(
  cp: ControlPlane,
  namespace: string,
  name: string,
): Promise<string> {
  const core = cp.kc.makeApiClient(CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { expirationSeconds: 3600, audiences: [] } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`no token issued for ${namespace}/${name}`);
  return cp.kubeconfigForToken(`${namespace}-${name}`, token);
}

/** The plain env of the chart's webhook container (values only; fieldRefs are the caller's job). */
export function chartWebhookEnv(renderedYaml: string): Record<string, string> {
  const docs = parseAllDocuments(renderedYaml).map((d) => d.toJS() as Record<string, unknown>);
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML
  const dep = docs.find((d) => d?.kind === 'Deployment') as any;
  if (!dep) throw new Error('no Deployment in the render');
  const env: Record<string, string> = {};
  for (const e of dep.spec.template.spec.containers[0].env as { name: string; value?: string }[]) {
    if (e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}

/**
 * node + arguments that run `realip ARGS...` from the TypeScript sources of this checkout (never a
 * possibly stale dist/), on Node 24 from node_modules.
 */
export function realipArgv(args: readonly string[]): [string, string[]] {
  const main = join(ROOT, 'cli/main.ts');
  const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main(process.argv.slice(1));`;
  return [join(ROOT, 'node_modules/.bin/node'), ['--input-type=module', '-e', script, ...args]];
}

export interface RunningWebhook {
  readonly port: number;
  readonly metricsPort: number;
  /** https://127.0.0.1:PORT/mutate */
  readonly url: string;
  readonly log: string;
  stop(): Promise<void>;
}

/**
 * Runs `realip webhook` from this checkout (Node 24 from node_modules) on loopback, with the given
 * REALIP_* environment (ports and host are chosen here), and waits for /readyz.
 */
export async function startRealipWebhook(
  env: Record<string, string>,
  dir: string,
  t?: TestContext,
): Promise<RunningWebhook> {
  const port = await freeEphemeralPort();
  const metricsPort = await freeEphemeralPort();
  const [node, argv] = realipArgv(['webhook']);
  const name = `webhook-${port}`;
  const log = join(dir, `${name}.log`);
  const out = createWriteStream(log);
  const child = spawn(node, argv, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: dir,
      ...env,
      REALIP_WEBHOOK_PORT: String(port),
      REALIP_METRICS_PORT: String(metricsPort),
      REALIP_WEBHOOK_HOST: '127.0.0.1',
    },
  });
  child.stdout?.pipe(out);
  child.stderr?.pipe(out);
  const proc: Proc = { name, child, log };
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    await stopProc(proc);
  };
  t?.after(stop);
  try {
    await waitFor(
      'realip webhook /readyz',
      proc,
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200,
      30_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, metricsPort, url: `https://127.0.0.1:${port}/mutate`, log, stop };
}

/**
 * Server-side applies every object of a rendered chart except the webhook Deployment: nothing
 * would run its pods here; the tests start `realip webhook` themselves (startRealipWebhook).
 */
export async function applyChartObjects(cp: ControlPlane, rendered: string): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(cp.kc);
  for (const o of parseAllDocuments(rendered).map((d) => d.toJS() as KubernetesObject)) {
    if (o?.kind === 'Deployment') continue;
    await api.patch(o, undefined, undefined, 'realip-test', true, PatchStrategy.ServerSideApply);
  }
}
