// End to end on network-namespace "pods", `tcp` mode: client -> HAProxy edge (send-proxy v1 and
// send-proxy-v2) -> pod:7000 -> REDIRECT (realip init) -> realip sidecar :15003, which re-emits a
// fresh PROXY header -> a PROXY-aware app (nginx stream, `listen ... proxy_protocol`), which receives
// the client in that header. Namespaces are removed even when a case fails.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildWorld, type Spawned, steeringState, type World } from '../support/netns.ts';
import { cleanupPod, connectViaEdge, EDGE_V1, EDGE_V2, setupPod } from '../support/pod-e2e.ts';

const APP_PORT = 7000;
const LISTEN_PORT = 15003;
const ADMIN_PORT = 15021;

describe('e2e pod (tcp): client -> HAProxy edge -> REDIRECT -> realip sidecar -> nginx stream proxy_protocol', () => {
  let w: World;
  let dir: string;
  let sidecar: Spawned;
  let stateBefore: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'realip-e2e-tcp-'));
    w = await buildWorld('e2et');
    stateBefore = await steeringState(w.pod);
    // The app: nginx stream, answering with the client it read from the PROXY header.
    writeFileSync(
      join(dir, 'nginx.conf'),
      `load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 256; }
stream {
  server {
    listen ${APP_PORT} proxy_protocol;
    listen [::]:${APP_PORT} proxy_protocol;
    return "client=$proxy_protocol_addr:$proxy_protocol_port peer=$remote_addr\\n";
  }
}
`,
    );
    const nginx = w.pod.spawn(['nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
    await w.pod.waitForPort(APP_PORT, 10_000, nginx);
    sidecar = await setupPod(w, dir, {
      listener: `tcp:${LISTEN_PORT}:${APP_PORT}`,
      listenPort: LISTEN_PORT,
      appPort: APP_PORT,
      adminPort: ADMIN_PORT,
      appProbes: { '/app-health/app/readyz': { tcpSocket: { port: APP_PORT }, timeoutSeconds: 2 } },
    });
  });

  after(() => cleanupPod(w, dir));

  async function viaEdge(client: string, edgeHost: string, port: number): Promise<string> {
    // No half-close: HAProxy may drop a connection whose client shut down before the server answered.
    const r = await connectViaEdge(w, client, edgeHost, port, '');
    assert.equal(
      r.error,
      undefined,
      `${client} via ${edgeHost}:${port}: ${r.error}\nsidecar: ${sidecar.stderr}`,
    );
    return r.data;
  }

  it('PROXY v1 from the edge, IPv4 and IPv6 clients: nginx receives the client in the re-emitted header', async () => {
    const a = w.addr;
    assert.match(
      await viaEdge(a.clientV4[0]!, a.edgeClientSideV4, EDGE_V1),
      /^client=198\.51\.100\.7:\d+ peer=/,
    );
    assert.match(await viaEdge(a.clientV6[0]!, a.edgeClientSideV6, EDGE_V1), /^client=2001:db8::7:\d+ peer=/);
  });

  it('PROXY v2 from the edge over the pod IPv6 address: nginx receives the client', async () => {
    const a = w.addr;
    assert.match(
      await viaEdge(a.clientV4[1]!, a.edgeClientSideV4, EDGE_V2),
      /^client=198\.51\.100\.8:\d+ peer=/,
    );
    assert.match(await viaEdge(a.clientV6[1]!, a.edgeClientSideV6, EDGE_V2), /^client=2001:db8::8:\d+ peer=/);
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

  it('a forged PROXY header from another pod is refused: nothing comes back', async () => {
    const a = w.addr;
    const r = await w.other.connect({
      host: a.podV4,
      port: APP_PORT,
      send: `PROXY TCP4 203.0.113.66 ${a.podV4} 4444 ${APP_PORT}\r\nhello\n`,
    });
    assert.equal(r.data, '');
  });

  it('init re-run leaves identical rules; --cleanup restores the original state', async () => {
    const once = await steeringState(w.pod);
    const again = await w.pod.realip([
      'init',
      '--listener',
      `tcp:${LISTEN_PORT}:${APP_PORT}`,
      '--log-level',
      'warn',
    ]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await steeringState(w.pod), once);
    const clean = await w.pod.realip(['init', '--cleanup', '--log-level', 'warn']);
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(await steeringState(w.pod), stateBefore);
  });
});
