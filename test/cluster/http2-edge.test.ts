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
import { clusterEnv, getJson, inNs, type Tracked } from './cluster.ts';

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

  test('concurrent streams on one connection are each attributed; forged fields are not believed', async () => {
    const e = clusterEnv();
    // node:http2 from the client address: five streams at once on one connection, each with forged
    // forwarding fields. (curl 7.88 cannot run a second transfer over a prior-knowledge connection.)
    const script = `
      const http2 = require('node:http2'), net = require('node:net');
      const socket = net.connect({ host: ${JSON.stringify(e.EDGE_CLIENT_SIDE_IP)}, port: ${VS_PORT}, localAddress: ${JSON.stringify(e.CLIENT_IP2)} });
      const session = http2.connect('http://streams.example', { createConnection: () => socket });
      session.on('error', (err) => { console.error(err.message); process.exit(2); });
      setTimeout(() => { console.error('timeout'); process.exit(3); }, 15000).unref();
      const forged = { 'x-forwarded-for': '192.0.2.66', 'x-real-ip': '192.0.2.66', forwarded: 'for=192.0.2.66' };
      Promise.all([1, 2, 3, 4, 5].map((i) => new Promise((resolve, reject) => {
        const req = session.request({ ':path': '/s' + i, ...forged });
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (d) => { body += d; });
        req.on('end', () => resolve(body.trim()));
        req.on('error', reject);
        req.end();
      }))).then((bodies) => { console.log(bodies.join('\\n')); session.close(); }, (err) => { console.error(err.message); process.exit(4); });`;
    const r = await inNs(e.CLIENT_NS, process.execPath, ['-e', script]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 5, r.stdout);
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
