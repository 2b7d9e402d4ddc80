// End to end on network-namespace "pods", exactly as in a cluster:
//   client 198.51.100.7 -> HAProxy on the node (send-proxy v1 like the BIG-IP iRule, send-proxy-v2)
//   -> pod 10.244.1.5:8080 -> iptables REDIRECT (realip init) -> realip sidecar :15001 (http)
//   -> unmodified HTTP app on :8080, which sees X-Forwarded-For = the client.
// Also: kubelet-style probes from the node through the admin port, a forged header from another pod,
// init re-run and cleanup with everything running. Namespaces are removed even when a case fails.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Spawned, World } from '../support/netns.ts';
import { cleanupPod, curlFromNode, curlViaEdge, EDGE_V1, EDGE_V2 } from '../support/pod-e2e.ts';
import { type PodMode, podCasesFor, startModePod } from '../support/pod-e2e-cases.ts';

const APP_PORT = 8080;
const LISTEN_PORT = 15001;
const ADMIN_PORT = 15021;

/** An unmodified HTTP app: answers with the forwarding headers it received and its TCP peer. */
const APP = `
const http = require('node:http');
http.createServer((req, res) => {
  process.stdout.write(JSON.stringify({ method: req.method, url: req.url, xff: req.headers['x-forwarded-for'] ?? null }) + '\\n');
  const body = JSON.stringify({
    url: req.url,
    xff: req.headers['x-forwarded-for'] ?? null,
    xRealIp: req.headers['x-real-ip'] ?? null,
    forwarded: req.headers['forwarded'] ?? null,
    peer: req.socket.remoteAddress,
  });
  res.writeHead(200, { 'content-type': 'application/json' }).end(body);
}).listen({ port: ${APP_PORT}, host: '::' });
`;

describe('e2e pod (http): client -> HAProxy edge -> REDIRECT -> realip sidecar -> unmodified app', () => {
  let w: World;
  let dir: string;
  let app: Spawned;
  let sidecar: Spawned;
  let stateBefore: string;

  const MODE: PodMode = {
    mode: 'http',
    listener: `http:${LISTEN_PORT}:${APP_PORT}`,
    appPort: APP_PORT,
    adminPort: ADMIN_PORT,
    listenPort: LISTEN_PORT,
    appProbes: {
      '/app-health/app/livez': {
        httpGet: {
          port: APP_PORT,
          path: '/healthz',
          scheme: 'HTTP',
          httpHeaders: [{ name: 'X-Probe', value: 'kubelet' }],
        },
        timeoutSeconds: 2,
      },
      '/app-health/app/readyz': { tcpSocket: { port: APP_PORT }, timeoutSeconds: 2 },
    },
    world: 'e2eh',
    startApp: (w) => w.pod.spawn([process.execPath, '-e', APP]),
    forgedPayload: 'GET /forged HTTP/1.1\r\nHost: pod\r\n\r\n',
    forgedOverV6: true,
    // The app logs every request it answers: neither the forged path nor the forged client.
    forgedNeverSeen: /forged|203\.0\.113\.66/,
    afterRerun: async () =>
      assert.equal(
        (await viaEdge(w.addr.clientV4[2]!, w.addr.edgeClientSideV4, EDGE_V1, '/after-rerun')).xff,
        '198.51.100.9',
      ),
  };

  before(async () => {
    ({ w, dir, app, sidecar, stateBefore } = await startModePod(MODE));
  });

  after(() => cleanupPod(w, dir));

  async function viaEdge(client: string, edgeHost: string, port: number, path: string) {
    const r = await curlViaEdge(w, client, edgeHost, port, path);
    assert.equal(
      r.code,
      0,
      `curl from ${client} via ${edgeHost}:${port}: ${r.stderr}\nsidecar: ${sidecar.stderr}`,
    );
    return JSON.parse(r.stdout) as { url: string; xff: string | null; xRealIp: string | null; peer: string };
  }

  it('PROXY v1 (BIG-IP iRule style), IPv4 client: the app sees X-Forwarded-For = the client', async () => {
    const got = await viaEdge(w.addr.clientV4[0]!, w.addr.edgeClientSideV4, EDGE_V1, '/v1-ipv4');
    assert.equal(got.url, '/v1-ipv4');
    assert.equal(got.xff, '198.51.100.7');
    assert.equal(got.xRealIp, '198.51.100.7');
    // The app's TCP peer is the sidecar on loopback: the client comes only through the header.
    assert.match(got.peer, /^(::ffff:)?127\.0\.0\.1$|^::1$/);
  });

  it('PROXY v1, IPv6 client, and another client address: each request carries its own client', async () => {
    assert.equal(
      (await viaEdge(w.addr.clientV6[0]!, w.addr.edgeClientSideV6, EDGE_V1, '/v1-ipv6')).xff,
      '2001:db8::7',
    );
    assert.equal(
      (await viaEdge(w.addr.clientV4[1]!, w.addr.edgeClientSideV4, EDGE_V1, '/v1-other')).xff,
      '198.51.100.8',
    );
  });

  it('PROXY v2 over the pod IPv6 address (ip6tables REDIRECT), IPv4 and IPv6 clients', async () => {
    assert.equal(
      (await viaEdge(w.addr.clientV4[0]!, w.addr.edgeClientSideV4, EDGE_V2, '/v2-ipv4')).xff,
      '198.51.100.7',
    );
    assert.equal(
      (await viaEdge(w.addr.clientV6[1]!, w.addr.edgeClientSideV6, EDGE_V2, '/v2-ipv6')).xff,
      '2001:db8::8',
    );
  });

  it('a probe from the node without a PROXY header reaches the app through the admin port /app-health', async () => {
    const a = w.addr;
    const before = app.stdout.length;
    const r = await curlFromNode(w, `http://${a.podV4}:${ADMIN_PORT}/app-health/app/livez`, {
      statusOnly: true,
      headers: ['X-Forwarded-For: 203.0.113.66'],
    });
    assert.equal(r.stdout, '200', r.stderr);
    // The configured probe's path, and not the caller's forged X-Forwarded-For.
    assert.match(
      app.stdout.slice(before),
      /"url":"\/healthz","xff":null/,
      'the app itself answered the probe',
    );
    const tcp = await curlFromNode(w, `http://[${a.podV6}]:${ADMIN_PORT}/app-health/app/readyz`, {
      statusOnly: true,
    });
    assert.equal(tcp.stdout, '200', tcp.stderr);
    // The old paths, an open proxy to any loopback port, are gone.
    for (const path of [`/app-health/http/${APP_PORT}/healthz`, `/app-health/tcp/${APP_PORT}`]) {
      const old = await curlFromNode(w, `http://${a.podV4}:${ADMIN_PORT}${path}`, {
        headers: ['X-Forwarded-For: 203.0.113.66'],
      });
      assert.match(old.stdout, /^ADMIN_UNKNOWN_PROBE: /, `${path}: ${old.stderr}`);
    }
    assert.ok(!app.stdout.includes('203.0.113.66'), 'the forged address never reached the app');
    // Why the probe must be rewritten: the app port itself demands a PROXY header (required mode).
    const direct = await curlFromNode(w, `http://${a.podV4}:${APP_PORT}/healthz`);
    assert.notEqual(direct.code, 0, 'a header-less connection to the intercepted port must be refused');
  });

  for (const c of podCasesFor(MODE, () => ({ w, app, stateBefore }))) it(c.name, c.fn);
});
