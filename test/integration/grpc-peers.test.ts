// gRPC through the HTTP/2 hop with real peers (issue 16, "Tests with real peers"): every client
// {Go grpc, Python grpcio} against every server {Go, Python}, through an HAProxy edge that adds
// the PROXY header, with fronts doing the same job: nginx (listen http2 proxy_protocol +
// grpc_pass, the reference), realip's `http2` listener, and realip's `http` listener (which hands a
// prior-knowledge client to the same HTTP/2 proxy). The same assertions hold for all, so a
// difference between them is a difference in behaviour, not in the test. The edge says the client
// is EDGE_CLIENT (203.0.113.7), an address no socket here has: a forwarding field can only show it
// by carrying the PROXY header's client. Servers, fronts and the edge start once per group.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { requireTool } from '../../devkit/tools.ts';
import { type GoApp, startGoApp } from '../support/go-app.ts';
import {
  EDGE_CLIENT,
  EDGE_CLIENT_B,
  EDGE_DST_PORT,
  type Edge,
  type EdgeVariant,
  type Front,
  startNginxGrpcFront,
  startProxyEdge,
  startRealipGrpcFront,
} from '../support/grpc-fronts.ts';
import {
  GRPC_IMPLS,
  type GrpcEcho,
  type GrpcImpl,
  type GrpcResult,
  type GrpcServer,
  runGrpcClient,
  startGrpcServer,
} from '../support/grpc-peers.ts';

/** What a client forges: every forwarding field, none of which may reach the app. */
const FORGED = {
  'x-forwarded-for': '6.6.6.6',
  'x-real-ip': '6.6.6.6',
  forwarded: 'for=6.6.6.6',
  'x-forwarded-port': '1',
  'x-forwarded-proto': 'https',
};
const MB = 1 << 20;

/** The streaming RPCs: a large case (MBs per message) and a many-messages case each. */
const STREAMS = [
  { scenario: 'server-stream', method: 'ServerStream', what: 'server streaming', large: [3, 3 * MB] },
  {
    scenario: 'client-stream',
    method: 'ClientStream',
    what: 'client streaming (counted by the server)',
    large: [3, 3 * MB],
  },
  { scenario: 'bidi', method: 'Bidi', what: 'bidi streaming (each message echoed)', large: [4, 2 * MB] },
] as const;

const servers = new Map<GrpcImpl, GrpcServer>();
/**
 * An app port where nothing listens: the app is down. Below the ephemeral range, so no port the
 * suite picks later (all ephemeral) can land on it.
 */
let downPort: number;
/** The Go net/http app behind h2c (test/apps/go) for the curl case. */
let h2cApp: GoApp;

before(async () => {
  for (const t of ['haproxy', 'nginx', 'curl']) requireTool(t);
  for (const impl of GRPC_IMPLS) servers.set(impl, await startGrpcServer(impl));
  downPort = await freePortBelowEphemeral('127.0.0.1');
  h2cApp = await startGoApp('h2c');
});

after(async () => {
  for (const s of servers.values()) await s.stop();
  h2cApp?.stop();
});

/** The echo a server must see: exactly our fields, from the PROXY header, one value each. */
function assertAttributed(echo: GrpcEcho | null | undefined, what: string, client = EDGE_CLIENT): void {
  assert.ok(echo, `${what}: no echo`);
  assert.deepEqual(
    {
      xff: echo.xff,
      xRealIp: echo.xRealIp,
      forwarded: echo.forwarded,
      xForwardedPort: echo.xForwardedPort,
      xForwardedProto: echo.xForwardedProto,
    },
    {
      xff: [client],
      xRealIp: [client],
      forwarded: [`for=${client}`],
      xForwardedPort: [String(EDGE_DST_PORT)],
      xForwardedProto: ['http'],
    },
    what,
  );
  // The app's transport peer is the front, on loopback: the client address came only via metadata.
  assert.match(echo.peer, /^127\.0\.0\.1:\d+$/, what);
}

function assertOk(r: GrpcResult, what: string): void {
  assert.equal(r.code, 'OK', `${what}: ${r.code} ${r.message}`);
  assert.equal(r.mismatch, 0, `${what}: messages altered`);
}

function assertTrailers(r: GrpcResult, method: string, server: GrpcImpl): void {
  assert.deepEqual(r.trailers['x-peer-trailer'], [method], `trailers ${JSON.stringify(r.trailers)}`);
  assert.deepEqual(r.trailers['x-peer-impl'], [server === 'go' ? 'go' : 'python']);
}

type StartFront = (appPorts: readonly number[]) => Promise<Front>;

// Straight to the app, the forged fields arrive: so their absence through a front is the front's
// doing, not the peers' (a peer that dropped them would make the suite pass vacuously).
for (const client of GRPC_IMPLS) {
  for (const server of GRPC_IMPLS) {
    test(`${client} client -> ${server} server, no front: the forged metadata reaches the app`, async () => {
      const r = await runGrpcClient(client, servers.get(server)!.port, 'unary', {
        id: 'direct',
        meta: FORGED,
      });
      assertOk(r, 'direct');
      assert.deepEqual(r.echo?.xff, ['6.6.6.6']);
      assert.deepEqual(r.echo?.xRealIp, ['6.6.6.6']);
      assert.deepEqual(r.echo?.forwarded, ['for=6.6.6.6']);
      assert.deepEqual(r.echo?.xForwardedPort, ['1']);
      assert.deepEqual(r.echo?.xForwardedProto, ['https']);
    });
  }
}

function frontSuite(kind: Front['kind'], startFront: StartFront): void {
  describe(`through the ${kind} front`, { concurrency: 3 }, () => {
    let front: Front;
    let edge: Edge;
    /** The v2 (or v1) edge in front of the front for this app. */
    const via = (app: number, variant: EdgeVariant = 'v2') => edge.port(front.ports.get(app)!, variant);
    const serverPort = (impl: GrpcImpl) => servers.get(impl)!.port;

    before(async () => {
      front = await startFront([...[...servers.values()].map((s) => s.port), downPort, h2cApp.port]);
      edge = await startProxyEdge([...front.ports.values()]);
    });
    after(async () => {
      await edge?.stop();
      await front?.stop();
    });

    for (const client of GRPC_IMPLS) {
      for (const server of GRPC_IMPLS) {
        const pair = `${client} client -> ${server} server`;
        const tag = `${kind}-${client}-${server}`;

        test(`${pair}: unary echo shows exactly the PROXY client (v2 and v1 edges), forged metadata removed, header and trailers delivered`, async () => {
          for (const v of ['v2', 'v1'] as const) {
            const r = await runGrpcClient(client, via(serverPort(server), v), 'unary', {
              id: `${tag}-unary-${v}`,
              meta: FORGED,
            });
            assertOk(r, v);
            assert.equal(r.echo?.id, `${tag}-unary-${v}`);
            assertAttributed(r.echo, `PROXY ${v}`);
            assert.deepEqual(r.headers['x-peer-header'], ['Echo']);
            assertTrailers(r, 'Echo', server);
          }
        });

        for (const st of STREAMS) {
          const [n, size] = st.large;
          test(`${pair}: ${st.what}, ${n} x ${size / MB} MB and 2000 small messages whole, trailers after the last`, async () => {
            for (const [count, bytes] of [st.large, [2000, 100]] as const) {
              const r = await runGrpcClient(client, via(serverPort(server)), st.scenario, {
                n: count,
                size: bytes,
              });
              assertOk(r, `${count} x ${bytes}`);
              assert.deepEqual([r.messages, r.bytes], [count, count * bytes]);
              assertTrailers(r, st.method, server);
            }
          });
        }

        test(`${pair}: a slow reader (40 ms per message) gets 24 x 1 MB whole`, async () => {
          const r = await runGrpcClient(client, via(serverPort(server)), 'server-stream', {
            n: 24,
            size: MB,
            readDelayMs: 40,
          });
          assertOk(r, 'slow reader');
          assert.deepEqual([r.messages, r.bytes], [24, 24 * MB]);
          assertTrailers(r, 'ServerStream', server);
        });

        test(`${pair}: an expired deadline is DEADLINE_EXCEEDED at the client and a cancellation at the server`, async () => {
          const id = `${tag}-deadline`;
          const r = await runGrpcClient(client, via(serverPort(server)), 'deadline', { id, timeoutMs: 500 });
          // The server got the deadline too (grpc-timeout) and grpc-go's server resets the stream
          // when it passes. A reset reaching the client after its own deadline is DEADLINE_EXCEEDED
          // in every client; but nginx answers a reset before response headers with a 502, and when
          // that beats the client's timer the client reports UNAVAILABLE. That race is nginx's, so
          // only the reference is allowed it; realip must pass the reset on.
          const nginx502 = kind === 'nginx' && r.code === 'UNAVAILABLE' && r.message.includes('502');
          assert.ok(r.code === 'DEADLINE_EXCEEDED' || nginx502, `${r.code} ${r.message}`);
          assert.ok(r.ms >= 450 && r.ms < 5000, `took ${r.ms} ms`);
          await servers.get(server)!.waitForEvent((e) => e.method === 'Slow' && e.id === id);
        });

        test(`${pair}: a client cancelling mid-stream is seen by the server`, async () => {
          const id = `${tag}-cancel`;
          const r = await runGrpcClient(client, via(serverPort(server)), 'cancel', { id, n: 5, size: 64 });
          assert.equal(r.code, 'CANCELLED', `${r.code} ${r.message}`);
          assert.equal(r.messages, 5, JSON.stringify(r));
          await servers.get(server)!.waitForEvent((e) => e.method === 'ServerStream' && e.id === id);
        });

        test(`${pair}: two clients at once, 40 concurrent RPCs each on one channel, every RPC attributed to its own client`, async () => {
          const runs = (['v2', 'b'] as const).map(async (variant) => {
            const id = `${tag}-conc-${variant}`;
            const r = await runGrpcClient(client, via(serverPort(server), variant), 'concurrent', {
              id,
              n: 40,
              meta: FORGED,
            });
            assert.deepEqual(r.codes, Array(40).fill('OK'));
            r.echoes!.forEach((e, i) => {
              assert.equal(e?.id, `${id}-${i}`);
              assertAttributed(e, `${variant} rpc ${i}`, variant === 'b' ? EDGE_CLIENT_B : EDGE_CLIENT);
            });
          });
          await Promise.all(runs);
        });
      }

      test(`${client} client: an app that is down is UNAVAILABLE, not a hang`, async () => {
        const r = await runGrpcClient(client, via(downPort), 'unary', { timeoutMs: 10_000 });
        assert.equal(r.code, 'UNAVAILABLE', `${r.code} ${r.message}`);
        assert.ok(r.ms < 5000, `took ${r.ms} ms`);
      });
    }

    for (const client of GRPC_IMPLS) {
      test(`${client} client: a graceful shutdown of the front lets a stream in flight finish`, async () => {
        // Its own front and edge: this case ends them.
        const app = serverPort('go');
        const own = await startFront([app]);
        const ownEdge = await startProxyEdge([...own.ports.values()]).catch(async (e) => {
          await own.stop();
          throw e;
        });
        try {
          const rpc = runGrpcClient(client, ownEdge.port(own.ports.get(app)!, 'v2'), 'server-stream', {
            n: 20,
            size: 1000,
            serverDelayMs: 100,
          });
          let settled = false;
          void rpc.finally(() => {
            settled = true;
          });
          await sleep(700);
          assert.equal(settled, false, 'the stream ended before the drain began');
          const drained = own.drain();
          const r = await rpc;
          assertOk(r, 'a stream in flight at the drain');
          assert.deepEqual([r.messages, r.bytes], [20, 20_000]);
          assertTrailers(r, 'ServerStream', 'go');
          assert.equal(await drained, 0, `${kind} exit status\n${own.output()}`);
        } finally {
          await ownEdge.stop();
          await own.stop();
        }
      });
    }

    test('curl --http2-prior-knowledge --haproxy-protocol to an h2c app: the PROXY client, forged field removed', async () => {
      // curl writes its own PROXY v1 header with its socket's address: it binds 127.0.0.77, which
      // the front's connection to the app (from 127.0.0.1) does not have.
      const frontPort = front.ports.get(h2cApp.port)!;
      const { stdout } = await promisify(execFile)(
        'curl',
        [
          '-sS',
          '--http2-prior-knowledge',
          '--haproxy-protocol',
          '--interface',
          '127.0.0.77',
          '-H',
          'X-Forwarded-For: 6.6.6.6',
          '-o',
          '/dev/null',
          '-w',
          '%{http_code} %{http_version}',
          `http://127.0.0.1:${frontPort}/curl-${kind}`,
        ],
        { timeout: 15_000 },
      );
      assert.equal(stdout, '200 2');
      const seen = h2cApp.seen().find((s) => s.path === `/curl-${kind}`);
      assert.ok(seen, 'the app saw the request');
      assert.equal(seen.proto, 'HTTP/2.0');
      assert.equal(seen.xff, '127.0.0.77');
      assert.equal(seen.xRealIp, '127.0.0.77');
      assert.equal(seen.forwarded, 'for=127.0.0.77');
    });
  });
}

frontSuite('nginx', startNginxGrpcFront);
frontSuite('realip', startRealipGrpcFront);
// A gRPC app behind a port named "http" (the webhook's default mode for it): the same matrix.
frontSuite('realip-http', (apps) => startRealipGrpcFront(apps, 'http'));
