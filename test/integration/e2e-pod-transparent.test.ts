// End to end on network-namespace "pods", `transparent` mode: client -> HAProxy edge (send-proxy v1
// and send-proxy-v2) -> pod:6379 -> REDIRECT (realip init, with its policy routing) -> realip sidecar
// :15002, which connects to the app FROM the client's address (IP_TRANSPARENT) -> an unmodified TCP
// app whose getpeername() is the client. The app's reply reaching the client proves the policy
// routing. Namespaces are removed even when a case fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Spawned, World } from '../support/netns.ts';
import { cleanupPod, connectViaEdge, EDGE_V1, EDGE_V2 } from '../support/pod-e2e.ts';
import { type PodMode, podCasesFor, startModePod } from '../support/pod-e2e-cases.ts';

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

const MODE: PodMode = {
  mode: 'transparent',
  listener: `transparent:${LISTEN_PORT}:${APP_PORT}`,
  appPort: APP_PORT,
  adminPort: ADMIN_PORT,
  listenPort: LISTEN_PORT,
  appProbes: { '/app-health/app/readyz': { tcpSocket: { port: APP_PORT }, timeoutSeconds: 2 } },
  world: 'e2ex',
  startApp: (w) => w.pod.spawn([process.execPath, '-e', APP]),
  forgedPayload: 'hello\n',
  forgedOverV6: false,
  // The app logs each peer: the forged client must never be one.
  forgedNeverSeen: /203\.0\.113\.66/,
  // The transparent mode's own routing rule, besides the REDIRECT.
  initRules: /from 127\.0\.0\.1\/8 iif lo lookup 15100/,
};

describe('e2e pod (transparent): client -> HAProxy edge -> REDIRECT -> realip sidecar -> unmodified TCP app', () => {
  let w: World;
  let dir: string;
  let app: Spawned;
  let sidecar: Spawned;
  let stateBefore: string;

  before(async () => {
    ({ w, dir, app, sidecar, stateBefore } = await startModePod(MODE));
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

  for (const c of podCasesFor(MODE, () => ({ w, app, stateBefore }))) it(c.name, c.fn);
});
