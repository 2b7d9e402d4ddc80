/**
 * What the scenarios share: namespaces, applying the manifests in manifests/, the edge HAProxy in
 * the edge namespace (PROXY v1 exactly as the BIG-IP iRule of docs/install.md writes it: HAProxy's
 * send-proxy emits the same line), clients on the "internet" side and inside the cluster.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  apply,
  clusterEnv,
  getJson,
  inNs,
  kubectl,
  kubectlOk,
  type RunResult,
  STATE,
  spawnTracked,
  type Tracked,
  waitFor,
} from './cluster.ts';

export const MANIFESTS = new URL('manifests/', import.meta.url).pathname;

/** Creates the namespace if needed and labels it as a user would (`kubectl label namespace`). */
export async function namespace(name: string, labels: readonly string[] = []): Promise<void> {
  const r = await kubectl(['create', 'namespace', name]);
  if (r.code !== 0 && !/AlreadyExists/.test(r.stderr))
    throw new Error(`create namespace ${name}: ${r.stderr}`);
  if (labels.length > 0) await kubectlOk(['label', 'namespace', name, '--overwrite', ...labels]);
}

/** kubectl apply -f manifests/FILE, unchanged. */
export function applyFile(file: string): Promise<string> {
  return kubectlOk(['apply', '-f', join(MANIFESTS, file)]);
}

export { apply };

/** Waits for a Deployment's rollout; on timeout the error carries the pods' state and events. */
export async function rollout(ns: string, deploy: string, timeoutS = 120): Promise<void> {
  const r = await kubectl(['-n', ns, 'rollout', 'status', `deploy/${deploy}`, `--timeout=${timeoutS}s`], {
    timeoutMs: (timeoutS + 10) * 1000,
  });
  if (r.code !== 0) {
    const pods = await kubectl(['-n', ns, 'get', 'pods', '-o', 'wide']);
    const events = await kubectl(['-n', ns, 'get', 'events', '--sort-by=.lastTimestamp']);
    throw new Error(
      `rollout of ${ns}/${deploy} failed: ${r.stderr}\n${pods.stdout}\n${events.stdout.slice(-3000)}`,
    );
  }
}

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects from kubectl -o json
export type K8sObject = any;

export async function podsOf(ns: string, selector: string): Promise<K8sObject[]> {
  const list = await getJson<{ items: K8sObject[] }>(['pods', '-n', ns, '-l', selector]);
  return list.items.filter((p: K8sObject) => !p.metadata.deletionTimestamp);
}

/** The one running pod of a selector (waits for exactly one). */
export function onePod(ns: string, selector: string): Promise<K8sObject> {
  return waitFor(`one running pod ${ns}/${selector}`, async () => {
    const pods = (await podsOf(ns, selector)).filter((p: K8sObject) => p.status.phase === 'Running');
    return pods.length === 1 ? pods[0] : undefined;
  });
}

export interface EdgeFrontend {
  /** Port on the edge's client-side address (the "virtual server"). */
  readonly port: number;
  /** NodePort on the node. */
  readonly nodePort: number;
  readonly proxy: 'send-proxy' | 'send-proxy-v2';
}

/** HAProxy in the edge namespace; stopped by the caller (or by down.sh if the test crashed). */
export async function startEdge(name: string, frontends: readonly EdgeFrontend[]): Promise<Tracked> {
  const e = clusterEnv();
  const dir = join(STATE, 'edge');
  mkdirSync(dir, { recursive: true });
  const cfg = [
    'global',
    '  maxconn 5000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    ...frontends.flatMap((f) => [
      `frontend vs_${f.port}`,
      `  bind ${e.EDGE_CLIENT_SIDE_IP}:${f.port}`,
      `  bind [${e.EDGE_CLIENT_SIDE_IP6}]:${f.port}`,
      `  default_backend pool_${f.port}`,
      `backend pool_${f.port}`,
      `  server ${e.NODE_IP.replaceAll('.', '_')} ${e.NODE_IP}:${f.nodePort} ${f.proxy}`,
    ]),
    '',
  ].join('\n');
  const file = join(dir, `${name}.cfg`);
  writeFileSync(file, cfg);
  const haproxy = spawnTracked(e.EDGE_NS, 'haproxy', ['-db', '-f', file]);
  for (const f of frontends) {
    await waitFor(
      `edge HAProxy on ${e.EDGE_CLIENT_SIDE_IP}:${f.port}`,
      async () => {
        const r = await inNs(e.EDGE_NS, 'bash', [
          '-c',
          `exec 3<>/dev/tcp/${e.EDGE_CLIENT_SIDE_IP}/${f.port}`,
        ]);
        if (r.code === 0) return true;
        if (haproxy.output().includes('ALERT')) throw new Error(`HAProxy failed: ${haproxy.output()}`);
        return undefined;
      },
      15_000,
      200,
    );
  }
  return haproxy;
}

/** curl from a client address on the internet side to the edge's virtual server. */
export function curlFromClient(
  clientIp: string,
  port: number,
  path: string,
  extra: readonly string[] = [],
): Promise<RunResult> {
  const e = clusterEnv();
  // An IPv6 client reaches the edge's IPv6 address (the edge speaks IPv4 to the node).
  const vip = clientIp.includes(':') ? `[${e.EDGE_CLIENT_SIDE_IP6}]` : e.EDGE_CLIENT_SIDE_IP;
  return inNs(e.CLIENT_NS, 'curl', [
    '-sS',
    '-g',
    '--max-time',
    '15',
    '--interface',
    clientIp,
    ...extra,
    `http://${vip}:${port}${path}`,
  ]);
}

/** A raw TCP exchange from a client address to the edge: sends a line, returns what came back. */
export function tcpFromClient(clientIp: string, port: number, line: string): Promise<RunResult> {
  const e = clusterEnv();
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(clientIp.includes(':') ? e.EDGE_CLIENT_SIDE_IP6 : e.EDGE_CLIENT_SIDE_IP)}, port: ${port}, localAddress: ${JSON.stringify(clientIp)} });
    let out = '';
    s.setTimeout(15000, () => { console.error('timeout'); process.exit(3); });
    s.on('connect', () => s.write(${JSON.stringify(`${line}\n`)}));
    s.on('data', (d) => { out += d; });
    s.on('end', () => { process.stdout.write(out); process.exit(0); });
    s.on('error', (err) => { console.error(err.message); process.exit(2); });`;
  return inNs(e.CLIENT_NS, process.execPath, ['-e', script]);
}

/**
 * Runs a one-shot client pod (the apps image, `restartPolicy: Never`) in a namespace and returns
 * its output once it has finished.
 */
export async function runClientPod(
  ns: string,
  name: string,
  command: readonly string[],
): Promise<{ phase: string; logs: string }> {
  await kubectl(['-n', ns, 'delete', 'pod', name, '--ignore-not-found', '--wait=true']);
  await apply(
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns },
      spec: {
        restartPolicy: 'Never',
        containers: [
          { name: 'client', image: 'localhost/realip-test/apps:1', imagePullPolicy: 'Never', command },
        ],
      },
    }),
  );
  const phase = await waitFor(
    `client pod ${ns}/${name} to finish`,
    async () => {
      const p = await getJson<K8sObject>(['pod', '-n', ns, name]);
      return ['Succeeded', 'Failed'].includes(p.status.phase) ? (p.status.phase as string) : undefined;
    },
    90_000,
  );
  const logs = await kubectlOk(['-n', ns, 'logs', name]);
  return { phase, logs };
}

/** Container logs of a pod (kubectl logs, through the API server and the kubelet). */
export function logs(ns: string, pod: string, container: string): Promise<string> {
  return kubectlOk(['-n', ns, 'logs', pod, '-c', container]);
}

export function readManifest(file: string): string {
  return readFileSync(join(MANIFESTS, file), 'utf8');
}
