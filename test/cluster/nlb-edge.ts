/**
 * A stand-in for an AWS Network Load Balancer with `proxy_protocol_v2.enabled` and PrivateLink: for
 * each client connection it connects to the target and first writes a PROXY v2 header (PROXY
 * command, TCP over IPv4, the client's address and the listener's) carrying the 0xEA TLV (subtype
 * 0x01: the VPC endpoint id) as NLB does, then relays bytes both ways. Written from the spec
 * (haproxy.org proxy-protocol.txt section 2.2) and AWS's documentation, not from realip's codec.
 *
 *   node nlb-edge.ts LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT VPCE_ID
 */
import net from 'node:net';

const [listenIp, listenPort, targetIp, targetPort, vpce] = process.argv.slice(2);
if (!listenIp || !listenPort || !targetIp || !targetPort || !vpce) {
  process.stderr.write('usage: nlb-edge.ts LISTEN_IP LISTEN_PORT TARGET_IP TARGET_PORT VPCE_ID\n');
  process.exit(2);
}

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v4(addr: string): Buffer {
  return Buffer.from(addr.split('.').map(Number));
}

function header(src: string, srcPort: number, dst: string, dstPort: number): Buffer {
  const tlvValue = Buffer.concat([Buffer.from([0x01]), Buffer.from(vpce!, 'latin1')]);
  const tlv = Buffer.alloc(3);
  tlv[0] = 0xea;
  tlv.writeUInt16BE(tlvValue.length, 1);
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(srcPort, 0);
  ports.writeUInt16BE(dstPort, 2);
  const body = Buffer.concat([v4(src), v4(dst), ports, tlv, tlvValue]);
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x21; // version 2, PROXY
  fixed[1] = 0x11; // AF_INET, STREAM
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, fixed, body]);
}

net
  .createServer((client) => {
    const upstream = net.connect({ host: targetIp, port: Number(targetPort) });
    upstream.on('connect', () => {
      const src = (client.remoteAddress ?? '0.0.0.0').replace(/^::ffff:/, '');
      const dst = (client.localAddress ?? '0.0.0.0').replace(/^::ffff:/, '');
      upstream.write(header(src, client.remotePort ?? 0, dst, client.localPort ?? 0));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.end());
  })
  .listen(Number(listenPort), listenIp, () =>
    process.stdout.write(`nlb-edge listening on ${listenIp}:${listenPort}\n`),
  );
