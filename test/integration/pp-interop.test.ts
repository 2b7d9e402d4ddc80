// Interop with real peers: HAProxy (send-proxy, send-proxy-v2 with TLV options) and curl
// --haproxy-protocol produce headers our reader accepts with the right addresses; headers our
// encoder makes are accepted by HAProxy accept-proxy and nginx proxy_protocol.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { namedTlvs } from '../../sidecar/proxy-protocol/tlv.ts';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import { onceData, type Proc, startHaproxy, startNginx } from '../support/procs.ts';
import { recordingListener, type TestListener } from '../support/recording-hop.ts';
import { freeEphemeralPort } from '../../devkit/ports.ts';
import { requireTool } from '../../devkit/tools.ts';

const run = promisify(execFile);

describe('HAProxy and curl as PROXY senders -> our reader', () => {
  let l: TestListener;
  let haproxy: Proc;
  const ports: Record<string, number> = {};
  before(async () => {
    l = await recordingListener({ trusted: ['127.0.0.0/8', '::1/128'], http: true });
    for (const k of ['v1', 'v2', 'v2opts', 'v1six']) ports[k] = await freeEphemeralPort();
    haproxy = startHaproxy(`
frontend fe_v1
  bind 127.0.0.1:${ports.v1}
  default_backend be_v1
backend be_v1
  server s1 127.0.0.1:${l.port} send-proxy

frontend fe_v1six
  bind [::1]:${ports.v1six}
  default_backend be_v1six
backend be_v1six
  server s1 [::1]:${l.port} send-proxy

frontend fe_v2
  bind 127.0.0.1:${ports.v2}
  default_backend be_v2
backend be_v2
  server s1 127.0.0.1:${l.port} send-proxy-v2

frontend fe_v2opts
  bind 127.0.0.1:${ports.v2opts}
  unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt:%pid
  default_backend be_v2opts
backend be_v2opts
  server s1 127.0.0.1:${l.port} send-proxy-v2 proxy-v2-options crc32c,unique-id,authority
`);
    await haproxy.ready(ports.v2opts!);
  });
  after(async () => {
    await haproxy?.stop();
    await l?.close();
  });

  async function through(port: number, localAddress: string, host = '127.0.0.1') {
    const s = net.connect({ port, host, localAddress });
    await once(s, 'connect');
    const myPort = s.localPort!;
    s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const got = (await onceData(s, (b) => b.includes('\n', b.indexOf('\r\n\r\n') + 4))).toString();
    s.destroy();
    return { myPort, body: got.slice(got.indexOf('\r\n\r\n') + 4).trim() };
  }

  test('send-proxy (v1, like the BIG-IP iRule), IPv4', async () => {
    const { myPort, body } = await through(ports.v1!, '127.0.0.5');
    assert.equal(body, `127.0.0.5 ${myPort} proxy`);
  });

  test('send-proxy (v1), IPv6', async () => {
    const { myPort, body } = await through(ports.v1six!, '::1', '::1');
    assert.equal(body, `::1 ${myPort} proxy`);
  });

  test('send-proxy-v2', async () => {
    const { myPort, body } = await through(ports.v2!, '127.0.0.6');
    assert.equal(body, `127.0.0.6 ${myPort} proxy`);
    const last = l.hop.seen.at(-1)!;
    assert.equal(last.conn.header?.version, 2);
  });

  test('send-proxy-v2 with crc32c and unique-id TLVs (CRC verified)', async () => {
    const { myPort, body } = await through(ports.v2opts!, '127.0.0.7');
    assert.equal(body, `127.0.0.7 ${myPort} proxy`);
    const tlvs = namedTlvs(l.hop.seen.at(-1)!.conn.header!.tlvs);
    assert.match(tlvs.CRC32C ?? '', /^[0-9a-f]{8}$/);
    assert.ok(tlvs.UNIQUE_ID && tlvs.UNIQUE_ID.length > 0, `unique id TLV: ${JSON.stringify(tlvs)}`);
    assert.match(Buffer.from(tlvs.UNIQUE_ID, 'hex').toString(), /^7F000007:[0-9A-F]+_/);
  });

  test('curl --haproxy-protocol (IPv4 and IPv6)', async () => {
    requireTool('curl');
    const v4 = await run('curl', [
      '-sS',
      '--max-time',
      '5',
      '--haproxy-protocol',
      '--interface',
      '127.0.0.9',
      `http://127.0.0.1:${l.port}/`,
    ]);
    assert.match(v4.stdout, /^127\.0\.0\.9 \d+ proxy$/m);
    const v6 = await run('curl', ['-sS', '--max-time', '5', '--haproxy-protocol', `http://[::1]:${l.port}/`]);
    assert.match(v6.stdout, /^::1 \d+ proxy$/m);
  });
});

describe('our encoder -> HAProxy accept-proxy and nginx proxy_protocol', () => {
  let haproxy: Proc;
  let nginx: Proc;
  let hp = 0;
  let ng = 0;
  before(async () => {
    hp = await freeEphemeralPort();
    ng = await freeEphemeralPort();
    haproxy = startHaproxy(`
frontend fe
  mode http
  timeout client 10s
  bind 127.0.0.1:${hp} accept-proxy
  http-request return status 200 content-type text/plain lf-string "%[src] %[src_port] %[dst] %[dst_port]"
`);
    nginx = startNginx(`http {
  access_log off;
  server {
    listen 127.0.0.1:${ng} proxy_protocol;
    location / { return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port"; }
  }
}`);
    await haproxy.ready(hp);
    await nginx.ready(ng);
  });
  after(async () => {
    await haproxy?.stop();
    await nginx?.stop();
  });

  async function ask(port: number, head: Buffer): Promise<string> {
    const s = net.connect({ port, host: '127.0.0.1' });
    await once(s, 'connect');
    s.write(Buffer.concat([head, Buffer.from('GET / HTTP/1.0\r\nHost: x\r\n\r\n')]));
    const got = (await onceData(s, () => false)).toString();
    s.destroy();
    return got.slice(got.indexOf('\r\n\r\n') + 4).trim();
  }

  const cases = [
    {
      family: 'TCP4' as const,
      source: { address: '198.51.100.7', port: 40001 },
      destination: { address: '203.0.113.10', port: 443 },
    },
    {
      family: 'TCP6' as const,
      source: { address: '2001:db8::7', port: 40002 },
      destination: { address: '2001:db8::1', port: 8443 },
    },
  ];
  for (const h of cases) {
    for (const [name, enc] of [
      ['v1', () => encodeV1(h)],
      ['v2', () => encodeV2(h)],
      [
        'v2+crc32c+TLVs',
        () => encodeV2({ ...h, tlvs: [{ type: 0x02, value: Buffer.from('example.com') }] }, { crc32c: true }),
      ],
    ] as const) {
      const want = `${h.source.address} ${h.source.port} ${h.destination.address} ${h.destination.port}`;
      test(`HAProxy accept-proxy reads our ${name} ${h.family}`, async () => {
        assert.equal(await ask(hp, enc()), want);
      });
      test(`nginx proxy_protocol reads our ${name} ${h.family}`, async () => {
        assert.equal(await ask(ng, enc()), want);
      });
    }
  }
});
