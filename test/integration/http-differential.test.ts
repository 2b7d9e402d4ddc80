// Differential test against an independent parser: mutated requests (stray CR, LF, spaces, colons,
// NULs, commas, extra empty lines, deleted bytes, duplicated lines) carrying forged forwarding
// fields go through the hop into a node:http app (llhttp). For every request llhttp accepts, the
// forwarding fields must be exactly ours: a forged value, or a request the app parsed that the hop
// did not see as one (no X-Forwarded-For of ours), is a violation.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import { startHop, v1 } from './http-helpers.ts';

const CLIENT = '198.51.100.7';

const base = fc.constantFrom(
  'GET /a HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n',
  'GET /b HTTP/1.1\r\nHost: a\r\nx-real-ip: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n\r\n',
  'POST /c HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Forwarded-For: 6.6.6.6\r\n\r\nhello',
  'POST /d HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nX-FORWARDED-FOR: 6.6.6.6\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /e HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nX-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 6.6.6.7\r\n\r\n',
  'GET /f HTTP/1.0\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive\r\n\r\n',
);

const INSERTS = [
  '\r',
  '\n',
  ' ',
  '\t',
  ':',
  '\x00',
  ',',
  'a',
  '\r\n',
  '\r\n\r\n',
  ' \r\n',
  '\r\n ',
  '\n\n',
  '0\r\n\r\n',
];

const mutation = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: fc.constantFrom(...INSERTS) }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('dupline' as const), at: fc.nat() }),
);

function mutate(text: string, ms: { op: string; at: number; text?: string }[]): string {
  let t = text;
  for (const m of ms) {
    const at = m.at % (t.length + 1);
    if (m.op === 'insert') t = t.slice(0, at) + m.text + t.slice(at);
    else if (m.op === 'delete') t = t.slice(0, at) + t.slice(at + 1);
    else {
      const lines = t.split('\r\n');
      const i = m.at % lines.length;
      lines.splice(i, 0, lines[i]!);
      t = lines.join('\r\n');
    }
  }
  return t;
}

test('mutated requests: llhttp never sees a forged forwarding field or a request the hop did not rewrite', async (t) => {
  const violations: string[] = [];
  let requests = 0;
  let current = '';
  const app = http.createServer((req, res) => {
    requests++;
    const xff = req.headers['x-forwarded-for'];
    const real = req.headers['x-real-ip'];
    const fwd = req.headers.forwarded;
    if (xff !== CLIENT || real !== CLIENT || fwd !== `for=${CLIENT}`)
      violations.push(`${JSON.stringify(current)} -> ${JSON.stringify({ xff, real, fwd, url: req.url })}`);
    req.resume();
    req.on('end', () => res.end('ok'));
    req.on('error', () => {});
  });
  app.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  const hop = await startHop((app.address() as net.AddressInfo).port);
  t.after(async () => {
    await hop.close();
    app.closeAllConnections();
    await new Promise<void>((r) => app.close(() => r()));
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(base, { minLength: 1, maxLength: 3 }),
      fc.array(mutation, { maxLength: 3 }),
      async (reqs, ms) => {
        const wire = mutate(reqs.join(''), ms);
        current = wire;
        await new Promise<void>((resolve) => {
          const s = net.connect(hop.port, '127.0.0.1');
          const done = () => {
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(() => {
            s.destroy();
            resolve();
          }, 1000);
          s.on('error', done);
          s.on('close', done);
          s.on('data', () => {});
          s.write(Buffer.concat([v1(CLIENT), Buffer.from(wire, 'latin1')]));
          s.end();
        });
      },
    ),
    { numRuns: 300, endOnFailure: true },
  );
  assert.deepEqual(violations.slice(0, 5), [], `${violations.length} violations`);
  assert.ok(requests > 50, `only ${requests} requests reached the app: the test exercises too little`);
});
