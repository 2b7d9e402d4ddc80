// End to end on network-namespace "pods", `transparent` mode: client -> HAProxy edge (send-proxy v1
// and send-proxy-v2) -> pod:6379 -> REDIRECT (realip init, with its policy routing) -> realip sidecar
// :15002, which connects to the app FROM the client's address (IP_TRANSPARENT) -> an unmodified TCP
// app whose getpeername() is the client. The app's reply reaching the client proves the policy
// routing. Namespaces are removed even when a case fails.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildWorld, type Spawned, steeringState, type World } from '../support/netns.ts';
import { cleanupPod, connectViaEdge, EDGE_V1, EDGE_V2, setupPod } from '../support/pod-e2e.ts';

const APP_PORT = 6379;
const LISTEN_PORT = 15002;
const ADMIN_PORT = 15021;

/** An unmodified TCP app that speaks first: it tells who its peer is, then echoes. */
const APP = `
require('node:net').createServer((s) => {
  process.stdout.write('peer ' + s.remoteAddress + '\\n');
  s.write('peer=' + s.remoteAddress + ' port=' + s.remotePort + '\\n');
  s.on('data', (b) => s.write(b));
  s.on('end', () => s.end());
  s.on('error', () => {});
}).listen({ port: ${APP_PORT}, host: '::' });
`;

describe('e2e pod (transparent): client -> HAProxy edge -> REDIRECT -> realip sidecar -> unmodified TCP app', () => {
  let w: World;
  let dir: string;
  let app: Spawned;
  let sidecar: Spawned;
  let stateBefore: string;
  const listener = `transparent:${LISTEN_PORT}:${APP_PORT}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'realip-e2e-transparent-'));
    w = await buildWorld('e2ex');
    stateBefore = await steeringState(w.pod);
    app = w.pod.spawn([process.execPath, '-e', APP]);
    await w.pod.waitForPort(APP_PORT, 10_000, app);
    sidecar = await setupPod(w, dir, {
      listener: listener,
      listenPort: LISTEN_PORT,
      appPort: APP_PORT,
      adminPort: ADMIN_PORT,
      appProbes: { '/app-health/app/readyz': { tcpSocket: { port: APP_PORT }, timeoutSeconds: 2 } },
    });
  });

  after(() => cleanupPod(w, dir));

  /** Connects through the edge, sends a line, and reads until the app's banner and echo came back. */
  async function viaEdge(client: string, edgeHost: string, port: number): Promise<string> {
    const r = await connectViaEdge(w, client, edgeHost, port, 'ping\n', 1500);
    // The app never closes first here: the client's timeout ends the exchange; what matters is
    // what arrived before it.
    assert.ok(
      r.error === undefined || r.error === 'TIMEOUT',
      `${client}: ${r.error}\nsidecar: ${sidecar.stderr}`,
    );
    return r.data;
  }

  it('PROXY v1, IPv4 client: the app sees the client as its TCP peer, and its reply reaches the client', async () => {
    const a = w.addr;
    const got = await viaEdge(a.clientV4[0]!, a.edgeClientSideV4, EDGE_V1);
    assert.match(got, /^peer=(::ffff:)?198\.51\.100\.7 port=\d+\nping\n$/);
  });

  it('PROXY v2 over the pod IPv6 address, IPv6 client: the app sees the IPv6 client', async () => {
    const a = w.addr;
    assert.match(
      await viaEdge(a.clientV6[0]!, a.edgeClientSideV6, EDGE_V2),
      /^peer=2001:db8::7 port=\d+\nping\n$/,
    );
  });

  it('PROXY v2, another IPv4 client: its own address', async () => {
    const a = w.addr;
    assert.match(
      await viaEdge(a.clientV4[1]!, a.edgeClientSideV4, EDGE_V2),
      /^peer=(::ffff:)?198\.51\.100\.8 port=\d+\nping\n$/,
    );
  });

  it('a probe from the node reaches the app through its configured tcp probe on the admin port', async () => {
    const r = await w.edge.run([
      'curl',
      '-sS',
      '--max-time',
      '10',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://${w.addr.podV4}:${ADMIN_PORT}/app-health/app/readyz`,
    ]);
    assert.equal(r.stdout, '200', r.stderr);
    // The old open path (any loopback port) is gone.
    const old = await w.edge.run([
      'curl',
      '-sS',
      '--max-time',
      '10',
      `http://${w.addr.podV4}:${ADMIN_PORT}/app-health/tcp/${APP_PORT}`,
    ]);
    assert.match(old.stdout, /^ADMIN_UNKNOWN_PROBE: /, old.stderr);
  });

  it('a forged PROXY header from another pod is refused: the app never sees the forged client', async () => {
    const a = w.addr;
    const r = await w.other.connect({
      host: a.podV4,
      port: APP_PORT,
      send: `PROXY TCP4 203.0.113.66 ${a.podV4} 4444 ${APP_PORT}\r\nhello\n`,
    });
    assert.equal(r.data, '');
    assert.doesNotMatch(app.stdout, /203\.0\.113\.66/);
  });

  it('init re-run leaves identical rules and routes; --cleanup restores the original state', async () => {
    const once = await steeringState(w.pod);
    assert.match(once, /from 127\.0\.0\.1\/8 iif lo lookup 15100/);
    const again = await w.pod.realip(['init', '--listener', listener, '--log-level', 'warn']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await steeringState(w.pod), once);
    const clean = await w.pod.realip(['init', '--cleanup', '--log-level', 'warn']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(await steeringState(w.pod), stateBefore);
  });
});
