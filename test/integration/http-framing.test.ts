// Property test through real sockets: random pipelined request streams (Content-Length and chunked
// bodies that contain fake requests and CRLFCRLF, extensions, trailers, forged forwarding fields in
// random casings) written in random pieces. The app must receive exactly the expected rewritten
// stream: every head rewritten, every body byte untouched, nothing more, nothing less.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { RawClient, sleep, startHop, startRawApp, v1 } from './http-helpers.ts';

const FWD =
  'X-Forwarded-For: 198.51.100.7\r\nX-Real-IP: 198.51.100.7\r\nForwarded: for=198.51.100.7\r\n' +
  'X-Forwarded-Port: 80\r\nX-Forwarded-Proto: http\r\n';

const FORGED_NAMES = [
  'x-forwarded-for',
  'forwarded',
  'x-real-ip',
  'x-forwarded-proto',
  'x_forwarded_for',
  'true-client-ip',
];

const casing = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((ups) => [...name].map((c, i) => (ups[i] ? c.toUpperCase() : c)).join(''));

const bodyText = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constant('GET /smuggled HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n'),
  fc.constant('\r\n\r\n0\r\n\r\n'),
);

interface Req {
  wire: string;
  expected: string;
}

const request: fc.Arbitrary<Req> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
    path: fc.stringMatching(/^\/[a-z0-9/?=&]{0,12}$/),
    extra: fc.array(
      fc.record({ name: fc.stringMatching(/^X-[A-Za-z]{1,8}$/), value: fc.stringMatching(/^[ -~]{0,20}$/) }),
      { maxLength: 3 },
    ),
    forged: fc.array(
      fc.constantFrom(...FORGED_NAMES).chain((n) => casing(n)),
      { maxLength: 3 },
    ),
    body: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.record({ kind: fc.constant('cl' as const), text: bodyText }),
      fc.record({
        kind: fc.constant('chunked' as const),
        chunks: fc.array(
          fc.record({
            text: bodyText.filter((t) => t.length > 0),
            ext: fc.constantFrom('', ';a=b', ' ; q="1"'),
          }),
          {
            maxLength: 4,
          },
        ),
        trailer: fc.constantFrom('', 'T: 1\r\n', 'X-Forwarded-For: 6.6.6.6\r\nT: 2\r\n'),
      }),
    ),
  })
  .map((r) => {
    // Values: trimmed of edge whitespace so that the expected bytes are exact.
    const extra = r.extra.map((h) => `${h.name}: ${h.value.trim()}\r\n`).join('');
    const forged = r.forged.map((n) => `${n}: 6.6.6.6\r\n`).join('');
    let framing = '';
    let body = '';
    let expectedBody = '';
    if (r.body.kind === 'cl') {
      const b = Buffer.from(r.body.text, 'utf8');
      framing = `Content-Length: ${b.length}\r\n`;
      body = b.toString('latin1');
      expectedBody = body;
    } else if (r.body.kind === 'chunked') {
      framing = 'Transfer-Encoding: chunked\r\n';
      for (const c of r.body.chunks) {
        const b = Buffer.from(c.text, 'utf8');
        body += `${b.length.toString(16)}${c.ext}\r\n${b.toString('latin1')}\r\n`;
      }
      expectedBody = body;
      body += `0\r\n${r.body.trailer}\r\n`;
      expectedBody += `0\r\n${r.body.trailer.replace('X-Forwarded-For: 6.6.6.6\r\n', '')}\r\n`;
    }
    const line = `${r.method} ${r.path} HTTP/1.1\r\nHost: a\r\n`;
    return {
      wire: `${line}${forged}${extra}${framing}\r\n${body}`,
      expected: `${line}${extra}${framing}${FWD}\r\n${expectedBody}`,
    };
  });

test('random pipelined streams in random pieces: the app receives exactly the rewritten stream', async (t) => {
  const app = await startRawApp();
  const hop = await startHop(app.port);
  t.after(async () => {
    await hop.close();
    await app.close();
  });
  await fc.assert(
    fc.asyncProperty(
      fc.array(request, { minLength: 1, maxLength: 6 }),
      fc.array(fc.integer({ min: 1, max: 48 }), { maxLength: 40 }),
      async (reqs, cuts) => {
        const wire = Buffer.from(reqs.map((r) => r.wire).join(''), 'latin1');
        const expected = reqs.map((r) => r.expected).join('');
        const before = app.all().length;
        const c = new RawClient(hop.port);
        await c.ready;
        c.write(v1('198.51.100.7'));
        let at = 0;
        for (const n of cuts) {
          if (at >= wire.length) break;
          c.write(wire.subarray(at, at + n));
          at += n;
          await sleep(1);
        }
        if (at < wire.length) c.write(wire.subarray(at));
        await app.waitFor((s) => s.length >= before + expected.length, 1500).catch(() => undefined);
        await sleep(5);
        const got = app.all().slice(before);
        c.destroy();
        assert.equal(got, expected);
        assert.equal(c.text(), '', 'the hop answered nothing itself');
      },
    ),
    { numRuns: 60, endOnFailure: true },
  );
});
