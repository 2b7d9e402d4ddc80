// tcp mode against real PROXY-aware apps: nginx stream (proxy_protocol), nginx http
// (real_ip_header proxy_protocol) and HAProxy (accept-proxy) each report the client they were told
// about; for v1 and v2 emitted by the sidecar, IPv4 and IPv6 clients, from our encoder as the edge
// and from HAProxy send-proxy / send-proxy-v2 as the edge.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { startSidecar } from '../support/sidecar.ts';
import { exchange, startHaproxy, startNginx } from '../support/tcp.ts';
import { freePortBelowEphemeral, waitForPort } from '../../devkit/ports.ts';

const CLIENTS = [
  { family: 'TCP4', address: '198.51.100.7', port: 40007, dst: '203.0.113.10' },
  { family: 'TCP6', address: '2001:db8::7', port: 40008, dst: '2001:db8::10' },
] as const;

type App = 'nginx-stream' | 'nginx-http' | 'haproxy';
const APPS: readonly App[] = ['nginx-stream', 'nginx-http', 'haproxy'];

const procs: Array<{ stop(): Promise<void> }> = [];
const appPorts = {} as Record<App, number>;
/** emit version -> app -> sidecar listen port */
const sidecarPorts = { v1: {}, v2: {} } as Record<'v1' | 'v2', Record<App, number>>;

function request(app: App): string {
  return app === 'nginx-stream' ? '' : 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
}

before(async () => {
  for (const app of APPS) appPorts[app] = await freePortBelowEphemeral();
  const nginx = await startNginx(
    `stream {
  server { listen 127.0.0.1:${appPorts['nginx-stream']} proxy_protocol;
           return "$proxy_protocol_addr:$proxy_protocol_port\\n"; }
}
http {
  access_log off;
  server { listen 127.0.0.1:${appPorts['nginx-http']} proxy_protocol;
           set_real_ip_from 127.0.0.1; real_ip_header proxy_protocol;
           location / { return 200 "$remote_addr:$proxy_protocol_port\\n"; } }
}`,
    [appPorts['nginx-stream'], appPorts['nginx-http']],
  );
  procs.push(nginx);
  const haproxy = await startHaproxy(
    `global
  log stderr format raw local0
defaults
  mode http
  timeout connect 5s
  timeout client 10s
  timeout server 10s
frontend app
  bind 127.0.0.1:${appPorts.haproxy} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src]:%[src_port] authority=%[fc_pp_authority]\\n"
`,
    [appPorts.haproxy],
  );
  procs.push(haproxy);
  for (const emit of ['v1', 'v2'] as const) {
    const listeners: string[] = [];
    for (const app of APPS) {
      const port = await freePortBelowEphemeral();
      sidecarPorts[emit][app] = port;
      listeners.push(`tcp:${port}:${appPorts[app]}`);
    }
    procs.push(await startSidecar({ listeners, args: ['--emit', emit, '--pass-tlvs', '0x02'] }));
  }
});

after(async () => {
  for (const p of procs.reverse()) await p.stop();
});

describe('tcp mode re-emits the client to PROXY-aware apps', () => {
  for (const emit of ['v1', 'v2'] as const) {
    for (const edge of ['v1', 'v2'] as const) {
      for (const c of CLIENTS) {
        for (const app of APPS) {
          test(`${app} sees ${c.address} (edge ${edge}, sidecar emits ${emit})`, async () => {
            const h = { family: c.family, source: c, destination: { address: c.dst, port: 443 } };
            const header =
              edge === 'v1'
                ? encodeV1(h)
                : encodeV2({ ...h, tlvs: [{ type: 0x02, value: Buffer.from('shop.example') }] });
            const out = await exchange(
              { host: '127.0.0.1', port: sidecarPorts[emit][app] },
              Buffer.concat([header, Buffer.from(request(app))]),
              { end: false },
            );
            const text = out.toString();
            assert.match(text, new RegExp(`${c.address.replace(/\./g, '\\.')}:${c.port}\\b`), text);
            if (app === 'haproxy' && emit === 'v2' && edge === 'v2') {
              // passed through: --pass-tlvs 0x02 (PP2_TYPE_AUTHORITY)
              assert.match(text, /authority=shop\.example/);
            }
            if (app === 'haproxy' && (emit === 'v1' || edge === 'v1')) assert.match(text, /authority=\n/);
          });
        }
      }
    }
  }
});

describe('HAProxy as the edge (send-proxy, send-proxy-v2)', () => {
  for (const send of ['send-proxy', 'send-proxy-v2'] as const) {
    test(`client 127.0.0.23 -> HAProxy ${send} -> sidecar -> nginx stream sees 127.0.0.23`, async (t) => {
      const edgePort = await freePortBelowEphemeral();
      const edge = await startHaproxy(
        `defaults
  mode tcp
  timeout connect 5s
  timeout client 10s
  timeout server 10s
listen edge
  bind 127.0.0.1:${edgePort}
  server sidecar 127.0.0.1:${sidecarPorts.v2['nginx-stream']} ${send}
`,
        [edgePort],
      );
      t.after(() => edge.stop());
      await waitForPort(edgePort);
      const out = await exchange({ host: '127.0.0.1', port: edgePort, localAddress: '127.0.0.23' }, '', {
        end: false,
      });
      assert.match(out.toString(), /^127\.0\.0\.23:\d+\n$/);
    });
  }
});
