// kubelet's `grpc` probes, rewritten by the webhook to the admin port: the real `realip sidecar`
// makes the standard health call (grpc.health.v1.Health/Check) to a real gRPC server (grpcio with
// grpcio-health-checking, test/apps/py/grpc_health_server.py) and answers kubelet 200 only for
// SERVING, as kubelet's own gRPC prober would have decided.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';

const PYTHON = new URL('../../.cache/pyenv/bin/python', import.meta.url).pathname;
const SERVER = new URL('../apps/py/grpc_health_server.py', import.meta.url).pathname;

function get(port: number, path: string): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
      })
      .on('error', reject);
  });
}

function lineFrom(child: ChildProcess, want: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`no "${want}" within ${timeoutMs} ms: ${out}`)),
      timeoutMs,
    );
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').includes(want)) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the gRPC server exited (${code}): ${out}`)));
  });
}

describe('admin port: gRPC probes against a real gRPC health service', () => {
  let server: ChildProcess | undefined;
  let sidecar: Sidecar | undefined;
  let grpcPort = 0;
  let h1Port = 0;
  let closedPort = 0;
  const h1App = http.createServer((_req, res) => res.end('not gRPC\n'));
  const silent = net.createServer(() => {}); // accepts, never speaks

  before(async () => {
    assert.ok(
      existsSync(PYTHON),
      `${PYTHON} is missing: run test/setup.d/26-python-test-peers.sh (test/setup.sh runs it)`,
    );
    grpcPort = await freePortBelowEphemeral();
    closedPort = await freePortBelowEphemeral();
    server = spawn(PYTHON, [SERVER, String(grpcPort)], { stdio: ['pipe', 'pipe', 'inherit'] });
    await lineFrom(server, 'listening');
    await new Promise<void>((r) => h1App.listen(0, '127.0.0.1', r));
    h1Port = (h1App.address() as net.AddressInfo).port;
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const silentPort = (silent.address() as net.AddressInfo).port;
    const g = (port: number, service = '') => ({ grpc: { port, service }, timeoutSeconds: 1 });
    const probes = {
      '/app-health/api/readyz': g(grpcPort),
      '/app-health/api/livez': g(grpcPort, 'orders.v1.Orders'),
      '/app-health/billing/readyz': g(grpcPort, 'billing.v1.Billing'),
      '/app-health/unknown/readyz': g(grpcPort, 'nope.v1.Nope'),
      '/app-health/h1/readyz': g(h1Port),
      '/app-health/down/readyz': g(closedPort),
      '/app-health/silent/readyz': g(silentPort),
    };
    sidecar = await startSidecar({
      listeners: [`http2:${await freePortBelowEphemeral()}:${grpcPort}`],
      args: ['--app-probes', JSON.stringify(probes)],
    });
  });

  after(async () => {
    await sidecar?.stop();
    server?.kill('SIGKILL');
    h1App.close();
    silent.close();
  });

  it('SERVING answers 200, for the server and for a named service', async () => {
    for (const path of ['/app-health/api/readyz', '/app-health/api/livez']) {
      const r = await get(sidecar!.adminPort, path);
      assert.equal(r.status, 200, `${path}: ${r.body}`);
    }
  });

  it('NOT_SERVING, an unknown service, a non-gRPC app, a closed port and a silent app answer 503', async () => {
    for (const [path, detail] of [
      ['/app-health/billing/readyz', /health of billing\.v1\.Billing is NOT_SERVING/],
      ['/app-health/unknown/readyz', /grpc-status 5\b/],
      ['/app-health/h1/readyz', /^app port \d+: /],
      ['/app-health/down/readyz', /ECONNREFUSED/],
    ] as const) {
      const r = await get(sidecar!.adminPort, path);
      assert.equal(r.status, 503, `${path}: ${r.status} ${r.body}`);
      assert.match(r.body, detail, path);
    }
    const slow = await get(sidecar!.adminPort, '/app-health/silent/readyz');
    assert.equal(slow.status, 503);
    assert.match(slow.body, /no answer within 1000 ms/);
    assert.ok(slow.ms >= 900 && slow.ms < 5000, `the probe's own 1 s timeout, took ${slow.ms} ms`);
  });

  it('follows the app: NOT_SERVING then SERVING again', async () => {
    server!.stdin!.write(' NOT_SERVING\n');
    await lineFrom(server!, 'ok');
    assert.equal((await get(sidecar!.adminPort, '/app-health/api/readyz')).status, 503);
    server!.stdin!.write(' SERVING\n');
    await lineFrom(server!, 'ok');
    assert.equal((await get(sidecar!.adminPort, '/app-health/api/readyz')).status, 200);
  });
});
