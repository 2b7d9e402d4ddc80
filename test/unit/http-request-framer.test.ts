// The request framer without sockets: where heads, bodies (Content-Length, chunked with
// extensions and trailers) and pipelined requests end, its limits, and every code it refuses
// with. The driver below does what the connection does with each step (keep the rest of a chunk
// on "need more", hand it in again with the next chunk), so splitting the same bytes anywhere
// must give the same transcript.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_CHUNK_LINE } from '../../sidecar/http/chunked.ts';
import {
  A_BODY,
  A_BODY_END,
  A_BODY_ERROR,
  A_ERROR,
  A_H2_PREFACE,
  A_HEAD,
  A_NEED_MORE,
  A_PARTIAL_HEAD,
  A_TRAILER,
  RequestFramer,
} from '../../sidecar/http/request-framer.ts';

const b = (s: string) => Buffer.from(s, 'latin1');

/**
 * Feeds `chunks` in order and returns what a connection would do: `GET /a` for a head (its request
 * line), `body:...` for the body bytes forwarded (consecutive pieces merged, since where a chunk
 * splits them is not the framer's business), `trailer:...`, `end` when a request is complete, and
 * the refusals. `held` is what is left over for the next chunk.
 */
function drive(
  chunks: readonly Buffer[],
  max = 32768,
): { steps: string[]; held: string; framer: RequestFramer } {
  const f = new RequestFramer(max);
  const steps: string[] = [];
  const push = (s: string) => {
    const last = steps.at(-1);
    if (s.startsWith('body:') && last?.startsWith('body:')) steps[steps.length - 1] = last + s.slice(5);
    else steps.push(s);
  };
  let held: Buffer | null = null;
  let heldScanned = 0;
  for (const chunk of chunks) {
    const buf: Buffer = held === null ? chunk : Buffer.concat([held, chunk]);
    let scanned = held === null ? 0 : heldScanned;
    held = null;
    let pos = 0;
    while (pos < buf.length) {
      const step = f.next(buf, pos, scanned);
      if (step === A_NEED_MORE || step === A_PARTIAL_HEAD) {
        if (f.at < buf.length) {
          held = buf.subarray(f.at);
          heldScanned = f.scanned;
        }
        break;
      }
      if (step === A_ERROR) {
        push(`error ${f.status} ${f.code}`);
        return { steps, held: '', framer: f };
      }
      if (step === A_BODY_ERROR) {
        push(`body-error ${f.code}`);
        return { steps, held: '', framer: f };
      }
      if (step === A_H2_PREFACE) {
        push(`h2 at ${f.at}`);
        return { steps, held: buf.toString('latin1', f.at), framer: f };
      }
      if (step === A_HEAD) {
        const h = f.head;
        push(
          `${buf.toString('latin1', h.lineStart, h.methodEnd)} ${buf.toString('latin1', h.targetStart, h.targetEnd)}`,
        );
        if (!f.inBody) push('end');
        scanned = 0;
      } else if (step === A_BODY || step === A_BODY_END) {
        push(`body:${buf.toString('latin1', pos, f.at)}`);
        if (step === A_BODY_END) push('end');
      } else if (step === A_TRAILER) {
        push(`trailer:${f.trailer!.toString('latin1')}`);
        push('end');
      } else assert.fail(`unknown step ${step}`);
      pos = f.at;
    }
  }
  return { steps, held: held === null ? '' : held.toString('latin1'), framer: f };
}

const steps = (s: string, max?: number) => drive([b(s)], max).steps;

/** Every way to cut `s` in two gives the transcript of `s` in one piece. */
function assertSplitInvariant(s: string, max?: number): string[] {
  const whole = drive([b(s)], max).steps;
  for (let i = 1; i < s.length; i++)
    assert.deepEqual(drive([b(s.slice(0, i)), b(s.slice(i))], max).steps, whole, `split at ${i}`);
  return whole;
}

const CL_THEN_GET =
  'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' + 'GET /b HTTP/1.1\r\nHost: x\r\n\r\n';
const CHUNKED =
  'POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
  '5;name=value;flag\r\nhello\r\n3 ; ext="q"\r\nabc\r\n0;last=1\r\n' +
  'X-Trace: 7\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 9\r\n\r\n';

test('content-length: the body is forwarded and the next request starts right after it', () => {
  assert.deepEqual(assertSplitInvariant(CL_THEN_GET), ['POST /a', 'body:hello', 'end', 'GET /b', 'end']);
});

test('content-length 0 and no framing fields: the head is the whole request', () => {
  assert.deepEqual(steps('POST /z HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'), ['POST /z', 'end']);
  const { framer } = drive([b('GET / HTTP/1.1\r\nHost: x\r\n\r\n')]);
  assert.equal(framer.atHead, true);
  assert.equal(framer.inBody, false);
});

test('a body split over chunks: the framer is in the body until its last byte', () => {
  const f = new RequestFramer(32768);
  const head = b('PUT /p HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n');
  assert.equal(f.next(head, 0, 0), A_HEAD);
  assert.equal(f.inBody, true);
  assert.equal(f.atHead, false);
  assert.equal(f.next(b('12345'), 0, 0), A_BODY);
  assert.equal(f.at, 5);
  assert.equal(f.next(b('6789'), 0, 0), A_BODY);
  assert.equal(f.next(b('0GET'), 0, 0), A_BODY_END);
  assert.equal(f.at, 1);
  assert.equal(f.atHead, true);
});

test('chunked with extensions and a trailer: chunks pass unchanged, the trailer is filtered', () => {
  assert.deepEqual(assertSplitInvariant(CHUNKED), [
    'POST /up',
    'body:5;name=value;flag\r\nhello\r\n3 ; ext="q"\r\nabc\r\n0;last=1\r\n',
    // The forwarding and framing fields the hop controls never reappear after the body.
    'trailer:X-Trace: 7\r\n\r\n',
    'end',
  ]);
});

test('chunked with an empty trailer section, then a pipelined request', () => {
  const s =
    'POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n' +
    'GET /next HTTP/1.1\r\nHost: x\r\n\r\n';
  assert.deepEqual(assertSplitInvariant(s), [
    'POST /c',
    'body:2\r\nhi\r\n0\r\n',
    'trailer:\r\n',
    'end',
    'GET /next',
    'end',
  ]);
});

test('pipelining: heads, bodies and leading empty lines, cut anywhere into any number of pieces', () => {
  const stream = `\r\n${CL_THEN_GET}\r\n\r\n${CHUNKED}HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n`;
  const whole = drive([b(stream)]).steps;
  assert.deepEqual(whole, [
    'POST /a',
    'body:hello',
    'end',
    'GET /b',
    'end',
    'POST /up',
    'body:5;name=value;flag\r\nhello\r\n3 ; ext="q"\r\nabc\r\n0;last=1\r\n',
    'trailer:X-Trace: 7\r\n\r\n',
    'end',
    'HEAD /h',
    'end',
  ]);
  assertSplitInvariant(stream);
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: stream.length - 1 }), { maxLength: 20 }), (cuts) => {
      const at = [0, ...cuts.sort((x, y) => x - y), stream.length];
      const pieces = at.slice(1).map((e, i) => b(stream.slice(at[i], e)));
      assert.deepEqual(drive(pieces).steps, whole);
    }),
    { numRuns: 500 },
  );
});

test('need more: a partial head is kept whole and not rescanned; empty lines alone are dropped', () => {
  const f = new RequestFramer(32768);
  const part = b('GET / HTTP/1.1\r\nHo');
  assert.equal(f.next(part, 0, 0), A_PARTIAL_HEAD);
  assert.equal(f.at, 0);
  assert.equal(f.scanned, part.length);
  // Leading empty lines are skipped, the rest kept from the request line.
  assert.equal(f.next(b('\r\n\r\nGET'), 0, 0), A_PARTIAL_HEAD);
  assert.equal(f.at, 4);
  // A CR at the end may start CRLF: kept, but it is not a head yet (no head timeout).
  assert.equal(f.next(b('\r\n\r'), 0, 0), A_NEED_MORE);
  assert.equal(f.at, 2);
  assert.equal(f.scanned, 0);
  // Only empty lines: nothing to keep.
  assert.equal(f.next(b('\r\n\r\n'), 0, 0), A_NEED_MORE);
  assert.equal(f.at, 4);
  assert.deepEqual(drive([b('GET / HTTP/1.1\r\nHost: x\r\n')]).held, 'GET / HTTP/1.1\r\nHost: x\r\n');
});

test('limits: a head of exactly --max-request-head-bytes passes, one byte more is 431', () => {
  const headOf = (n: number) => {
    const base = 'GET / HTTP/1.1\r\nHost: x\r\nX-Pad: \r\n\r\n';
    return `GET / HTTP/1.1\r\nHost: x\r\nX-Pad: ${'a'.repeat(n - base.length)}\r\n\r\n`;
  };
  assert.equal(headOf(1024).length, 1024);
  assert.deepEqual(steps(headOf(1024), 1024), ['GET /', 'end']);
  assert.deepEqual(steps(headOf(1025), 1024), ['error 431 HTTP_HEAD_TOO_LARGE']);
  // Without its end yet: refused as soon as more than the bound is held.
  assert.deepEqual(steps(headOf(2000).slice(0, 1024), 1024), []);
  assert.deepEqual(steps(headOf(2000).slice(0, 1025), 1024), ['error 431 HTTP_HEAD_TOO_LARGE']);
  // Split: the bound counts the bytes held, not the bytes of the last chunk.
  const s = headOf(2048);
  assert.deepEqual(drive([b(s.slice(0, 1000)), b(s.slice(1000, 2000))], 1024).steps, [
    'error 431 HTTP_HEAD_TOO_LARGE',
  ]);
});

test('limits: the trailer section is bounded like a head; a chunk-size line by MAX_CHUNK_LINE', () => {
  const head = 'POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n';
  const trailer = `X-Big: ${'t'.repeat(1100)}\r\n`;
  assert.deepEqual(steps(head + trailer, 1024), ['POST /t', 'body:0\r\n', 'body-error HTTP_BAD_TRAILER']);
  assert.deepEqual(steps(`${head}X-Small: 1\r\n`, 1024), ['POST /t', 'body:0\r\n']);
  const ext = `1;${'e'.repeat(MAX_CHUNK_LINE)}\r\n`;
  assert.deepEqual(steps(`${head.slice(0, -3)}${ext}`), [
    'POST /t',
    // Every byte before the one past the bound is body already (the scanner streams).
    `body:${ext.slice(0, -2)}`,
    'body-error HTTP_BAD_CHUNK',
  ]);
});

test('every code the framer refuses with before the request reaches the app', () => {
  const cases: [string, string][] = [
    ['\r\n@GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'error 400 HTTP_BAD_REQUEST_LINE'],
    ['\rGET / HTTP/1.1\r\nHost: x\r\n\r\n', 'error 400 HTTP_BAD_REQUEST_LINE'],
    [' GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'error 400 HTTP_BAD_REQUEST_LINE'],
    ['\x16\x03\x01\x02\x00', 'error 0 HTTP_TLS_ON_HTTP_LISTENER'],
    ['\x16', 'error 0 HTTP_TLS_ON_HTTP_LISTENER'],
    ['\x16\x04', 'error 400 HTTP_BAD_REQUEST_LINE'],
    ['GET / HTTP/1.1\nHost: x\n\n', 'error 400 HTTP_BAD_HEADER'],
    [`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(40000)}\r\n\r\n`, 'error 431 HTTP_HEAD_TOO_LARGE'],
    // The head parser's refusals come through with their status.
    ['GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n', 'error 400 HTTP_BAD_CONTENT_LENGTH'],
    [
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
      'error 400 HTTP_CONTENT_LENGTH_AND_CHUNKED',
    ],
    [
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n',
      'error 501 HTTP_UNSUPPORTED_TRANSFER_ENCODING',
    ],
    [
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
      'error 400 HTTP_BAD_TRANSFER_ENCODING',
    ],
    ['GET / HTTP/2.0\r\nHost: x\r\n\r\n', 'error 505 HTTP_VERSION_NOT_SUPPORTED'],
    ['CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n', 'error 405 HTTP_CONNECT_REFUSED'],
    ['GET / HTTP/1.1\r\n\r\n', 'error 400 HTTP_BAD_HOST'],
    ['GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', 'error 400 HTTP_OBS_FOLD'],
  ];
  for (const [input, want] of cases)
    assert.deepEqual(steps(input), [want], JSON.stringify(input.slice(0, 40)));
});

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const SETTINGS = '\x00\x00\x00\x04\x00\x00\x00\x00\x00';

test('the HTTP/2 preface as the first bytes is handed on whole, however it is split; its first 18 bytes are no head', () => {
  assert.deepEqual(assertSplitInvariant(PREFACE + SETTINGS), ['h2 at 0']);
  const whole = drive([b(PREFACE + SETTINGS)]);
  assert.equal(whole.held, PREFACE + SETTINGS, 'every byte is left for the HTTP/2 side');
  // "PRI * HTTP/2.0\r\n\r\n" ends like a head: it must wait for the rest, not be answered 505.
  const partial = drive([b(PREFACE.slice(0, 18))]);
  assert.deepEqual(partial.steps, []);
  assert.equal(partial.held, PREFACE.slice(0, 18));
  // A request whose method starts like the preface is an ordinary request.
  assert.deepEqual(steps('POST / HTTP/1.1\r\nHost: x\r\n\r\n'), ['POST /', 'end']);
  assert.deepEqual(steps('PRI / HTTP/1.1\r\nHost: x\r\n\r\n'), ['PRI /', 'end']);
});

test('the HTTP/2 preface anywhere but the very start is an HTTP/2.0 request line (505)', () => {
  assert.deepEqual(assertSplitInvariant(`GET / HTTP/1.1\r\nHost: x\r\n\r\n${PREFACE}`), [
    'GET /',
    'end',
    'error 505 HTTP_VERSION_NOT_SUPPORTED',
  ]);
  assert.deepEqual(steps(`\r\n${PREFACE}`), ['error 505 HTTP_VERSION_NOT_SUPPORTED']);
  assert.deepEqual(drive([b('\r\n'), b(PREFACE)]).steps, ['error 505 HTTP_VERSION_NOT_SUPPORTED']);
});

test('a ClientHello only counts as TLS before the first request', () => {
  assert.deepEqual(steps('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01'), [
    'GET /',
    'end',
    'error 400 HTTP_BAD_REQUEST_LINE',
  ]);
});

test('body errors after the head went to the app: the bytes before the error are forwarded first', () => {
  const head = 'POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n';
  assert.deepEqual(assertSplitInvariant(`${head}5\r\nhello\r\nzz\r\n`), [
    'POST /b',
    'body:5\r\nhello\r\n',
    'body-error HTTP_BAD_CHUNK',
  ]);
  assert.deepEqual(steps(`${head}5\r\nhelloXX`), ['POST /b', 'body:5\r\nhello', 'body-error HTTP_BAD_CHUNK']);
  assert.deepEqual(steps(`${head}0\r\nnot a field\r\n\r\n`), [
    'POST /b',
    'body:0\r\n',
    'body-error HTTP_BAD_TRAILER',
  ]);
  assert.deepEqual(steps(`${head}0\r\nX-A: 1\r\n Folded: 2\r\n\r\n`), [
    'POST /b',
    'body:0\r\n',
    'body-error HTTP_BAD_TRAILER',
  ]);
});

test('after a body error every step repeats it (nothing more is framed)', () => {
  const f = new RequestFramer(32768);
  assert.equal(f.next(b('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'), 0, 0), A_HEAD);
  assert.equal(f.next(b('g\r\n'), 0, 0), A_BODY_ERROR);
  assert.equal(f.code, 'HTTP_BAD_CHUNK');
  assert.equal(f.next(b('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 0, 0), A_BODY_ERROR);
  assert.equal(f.code, 'HTTP_BAD_CHUNK');
  assert.equal(f.atHead, false);
});

test('bare LFs split across chunks are found (the held part is rescanned from one byte back)', () => {
  assert.deepEqual(drive([b('GET / HTTP/1.1\r\nHost: x\n'), b('\n')]).steps, ['error 400 HTTP_BAD_HEADER']);
  assert.deepEqual(drive([b('GET / HTTP/1.1\r\nHost: x\r\n\r'), b('\n')]).steps, ['GET /', 'end']);
});
