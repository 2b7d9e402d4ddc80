// HTTP/2 cleartext on a real cluster: an unchanged h2c service (nginx, prior knowledge, the way gRPC
// servers speak) whose port is named `http2`, in a labelled namespace, behind the edge HAProxy
// (PROXY v2). The webhook must pick the `http2` listener for it by the port's name alone, and every
// stream must reach the app with the edge's client, not the node address kube-proxy leaves.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  applyFile,
  curlFromClient,
  logs,
  namespace,
  onePod,
  rollout,
  runClientPod,
  startEdge,
} from './apps.ts';
import { clusterEnv, getJson, type Tracked } from './cluster.ts';

const VS_PORT = 82;
const esc = (ip: string) => ip.replaceAll('.', '\\.');

describe('HTTP/2 cleartext through the edge (PROXY v2) to an unchanged h2c app', () => {
  let edge: Tracked | undefined;
  before(async () => {
    await namespace('streams', ['realip.dev/inject=enabled']);
    await applyFile('streams.yaml');
    await rollout('streams', 'streams');
    edge = await startEdge('streams', [{ port: VS_PORT, nodePort: 30082, proxy: 'send-proxy-v2' }]);
  });
  after(async () => {
    await edge?.stop();
  });

  test('the webhook chose the http2 listener for the port named http2 and left the unnamed one alone', async () => {
    const pod = await onePod('streams', 'app=streams');
    const sidecar = (
      pod.spec.initContainers as { name: string; env?: { name: string; value?: string }[] }[]
    ).find((c) => c.name === 'realip-sidecar');
    assert.ok(sidecar, 'the pod has the sidecar');
    const listeners = sidecar.env?.find((v) => v.name === 'REALIP_LISTENERS')?.value ?? '';
    assert.match(listeners, /^http2:\d+:8080$/, `REALIP_LISTENERS=${listeners}`);
    const ready = pod.status.conditions.find((c: { type: string }) => c.type === 'Ready');
    assert.equal(ready.status, 'True');
  });

  test('every request over HTTP/2 carries the client on the internet side', async () => {
    const e = clusterEnv();
    for (const client of [e.CLIENT_IP, e.CLIENT_IP2, e.CLIENT_IP6]) {
      const r = await curlFromClient(client, VS_PORT, '/orders', ['--http2-prior-knowledge']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^proto=HTTP/2\\.0 xff=${esc(client)} real=${esc(client)} `));
    }
    const pod = await onePod('streams', 'app=streams');
    const log = await logs('streams', pod.metadata.name, 'nginx');
    assert.match(log, new RegExp(`client=${esc(e.CLIENT_IP)} .*"GET /orders HTTP/2\\.0" 200`));
  });

  test('several streams on one connection are each attributed; forged fields are not believed', async () => {
    const e = clusterEnv();
    // One curl, one connection, two streams (curl multiplexes with --parallel).
    const r = await curlFromClient(e.CLIENT_IP2, VS_PORT, '/a', [
      '--http2-prior-knowledge',
      '--parallel',
      '-H',
      'X-Forwarded-For: 192.0.2.66',
      '-H',
      'X-Real-IP: 192.0.2.66',
      '-H',
      'Forwarded: for=192.0.2.66',
      `http://${e.EDGE_CLIENT_SIDE_IP}:${VS_PORT}/b`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, r.stdout);
    for (const line of lines) {
      assert.doesNotMatch(line, /192\.0\.2\.66/);
      assert.match(
        line,
        new RegExp(`^proto=HTTP/2\\.0 xff=${esc(e.CLIENT_IP2)} real=${esc(e.CLIENT_IP2)} fwd=for=`),
      );
    }
  });

  test('an in-cluster HTTP/2 client reaches the same app directly, unchanged', async () => {
    await namespace('clients');
    const svc = await getJson<{ spec: { clusterIP: string } }>(['svc', '-n', 'streams', 'streams']);
    const r = await runClientPod('clients', 'curl-streams', [
      'curl',
      '-sS',
      '--max-time',
      '10',
      '--http2-prior-knowledge',
      `http://${svc.spec.clusterIP}/inside`,
    ]);
    assert.equal(r.phase, 'Succeeded', r.logs);
    // Not from a trusted range: not steered, no PROXY header, no forwarded fields.
    assert.match(r.logs, /^proto=HTTP\/2\.0 xff= real= fwd= peer=/);
  });
});
