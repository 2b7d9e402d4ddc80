// The admin port is reachable by every pod (it binds :: for kubelet), so it must not be a proxy into
// the pod (issue 11, finding 1). Regression: it used to GET 127.0.0.1:PORT/PATH for any
// /app-health/http/PORT/PATH with the caller's own headers (a forged X-Forwarded-For reached an app
// that trusts loopback) and to connect to any /app-health/tcp/PORT. Now it serves only the probes in
// REALIP_APP_PROBES, each exactly as configured. Real `realip sidecar`; real Node apps and the Go
// net/http test peer (test/support/go-app.ts) on loopback.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Env } from '../../common/contract.ts';
import { type GoApp, startGoApp } from '../support/go-app.ts';
import { type Sidecar, startSidecar } from '../support/sidecar.ts';
import { CLI } from '../support/tcp.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

async function get(
  port: number,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
  method = 'GET',
): Promise<{ status: number; body: string; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: Date.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('admin port: only the configured app probes, never a proxy', () => {
  const seen: Seen[] = [];
  // An app that trusts its loopback peer as a proxy: it answers with the X-Forwarded-For it got.
  const app = http.createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (req.url === '/hang') return; // never answers
    const status = req.url === '/fail' ? 500 : req.url === '/moved' ? 302 : req.url === '/gone' ? 404 : 200;
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(`xff=${req.headers['x-forwarded-for'] ?? '-'}\n`);
  });
  const tcpApp = net.createServer((s) => s.destroy());
  let appPort = 0;
  let tcpPort = 0;
  let closedPort = 0;
  let sidecar: Sidecar;
  let goApp: GoApp;

  const probes = () => ({
    '/app-health/web/livez': {
      httpGet: {
        port: appPort,
        path: '/healthz?deep=1',
        scheme: 'HTTP',
        httpHeaders: [
          { name: 'X-Probe', value: 'configured' },
          { name: 'Host', value: 'probe.example' },
        ],
      },
      timeoutSeconds: 1,
    },
    '/app-health/web/readyz': {
      httpGet: { port: appPort, path: '/moved', scheme: 'HTTP' },
      timeoutSeconds: 1,
    },
    '/app-health/web/startupz': {
      httpGet: { port: appPort, path: '/fail', scheme: 'HTTP' },
      timeoutSeconds: 1,
    },
    '/app-health/gone/livez': {
      httpGet: { port: appPort, path: '/gone', scheme: 'HTTP' },
      timeoutSeconds: 1,
    },
    '/app-health/slow/livez': {
      httpGet: { port: appPort, path: '/hang', scheme: 'HTTP' },
      timeoutSeconds: 1,
    },
    '/app-health/go/readyz': {
      httpGet: { port: goApp.port, path: '/ready', scheme: 'HTTP' },
      timeoutSeconds: 1,
    },
    '/app-health/db/readyz': { tcpSocket: { port: tcpPort }, timeoutSeconds: 1 },
    '/app-health/down/readyz': { tcpSocket: { port: closedPort }, timeoutSeconds: 1 },
  });

  before(async () => {
    appPort = await listen(app);
    tcpPort = await listen(tcpApp);
    closedPort = await freePortBelowEphemeral();
    goApp = await startGoApp();
    const listenPort = await freePortBelowEphemeral();
    sidecar = await startSidecar({
      listeners: [`http:${listenPort}:${appPort}`],
      args: ['--app-probes', JSON.stringify(probes()), '--log-level', 'info'],
    });
  });

  after(async () => {
    await sidecar?.stop();
    goApp?.stop();
    app.closeAllConnections();
    app.close();
    tcpApp.close();
  });

  const forged = {
    'x-forwarded-for': '203.0.113.66',
    'x-real-ip': '203.0.113.66',
    authorization: 'Bearer caller',
    'x-probe': 'caller',
  };

  it('the caller X-Forwarded-For (and every other caller header) never reaches the app', async () => {
    seen.length = 0;
    const r = await get(sidecar.adminPort, '/app-health/web/livez', forged);
    assert.equal(r.status, 200, r.body);
    assert.equal(seen.length, 1, 'the app got exactly the probe');
    const got = seen[0]!;
    // Exactly the configured probe: its path (query included) and headers, Host from httpHeaders.
    assert.equal(got.method, 'GET');
    assert.equal(got.url, '/healthz?deep=1');
    assert.equal(got.headers['x-probe'], 'configured');
    assert.equal(got.headers.host, 'probe.example');
    assert.equal(got.headers['x-forwarded-for'], undefined);
    assert.equal(got.headers['x-real-ip'], undefined);
    assert.equal(got.headers.authorization, undefined);
    assert.deepEqual(Object.keys(got.headers).sort(), [
      'accept',
      'connection',
      'host',
      'user-agent',
      'x-probe',
    ]);
  });

  it('a Go net/http app behind the admin port: neither the probe nor the old paths carry the caller X-Forwarded-For', async () => {
    const r = await get(sidecar.adminPort, '/app-health/go/readyz', forged);
    assert.equal(r.status, 200, r.body);
    const old = await get(sidecar.adminPort, `/app-health/http/${goApp.port}/forged`, forged);
    assert.equal(old.status, 404);
    assert.match(old.body, /^ADMIN_UNKNOWN_PROBE: /);
    assert.deepEqual(
      goApp.seen().map((s) => [s.method, s.path, s.xff, s.xRealIp]),
      [['GET', '/ready', '', '']],
    );
  });

  it('HEAD performs the probe too', async () => {
    seen.length = 0;
    const r = await get(sidecar.adminPort, '/app-health/web/livez', forged, 'HEAD');
    assert.equal(r.status, 200);
    assert.equal(seen[0]?.method, 'GET');
    assert.equal(seen[0]?.headers['x-forwarded-for'], undefined);
  });

  it('the old open paths /app-health/http/PORT/... and /app-health/tcp/PORT are 404 ADMIN_UNKNOWN_PROBE', async () => {
    seen.length = 0;
    for (const path of [
      `/app-health/http/${appPort}/healthz`,
      `/app-health/http/${appPort}/`,
      '/app-health/http/1/',
      `/app-health/tcp/${tcpPort}`,
      `/app-health/tcp/${closedPort}`,
      '/app-health/tcp/22',
      '/app-health/web/livez/',
      '/app-health/web/livez?x=1',
      '/app-health/web',
      '/app-health',
      '/app-health/',
    ]) {
      const r = await get(sidecar.adminPort, path, forged);
      assert.equal(r.status, 404, `${path}: ${r.status} ${r.body}`);
      assert.match(r.body, /^ADMIN_UNKNOWN_PROBE: /, path);
      assert.ok(!r.body.includes(String(appPort)), 'the body does not echo the caller path');
    }
    assert.deepEqual(seen, [], 'nothing reached the app');
  });

  it('every other unknown path is 404 ADMIN_NOT_FOUND; the admin endpoints still answer', async () => {
    for (const path of ['/', '/x', `/http/${appPort}/`, '/healthz/']) {
      const r = await get(sidecar.adminPort, path);
      assert.equal(r.status, 404, path);
      assert.match(r.body, /^ADMIN_NOT_FOUND: /, path);
    }
    assert.equal((await get(sidecar.adminPort, '/healthz')).status, 200);
    assert.equal((await get(sidecar.adminPort, '/readyz')).status, 200);
  });

  it("an http probe maps the app's 2xx/3xx to 200 and anything else to 503", async () => {
    seen.length = 0;
    assert.equal((await get(sidecar.adminPort, '/app-health/web/readyz')).status, 200, '302');
    assert.equal((await get(sidecar.adminPort, '/app-health/web/startupz')).status, 503, '500');
    assert.equal((await get(sidecar.adminPort, '/app-health/gone/livez')).status, 503, '404');
    assert.deepEqual(
      seen.map((s) => s.url),
      ['/moved', '/fail', '/gone'],
    );
  });

  it('an http probe times out after its timeoutSeconds: 503', async () => {
    const r = await get(sidecar.adminPort, '/app-health/slow/livez');
    assert.equal(r.status, 503, r.body);
    assert.match(r.body, /no answer within 1000 ms/);
    assert.ok(r.ms >= 900 && r.ms < 5000, `took ${r.ms} ms`);
  });

  it('a tcp probe: 200 when the app port accepts, 503 when nothing listens', async () => {
    assert.equal((await get(sidecar.adminPort, '/app-health/db/readyz')).status, 200);
    const down = await get(sidecar.adminPort, '/app-health/down/readyz');
    assert.equal(down.status, 503);
    assert.match(down.body, /ECONNREFUSED/);
  });

  it(`a bad ${Env.appProbes} is a configuration error listing every problem`, () => {
    const bad = JSON.stringify({
      '/app-health/http/8080/x': { tcpSocket: { port: 1 }, timeoutSeconds: 1 },
      '/app-health/web/livez': {
        httpGet: { port: 70000, path: 'x', scheme: 'HTTPS', httpHeaders: [{ name: 'A\r\nB', value: 'v' }] },
        timeoutSeconds: 0,
      },
    });
    const r = spawnSync(process.execPath, [CLI, 'sidecar', '--listener', 'http:15001:8080'], {
      env: { ...process.env, [Env.appProbes]: bad },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(r.status, 2, r.stderr);
    for (const problem of [
      /"\/app-health\/http\/8080\/x": expected \/app-health\/<container>\/<livez\|readyz\|startupz>/,
      /livez"\.timeoutSeconds: expected an integer/,
      /livez"\.httpGet\.port: expected a port/,
      /livez"\.httpGet\.path: expected "\/"/,
      /livez"\.httpGet\.scheme: expected "HTTP"/,
      /livez"\.httpGet\.httpHeaders\[0\]\.name: expected an HTTP field name/,
    ]) {
      assert.match(r.stderr, problem);
    }
    assert.match(r.stderr, new RegExp(`--app-probes / ${Env.appProbes}`));
    const notJson = spawnSync(process.execPath, [CLI, 'sidecar', '--listener', 'http:15001:8080'], {
      env: { ...process.env, [Env.appProbes]: '{nope' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(notJson.status, 2);
    assert.match(notJson.stderr, /REALIP_APP_PROBES: not JSON/);
  });
});
