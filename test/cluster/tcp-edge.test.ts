// TCP apps behind the edge: a PROXY-aware app (the sidecar's tcp mode re-emits a fresh header) and
// an app that knows nothing of PROXY (transparent mode: it sees the client as its TCP peer), with
// HAProxy PROXY v1 and an NLB-style PROXY v2 edge carrying the AWS VPC endpoint TLV.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyFile, namespace, rollout, runClientPod, startEdge, tcpFromClient } from './apps.ts';
import { clusterEnv, getJson, inNs, spawnTracked, type Tracked, waitFor } from './cluster.ts';

const TALLY_V1 = 9000;
const LEDGER_V1 = 9100;
const TALLY_V2 = 9001;
const LEDGER_V2 = 9101;
const esc = (s: string) => s.replaceAll('.', '\\.');

describe('TCP apps through the edge', () => {
  const edges: Tracked[] = [];
  before(async () => {
    await namespace('ledger', ['realip.dev/inject=enabled']);
    await applyFile('ledger.yaml');
    await rollout('ledger', 'tally');
    await rollout('ledger', 'ledger');
    edges.push(
      await startEdge('tcp', [
        { port: TALLY_V1, nodePort: 30900, proxy: 'send-proxy' },
        { port: LEDGER_V1, nodePort: 30910, proxy: 'send-proxy' },
      ]),
    );
    const e = clusterEnv();
    const nlb = new URL('nlb-edge.ts', import.meta.url).pathname;
    for (const [port, nodePort] of [
      [TALLY_V2, 30900],
      [LEDGER_V2, 30910],
    ] as const) {
      const p = spawnTracked(e.EDGE_NS, process.execPath, [
        nlb,
        e.EDGE_CLIENT_SIDE_IP,
        String(port),
        e.NODE_IP,
        String(nodePort),
        'vpce-0a1b2c3d4e5f60718',
      ]);
      edges.push(p);
      await waitFor(
        `nlb-edge on ${port}`,
        async () => (p.output().includes('listening') ? true : undefined),
        15_000,
        100,
      );
    }
  });
  after(async () => {
    for (const e of edges) await e.stop();
  });

  test('PROXY-aware app (tcp mode), PROXY v1 edge: the re-emitted header names the client', async () => {
    const e = clusterEnv();
    const r = await tcpFromClient(e.CLIENT_IP, TALLY_V1, 'hello');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^proxy-aware src=${esc(e.CLIENT_IP)}:\\d+ peer=`));
  });

  test('PROXY-aware app, IPv6 client: the re-emitted header names it', async () => {
    const e = clusterEnv();
    const r = await tcpFromClient(e.CLIENT_IP6, TALLY_V1, 'hello');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^proxy-aware src=${e.CLIENT_IP6}:\\d+ peer=`));
  });

  test('unmodified app (transparent mode), PROXY v1 edge: its TCP peer is the client', async () => {
    const e = clusterEnv();
    for (const client of [e.CLIENT_IP, e.CLIENT_IP2]) {
      const r = await tcpFromClient(client, LEDGER_V1, 'hello');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`^plain peer=(::ffff:)?${esc(client)}:\\d+`));
    }
  });

  test('PROXY v2 with the AWS VPC endpoint TLV: both apps see the client', async () => {
    const e = clusterEnv();
    const a = await tcpFromClient(e.CLIENT_IP2, TALLY_V2, 'hello');
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, new RegExp(`^proxy-aware src=${esc(e.CLIENT_IP2)}:\\d+ `));
    const b = await tcpFromClient(e.CLIENT_IP2, LEDGER_V2, 'hello');
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`^plain peer=(::ffff:)?${esc(e.CLIENT_IP2)}:\\d+`));
  });

  test('a connection without a PROXY header from the edge network is refused, not believed', async () => {
    // Straight to the NodePort from the edge (trusted after kube-proxy's SNAT) with no header: the
    // sidecar closes it (proxy: required), the app never answers as if the node were the client.
    const e = clusterEnv();
    const r = await inNs(e.EDGE_NS, process.execPath, [
      '-e',
      `const s=require('node:net').connect(30910, ${JSON.stringify(e.NODE_IP)}); let o=''; s.on('connect',()=>s.write('hello\\n')); s.on('data',d=>o+=d); s.on('close',()=>{process.stdout.write(o)}); s.on('error',()=>{}); setTimeout(()=>process.exit(0),10000).unref();`,
    ]);
    assert.doesNotMatch(r.stdout, /plain peer=/);
  });

  test('an in-cluster client reaches the unmodified app directly', async () => {
    await namespace('clients');
    const svc = await getJson<{ spec: { clusterIP: string } }>(['svc', '-n', 'ledger', 'ledger']);
    const script = `const s=require('node:net').connect(9100, ${JSON.stringify(svc.spec.clusterIP)}); let o=''; s.on('connect',()=>s.write('hi\\n')); s.on('data',d=>o+=d); s.on('end',()=>{console.log(o.trim()); process.exit(0)}); s.on('error',e=>{console.log('error '+e.message); process.exit(1)});`;
    const r = await runClientPod('clients', 'tcp-ledger', ['node', '-e', script]);
    assert.equal(r.phase, 'Succeeded', r.logs);
    assert.match(r.logs, /^plain peer=(::ffff:)?10\.88\.0\.\d+:\d+/);
  });
});
