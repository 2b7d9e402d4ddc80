// gRPC on a real cluster: an unchanged Go gRPC server (google.golang.org/grpc) on a port named
// `grpc`, checked by kubelet's own grpc probes, in a labelled namespace, behind the edge HAProxy
// (PROXY v2). The webhook must give the port the http2 listener and point the grpc probes at the
// sidecar's admin port (kubelet's connection from the node would otherwise be steered into the
// sidecar and refused), and every RPC must carry the edge's client in its metadata.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyFile, namespace, onePod, rollout, startEdge } from './apps.ts';
import { clusterEnv, inNs, type Tracked } from './cluster.ts';

const VS_PORT = 9000;
const PEER = new URL('../../.cache/testapps/realip-grpc-peer', import.meta.url).pathname;

interface RpcResult {
  code: string;
  message: string;
  messages: number;
  bytes: number;
  /** Messages that did not come back as sent. */
  mismatch: number;
  echo?: { xff: string[]; xRealIp: string[]; forwarded: string[] };
}

/** Runs the Go gRPC client in the client namespace against the edge's virtual server. */
async function rpc(scenario: string, extra: readonly string[] = []): Promise<RpcResult> {
  const e = clusterEnv();
  const r = await inNs(e.CLIENT_NS, PEER, [
    'client',
    '-addr',
    `${e.EDGE_CLIENT_SIDE_IP}:${VS_PORT}`,
    '-scenario',
    scenario,
    '-timeout-ms',
    '15000',
    ...extra,
  ]);
  assert.equal(r.code, 0, `client: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as RpcResult;
}

describe('gRPC through the edge (PROXY v2) to an unchanged Go gRPC server', () => {
  let edge: Tracked | undefined;
  /** The address the client namespace's kernel picks towards the edge: what the app must see. */
  let client = '';
  before(async () => {
    await namespace('rpc', ['realip.dev/inject=enabled']);
    await applyFile('rpc.yaml');
    // Ready only if kubelet's rewritten grpc probes pass through the sidecar's health call.
    await rollout('rpc', 'rpc');
    edge = await startEdge('rpc', [{ port: VS_PORT, nodePort: 30083, proxy: 'send-proxy-v2' }]);
    const e = clusterEnv();
    const route = await inNs(e.CLIENT_NS, 'ip', ['-o', 'route', 'get', e.EDGE_CLIENT_SIDE_IP]);
    client = /\bsrc (\S+)/.exec(route.stdout)?.[1] ?? '';
    assert.ok(client !== '', `no source address towards the edge: ${route.stdout}${route.stderr}`);
  });
  after(async () => {
    await edge?.stop();
  });

  test('the grpc port got the http2 listener and the grpc probes go to the admin port', async () => {
    const pod = await onePod('rpc', 'app=rpc');
    const sidecar = (
      pod.spec.initContainers as { name: string; env?: { name: string; value?: string }[] }[]
    ).find((c) => c.name === 'realip-sidecar');
    assert.ok(sidecar, 'the pod has the sidecar');
    const env = (name: string) => sidecar.env?.find((v) => v.name === name)?.value ?? '';
    assert.match(env('REALIP_LISTENERS'), /^http2:\d+:9000$/);
    assert.deepEqual(JSON.parse(env('REALIP_APP_PROBES')), {
      '/app-health/server/livez': { grpc: { port: 9000, service: '' }, timeoutSeconds: 1 },
      '/app-health/server/readyz': { grpc: { port: 9000, service: '' }, timeoutSeconds: 1 },
    });
    const server = pod.spec.containers[0];
    assert.equal(server.readinessProbe.httpGet.path, '/app-health/server/readyz');
    assert.equal(server.readinessProbe.grpc, undefined);
    const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'True', 'kubelet found the app SERVING through the sidecar');
  });

  test('a unary RPC carries the client on the internet side; forged metadata is dropped', async () => {
    const r = await rpc('unary', ['-meta', 'x-forwarded-for=192.0.2.66', '-meta', 'x-real-ip=192.0.2.66']);
    assert.equal(r.code, 'OK', r.message);
    assert.deepEqual(r.echo?.xff, [client]);
    assert.deepEqual(r.echo?.xRealIp, [client]);
    assert.ok(!JSON.stringify(r.echo).includes('192.0.2.66'), JSON.stringify(r.echo));
  });

  test('streaming RPCs both ways move megabytes through the pod intact', async () => {
    const down = await rpc('server-stream', ['-n', '64', '-size', '65536']);
    assert.equal(down.code, 'OK', down.message);
    assert.equal(down.messages, 64);
    assert.equal(down.bytes, 64 * 65536);
    assert.equal(down.mismatch, 0);
    const bidi = await rpc('bidi', ['-n', '32', '-size', '32768']);
    assert.equal(bidi.code, 'OK', bidi.message);
    assert.equal(bidi.messages, 32);
    assert.equal(bidi.mismatch, 0);
  });
});
