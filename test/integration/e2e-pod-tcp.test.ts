// End to end on network-namespace "pods", `tcp` mode: client -> HAProxy edge (send-proxy v1 and
// send-proxy-v2) -> pod:7000 -> REDIRECT (realip init) -> realip sidecar :15003, which re-emits a
// fresh PROXY header -> a PROXY-aware app (nginx stream, `listen ... proxy_protocol`), which receives
// the client in that header. Namespaces are removed even when a case fails.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Spawned, World } from '../support/netns.ts';
import { cleanupPod, connectViaEdge, EDGE_V1, EDGE_V2 } from '../support/pod-e2e.ts';
import { type PodMode, podCasesFor, startModePod } from '../support/pod-e2e-cases.ts';

const APP_PORT = 7000;
const LISTEN_PORT = 15003;
const ADMIN_PORT = 15021;

const MODE: PodMode = {
  mode: 'tcp',
  listener: `tcp:${LISTEN_PORT}:${APP_PORT}`,
  appPort: APP_PORT,
  adminPort: ADMIN_PORT,
  listenPort: LISTEN_PORT,
  appProbes: { '/app-health/app/readyz': { tcpSocket: { port: APP_PORT }, timeoutSeconds: 2 } },
  world: 'e2et',
  // The app: nginx stream, answering with the client it read from the PROXY header.
  startApp(w, dir) {
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
    return w.pod.spawn(['nginx', '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;']);
  },
  forgedPayload: 'hello\n',
  forgedOverV6: false,
};

describe('e2e pod (tcp): client -> HAProxy edge -> REDIRECT -> realip sidecar -> nginx stream proxy_protocol', () => {
  let w: World;
  let dir: string;
  let sidecar: Spawned;
  let stateBefore: string;

  before(async () => {
    ({ w, dir, sidecar, stateBefore } = await startModePod(MODE));
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

  for (const c of podCasesFor(MODE, () => ({ w, stateBefore }))) it(c.name, c.fn);
});
