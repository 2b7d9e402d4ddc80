/**
 * Shared setup for the end-to-end pod tests (test/integration/e2e-pod-*.test.ts): `realip init` in
 * the pod, the `realip sidecar` in the pod, the HAProxy edge on the node (send-proxy v1 and
 * send-proxy-v2 frontends), the client's connection through the edge, and the cleanup.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AppProbesJson } from '../../common/contract.ts';
import { sidecarArgv } from '../../devkit/sidecar-argv.ts';
import { REALIP_MAIN, type RunResult, type Spawned, type World } from './netns.ts';

/** HAProxy frontends on the node: v1 to the pod's IPv4 address, v2 to its IPv6 address. */
export const EDGE_V1 = 8001;
export const EDGE_V2 = 8002;

/** Runs `realip init --listener <listener>` in the pod and asserts it succeeded. */
export async function initPod(w: World, listener: string): Promise<void> {
  const init = await w.pod.realip(['init', '--listener', listener, '--log-level', 'warn']);
  assert.equal(init.code, 0, `realip init: ${init.stderr}`);
}

/** Spawns `realip sidecar` in the pod, trusting the node, and waits for its listener and admin ports. */
export async function startSidecar(
  w: World,
  listener: string,
  listenPort: number,
  adminPort: number,
  appProbes?: AppProbesJson,
): Promise<Spawned> {
  const a = w.addr;
  // The admin port on every address of the pod (no --admin-host): probes come from the node.
  const sidecar = w.pod.spawn([
    process.execPath,
    ...sidecarArgv(REALIP_MAIN, {
      listeners: [listener],
      trusted: `${a.nodeV4}/32,${a.nodeV6}/128`,
      adminPort,
      args: [
        '--log-level',
        'warn',
        ...(appProbes !== undefined ? ['--app-probes', JSON.stringify(appProbes)] : []),
      ],
    }),
  ]);
  await w.pod.waitForPort(listenPort, 15_000, sidecar);
  await w.pod.waitForPort(adminPort, 15_000, sidecar);
  return sidecar;
}

/** The edge HAProxy: EDGE_V1 sends PROXY v1 to the pod's IPv4 address, EDGE_V2 sends v2 to its IPv6 one. */
export function haproxyEdgeConfig(w: World, appPort: number): string {
  const a = w.addr;
  return `global
  maxconn 200
defaults
  mode tcp
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend edge_v1
  bind ${a.edgeClientSideV4}:${EDGE_V1}
  bind [${a.edgeClientSideV6}]:${EDGE_V1}
  default_backend pod_v1
backend pod_v1
  server pod ${a.podV4}:${appPort} send-proxy
frontend edge_v2
  bind ${a.edgeClientSideV4}:${EDGE_V2}
  bind [${a.edgeClientSideV6}]:${EDGE_V2}
  default_backend pod_v2
backend pod_v2
  server pod [${a.podV6}]:${appPort} send-proxy-v2
`;
}

/** Writes the edge config into dir and starts HAProxy in the edge namespace; waits for both frontends. */
export async function startEdge(w: World, dir: string, appPort: number): Promise<Spawned> {
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyEdgeConfig(w, appPort));
  const haproxy = w.edge.spawn(['haproxy', '-db', '-f', cfg]);
  await w.edge.waitForPort(EDGE_V1, 10_000, haproxy);
  await w.edge.waitForPort(EDGE_V2, 10_000, haproxy);
  return haproxy;
}

export interface PodSetup {
  /** `<mode>:<listenPort>:<appPort>` as given to `realip init` and `realip sidecar`. */
  readonly listener: string;
  readonly listenPort: number;
  readonly appPort: number;
  readonly adminPort: number;
  /** REALIP_APP_PROBES as the webhook writes it: the probes the admin port performs. */
  readonly appProbes?: AppProbesJson;
}

/** With the app already listening in the pod: init, sidecar, edge. Returns the sidecar. */
export async function setupPod(w: World, dir: string, s: PodSetup): Promise<Spawned> {
  await initPod(w, s.listener);
  const sidecar = await startSidecar(w, s.listener, s.listenPort, s.adminPort, s.appProbes);
  await startEdge(w, dir, s.appPort);
  return sidecar;
}

/** For after(): removes the world (w may be unset when before() failed early) and the temp dir. */
export async function cleanupPod(w: World | undefined, dir: string | undefined): Promise<void> {
  try {
    await w?.cleanup();
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** curl from a client address through the edge; the caller asserts on the result. */
export function curlViaEdge(
  w: World,
  client: string,
  edgeHost: string,
  port: number,
  path: string,
): Promise<RunResult> {
  const host = edgeHost.includes(':') ? `[${edgeHost}]` : edgeHost;
  return w.client.run([
    'curl',
    '-sS',
    '-g',
    '--max-time',
    '10',
    '--interface',
    client,
    `http://${host}:${port}${path}`,
  ]);
}

/**
 * A TCP connection from a client address through the edge, without half-close (HAProxy may drop a
 * connection whose client shut down before the server answered); the caller asserts on the result.
 */
export function connectViaEdge(
  w: World,
  client: string,
  edgeHost: string,
  port: number,
  send: string,
  timeoutMs?: number,
): ReturnType<World['client']['connect']> {
  return w.client.connect({
    host: edgeHost,
    port,
    localAddress: client,
    send,
    halfClose: false,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}

/**
 * curl from the node (the edge namespace), as a kubelet probe or a stray caller would: no PROXY
 * header. `statusOnly` prints just the HTTP status; the caller asserts on the result.
 */
export function curlFromNode(
  w: World,
  url: string,
  o: { readonly statusOnly?: boolean; readonly headers?: readonly string[] } = {},
): Promise<RunResult> {
  return w.edge.run([
    'curl',
    '-sS',
    '-g',
    '--max-time',
    '10',
    ...(o.statusOnly ? ['-o', '/dev/null', '-w', '%{http_code}'] : []),
    ...(o.headers ?? []).flatMap((h) => ['-H', h]),
    url,
  ]);
}
