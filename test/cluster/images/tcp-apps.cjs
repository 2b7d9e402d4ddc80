// Test apps for the cluster suite, deliberately independent of realip's code.
//   node tcp-apps.cjs proxy-aware PORT  : expects a PROXY v1 or v2 header, answers
//                                        "proxy-aware src=<addr>:<port> peer=<socket peer>\n"
//   node tcp-apps.cjs plain PORT        : no PROXY, answers "plain peer=<addr>:<port>\n"
//   node tcp-apps.cjs http-slow PORT    : HTTP; GET /slow?ms=N answers after N ms with the
//                                        forwarded headers it got; on SIGTERM it stops accepting,
//                                        finishes what is in flight, then exits (a well-behaved app)
// Both answer after the first bytes arrive (the client sends a line) and then close.
'use strict';
const net = require('node:net');
const [mode, portArg] = process.argv.slice(2);
const port = Number(portArg);
if (!['proxy-aware', 'plain', 'http-slow'].includes(mode) || !(port > 0)) {
  console.error('usage: tcp-apps.cjs proxy-aware|plain|http-slow PORT');
  process.exit(2);
}
const V2_SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function parseProxy(buf) {
  if (buf.length >= 16 && buf.subarray(0, 12).equals(V2_SIG)) {
    const len = buf.readUInt16BE(14);
    if (buf.length < 16 + len) return undefined;
    const fam = buf[13] >> 4;
    let src = 'unknown';
    if (fam === 1) {
      src = `${[...buf.subarray(16, 20)].join('.')}:${buf.readUInt16BE(24)}`;
    } else if (fam === 2) {
      const parts = [];
      for (let i = 0; i < 16; i += 2) parts.push(buf.readUInt16BE(16 + i).toString(16));
      // Compressed form (as in a v1 line), via the URL parser's IPv6 serializer.
      const host = new URL(`http://[${parts.join(':')}]/`).hostname.slice(1, -1);
      src = `${host}:${buf.readUInt16BE(48)}`;
    }
    return { src, rest: buf.subarray(16 + len) };
  }
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length > 107 ? { src: 'bad-header', rest: Buffer.alloc(0) } : undefined;
  const f = buf.subarray(0, end).toString('latin1').split(' ');
  if (f[0] !== 'PROXY') return { src: 'no-proxy-header', rest: buf };
  return { src: f[1] === 'UNKNOWN' ? 'unknown' : `${f[2]}:${f[4]}`, rest: buf.subarray(end + 2) };
}

function main() {
  if (mode === 'http-slow') {
    const http = require('node:http');
    let inFlight = 0;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      const ms = Number(url.searchParams.get('ms') ?? 0);
      inFlight++;
      setTimeout(() => {
        const xff = req.headers['x-forwarded-for'] ?? '';
        res.end(`xff=${xff} path=${url.pathname} waited=${ms}\n`);
        console.log(`served ${url.pathname} xff=${xff} after ${ms} ms`);
        inFlight--;
      }, ms);
    });
    server.keepAliveTimeout = 1000;
    server.listen(port, '::', () => console.log(`http-slow listening on ${port}`));
    process.on('SIGTERM', () => {
      console.log(`SIGTERM with ${inFlight} in flight`);
      server.close(() => {
        console.log('drained, exiting');
        process.exit(0);
      });
      server.closeIdleConnections();
    });
    return;
  }

  net
    .createServer((sock) => {
      const peer = `${sock.remoteAddress}:${sock.remotePort}`;
      console.log(`${mode} connection from ${peer}`);
      let buf = Buffer.alloc(0);
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (mode === 'plain') {
          sock.end(`plain peer=${peer}\n`);
          return;
        }
        const h = parseProxy(buf);
        if (h) {
          console.log(`proxy-aware src=${h.src} peer=${peer}`);
          sock.end(`proxy-aware src=${h.src} peer=${peer}\n`);
        }
      });
      sock.on('error', () => {});
    })
    .listen(port, '::', () => console.log(`${mode} listening on ${port}`));
  process.on('SIGTERM', () => process.exit(0));
}
main();
