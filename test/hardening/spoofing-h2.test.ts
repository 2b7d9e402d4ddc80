// Spoofing over HTTP/2 (issue 16): a hostile HTTP/2 client (test/apps/py/h2_forge.py, real framing
// and HPACK from the `h2` library) writes its own PROXY header and then forged forwarding fields in
// every form HTTP/2 allows: in HEADERS, in CONTINUATION frames (a block bigger than the max frame
// size, one cut into 8 fragments at arbitrary offsets, and a flood of 5-byte ones), as HPACK
// dynamic-table entries referenced by index on later streams, as never-indexed literals,
// Huffman-coded and plain, in request trailers (with and without DATA, and big enough for
// CONTINUATION), duplicated, in mixed case, and on 100 concurrent streams: every name the HTTP/1.1 policy strips (sidecar/http/forwarding-fields.ts),
// their `_` spellings and X-Realip-*. Through a REAL sidecar (`http2` listener) into the Go h2raw
// recorder (test/apps/go/h2raw.go: every header block exactly as it arrived, trailers included).
// Figure: forged values sent vs reaching the app: must be 0 reached; every stream's forwarding
// fields must be exactly the PROXY header's client; the app's trailers carry no forwarding field.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { type GoApp, startGoApp } from '../support/go-app.ts';
import { type ForgeRun, forge, fromNetHttp, verdictH2 } from './lib/h2-forge.ts';
import { figure, rssSampler, type Sidecar, startSidecar } from './lib/harness.ts';

/** Connection numbers (in every path) by run, so that the verdict knows each stream's client. */
const V2_CONN = 1;
const V1_CONN = 101;
const CLIENT_V6 = 'fd00:7::16:1';
const CLIENT_V4 = '10.16.0.1';
const DEST_PORT = 8443;

const totals = { sent: 0, reached: 0, streams: 0 };

describe('spoofing over HTTP/2: zero forged addresses reach an app', () => {
  let app: GoApp;
  /** A net/http h2c server (x/net/http2/h2c), the way Go gRPC and Connect servers run. */
  let netHttp: GoApp;
  let netHttpPort: number;
  let required: Sidecar;
  let optional: Sidecar;
  let port: number;
  let optionalPort: number;

  before(async () => {
    app = await startGoApp('h2raw');
    netHttp = await startGoApp('h2c');
    port = await freePortBelowEphemeral();
    optionalPort = await freePortBelowEphemeral();
    netHttpPort = await freePortBelowEphemeral();
    required = await startSidecar({
      listeners: [`http2:${port}:${app.port}`, `http2:${netHttpPort}:${netHttp.port}`],
      trusted: '127.0.0.1/32',
      args: ['--proxy', 'required', '--header-timeout', '2000'],
    });
    optional = await startSidecar({
      listeners: [`http2:${optionalPort}:${app.port}`],
      trusted: '127.0.0.1/32',
      args: ['--proxy', 'optional', '--header-timeout', '2000'],
    });
  });

  after(async () => {
    await required?.stop();
    await optional?.stop();
    app?.stop();
    netHttp?.stop();
    figure(
      { diagnostic: (m) => console.log(m) },
      {
        case: 'spoofing http2 (all)',
        tried: totals.sent,
        passed: totals.sent - totals.reached,
        violations: totals.reached,
        note: `forged values sent ${totals.sent}, reached the app ${totals.reached}, app streams ${totals.streams}`,
      },
    );
  });

  /** Streams the app recorded for connections in [first, first + n). */
  const seenFor = (first: number, n = 100) =>
    app.seenRaw().filter((s) => {
      const c = Number(/^\/c\/(\d+)\//.exec(s.path)?.[1]);
      return c >= first && c < first + n;
    });

  test('every forging case, PROXY v2 (IPv6 client) and v1 (IPv4) at once, 100 concurrent streams', async (t) => {
    const rss = rssSampler(required.pid);
    const runs: ForgeRun[] = await Promise.all([
      forge({ port, proxy: 'v2', client: CLIENT_V6, destPort: DEST_PORT, connId: V2_CONN }),
      forge({ port, proxy: 'v1', client: CLIENT_V4, destPort: DEST_PORT, connId: V1_CONN }),
    ]);
    await sleep(200);
    const peak = rss.stop();
    assert.equal(required.child.exitCode, null, `sidecar died:\n${required.output()}`);
    const seen = [...seenFor(V2_CONN), ...seenFor(V1_CONN)];
    const v = verdictH2(runs, seen, (c) => (c < V1_CONN ? CLIENT_V6 : CLIENT_V4), DEST_PORT);
    totals.sent += v.sent;
    totals.reached += v.reached;
    totals.streams += v.appStreams;
    const streams = runs.flatMap((r) => r.streams);
    // Per case: streams sent, answered 200, reset (and how), recorded at the app.
    const byCase = new Map<string, { sent: number; ok: number; reset: string[]; app: number }>();
    for (const s of streams) {
      const c = byCase.get(s.case) ?? { sent: 0, ok: 0, reset: [], app: 0 };
      c.sent++;
      if (s.status === 200) c.ok++;
      if (s.reset || s.error) c.reset.push(s.reset ?? s.error ?? '');
      if (seen.some((a) => a.path === s.path)) c.app++;
      byCase.set(s.case, c);
    }
    for (const [name, c] of byCase) {
      t.diagnostic(
        `case ${name}: ${c.sent} streams, ${c.ok} answered 200, ${c.app} at the app` +
          (c.reset.length ? `, refused: ${[...new Set(c.reset)].join(' | ')}` : ''),
      );
    }
    for (const sm of runs.flatMap((r) => r.summaries)) {
      if (sm.closed) t.diagnostic(`conn ${sm.conn} (${sm.case}) ended: ${sm.closed}`);
    }
    figure(t, {
      case: 'spoofing http2 forging cases',
      tried: v.sent,
      passed: v.sent - v.reached,
      violations: v.reached,
      peakRssMb: peak,
      note: `forged values sent ${v.sent}, reached the app ${v.reached}; ${streams.length} streams, ${v.appStreams} at the app`,
    });
    assert.deepEqual(v.problems.slice(0, 10), [], `${v.problems.length} problems at the app`);
    assert.equal(v.reached, 0);
    // Every well-formed stream must have reached the app (the check is not passing on refusals):
    // everything but the mixed-case names, which HTTP/2 forbids (RFC 9113 8.2.1), and the
    // CONTINUATION flood, which nghttp2 cuts off (more than 8 CONTINUATION frames, CVE-2024-27316).
    const refused = new Set(['mixed-case', 'continuation-flood']);
    for (const [name, c] of byCase) {
      if (refused.has(name)) continue;
      assert.equal(c.app, c.sent, `case ${name}: ${c.app} of ${c.sent} streams reached the app`);
      assert.equal(c.ok, c.sent, `case ${name}: ${c.ok} of ${c.sent} streams answered 200`);
    }
    // Uppercase field names are malformed in HTTP/2: nghttp2 refuses the stream, and no such
    // stream may reach the app with its field.
    const mixed = byCase.get('mixed-case');
    assert.ok(mixed && mixed.sent === 8, 'the mixed-case streams were sent');
    assert.equal(mixed.ok, 0, 'a stream with an uppercase field name was answered 200');
    assert.equal(mixed.app, 0, 'a stream with an uppercase field name reached the app');
    const flood = byCase.get('continuation-flood');
    assert.ok(flood && flood.sent === 2, 'the CONTINUATION floods were sent');
    assert.equal(flood.app, 0, 'a header block in ~400 CONTINUATION frames reached the app');
  });

  test('an untrusted sender: its PROXY header (a forged client) never reaches the app', async (t) => {
    const runs: ForgeRun[] = [];
    for (const [sidecarPort, connId] of [
      [port, 201],
      [optionalPort, 211],
    ] as const) {
      runs.push(
        await forge({
          port: sidecarPort,
          proxy: 'v2',
          // The header's client is itself from the forged pool: an untrusted peer's claim.
          client: '100.100.0.1',
          localAddress: '127.0.0.2',
          connId,
          cases: ['every-field', 'hpack-dynamic', 'trailers'],
          timeoutS: 3,
          // Everything written before the sidecar can refuse: the forgeries are on the wire.
          noWait: true,
        }),
      );
    }
    await sleep(200);
    const seen = seenFor(201);
    const v = verdictH2(runs, seen, () => null, DEST_PORT);
    totals.sent += v.sent;
    totals.reached += v.reached;
    for (const sm of runs.flatMap((r) => r.summaries)) {
      t.diagnostic(`untrusted conn ${sm.conn} (${sm.case}): ${sm.streams} streams, ended: ${sm.closed}`);
    }
    figure(t, {
      case: 'spoofing http2 untrusted sender',
      tried: v.sent,
      passed: v.sent - v.reached,
      violations: v.reached,
      note: `app streams ${v.appStreams}`,
    });
    assert.deepEqual(v.problems.slice(0, 10), []);
    assert.ok(v.sent > 0, 'the untrusted sender wrote no forged stream');
    assert.equal(seen.length, 0, 'a stream from an untrusted sender with a PROXY header reached the app');
  });

  test('no PROXY header under --proxy required: nothing reaches the app; under optional only the peer', async (t) => {
    const none = await forge({
      port,
      proxy: 'none',
      client: CLIENT_V4,
      connId: 301,
      timeoutS: 3,
      noWait: true,
    });
    const peer = await forge({
      port: optionalPort,
      proxy: 'none',
      client: CLIENT_V4,
      connId: 351,
      cases: ['every-field', 'hpack-dynamic', 'continuation', 'trailers'],
    });
    await sleep(200);
    const seenNone = seenFor(301, 50);
    const vNone = verdictH2([none], seenNone, () => null, DEST_PORT);
    const seenPeer = seenFor(351, 50);
    // A trusted peer may omit the header in optional mode: the app sees the peer, nothing forged.
    const vPeer = verdictH2([peer], seenPeer, () => '127.0.0.1', optionalPort);
    for (const v of [vNone, vPeer]) {
      totals.sent += v.sent;
      totals.reached += v.reached;
      totals.streams += v.appStreams;
    }
    figure(t, {
      case: 'spoofing http2 without a PROXY header',
      tried: vNone.sent + vPeer.sent,
      passed: vNone.sent + vPeer.sent - vNone.reached - vPeer.reached,
      violations: vNone.reached + vPeer.reached,
      note: `required: app streams ${vNone.appStreams}; optional (trusted peer): app streams ${vPeer.appStreams}`,
    });
    assert.deepEqual(vNone.problems.slice(0, 10), []);
    assert.ok(vNone.sent > 0, 'the PROXY-less client wrote no forged stream');
    assert.equal(seenNone.length, 0, 'a PROXY-less stream reached the app under --proxy required');
    assert.deepEqual(vPeer.problems.slice(0, 10), []);
    assert.equal(vPeer.appStreams, peer.streams.length, 'the optional-mode streams reached the app');
  });

  test('the same forgeries into a net/http h2c app: it sees only our fields, in every value it keeps', async (t) => {
    const run = await forge({
      port: netHttpPort,
      proxy: 'v2',
      client: CLIENT_V4,
      destPort: DEST_PORT,
      connId: 451,
      cases: [
        'every-field',
        'duplicated',
        'continuation',
        'hpack-dynamic',
        'never-indexed',
        'trailers',
        'trailers-only',
      ],
    });
    await sleep(200);
    const seen = netHttp.seen().map(fromNetHttp);
    const v = verdictH2([run], seen, () => CLIENT_V4, DEST_PORT);
    totals.sent += v.sent;
    totals.reached += v.reached;
    totals.streams += v.appStreams;
    figure(t, {
      case: 'spoofing http2 into net/http',
      tried: v.sent,
      passed: v.sent - v.reached,
      violations: v.reached,
      note: `${run.streams.length} streams, ${v.appStreams} at the app`,
    });
    assert.deepEqual(v.problems.slice(0, 10), []);
    assert.equal(v.appStreams, run.streams.length, 'every stream reached the net/http app');
  });

  test('control: straight to the app, the detector sees every forgery', async (t) => {
    // Proves the check can fail: the same client with no proxy in between must be caught.
    const run = await forge({ port: app.port, proxy: 'none', client: CLIENT_V4, connId: 401 });
    await sleep(200);
    const v = verdictH2([run], seenFor(401), () => CLIENT_V4, DEST_PORT);
    t.diagnostic(
      `control: ${v.reached} of ${v.sent} forged values reached the app, ${v.problems.length} problems`,
    );
    assert.equal(v.reached, v.sent, 'the detector missed forged values that reached the app');
    assert.ok(
      v.problems.some((p) => p.includes('trailer')),
      'the detector missed forwarding trailers',
    );
    // And the net/http app's log shows fields and (declared) trailers to the same verdict.
    const direct = await forge({
      port: netHttp.port,
      proxy: 'none',
      client: CLIENT_V4,
      connId: 481,
      cases: ['every-field', 'duplicated', 'trailers'],
    });
    await sleep(200);
    const seen = netHttp
      .seen()
      .map(fromNetHttp)
      .filter((s) => s.path.startsWith('/c/48'));
    const w = verdictH2([direct], seen, () => CLIENT_V4, DEST_PORT);
    t.diagnostic(`control (net/http): ${w.reached} of ${w.sent} forged values reached the app`);
    assert.equal(w.reached, w.sent, 'the detector missed forged values that reached the net/http app');
    assert.ok(
      w.problems.some((p) => p.includes('trailer')),
      'the net/http app did not log the trailers',
    );
  });
});
