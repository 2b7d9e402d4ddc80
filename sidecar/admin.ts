/**
 * The admin server: /healthz (the process is alive), /readyz (listening and not draining),
 * /metrics (Prometheus), and /app-health/... which performs the app's own probes against the app
 * on localhost for kubelet (see appHealthPath in common/contract.ts).
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { APP_HEALTH_PREFIX } from '../common/contract.ts';
import type { Logger } from '../common/logger.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../common/metrics.ts';
import type { SidecarMetrics } from './metrics.ts';

// require(), not import: an ESM import of a builtin reads every export, and node:http's lazy ones
// (undici's fetch, WebSocket, ...) cost ~13 MB of RSS in every pod. The CommonJS path does not.
const { createServer, get: httpGet } = createRequire(import.meta.url)('node:http') as typeof http;

export interface AdminState {
  ready: boolean;
}

export interface AdminOptions {
  readonly port: number;
  readonly host: string;
  readonly appHost: string;
  readonly probeTimeoutMs: number;
  readonly metrics: SidecarMetrics;
  readonly log: Logger;
  readonly state: AdminState;
}

export async function startAdmin(o: AdminOptions): Promise<http.Server> {
  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, 'method not allowed\n');
      return;
    }
    if (url === '/healthz') {
      send(res, 200, 'ok\n');
      return;
    }
    if (url === '/readyz') return o.state.ready ? send(res, 200, 'ready\n') : send(res, 503, 'not ready\n');
    if (url === '/metrics') {
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
      res.end(o.metrics.registry.render());
      return;
    }
    if (url.startsWith(`${APP_HEALTH_PREFIX}/`))
      return appHealth(url.slice(APP_HEALTH_PREFIX.length), req, res, o);
    send(res, 404, 'not found\n');
  });
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10000;
  server.requestTimeout = 30000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (o.host === '::' && err.code === 'EAFNOSUPPORT') {
        server.listen({ port: o.port, host: '0.0.0.0' }, resolve);
        return;
      }
      reject(err);
    });
    server.listen({ port: o.port, host: o.host, ipv6Only: false }, () => resolve());
  });
  return server;
}

function send(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

function appHealth(rest: string, req: http.IncomingMessage, res: http.ServerResponse, o: AdminOptions): void {
  const m = /^\/(http|tcp)\/([1-9][0-9]{0,4})(\/.*)?$/.exec(rest);
  const port = m ? Number(m[2]) : 0;
  if (!m || port > 65535) {
    send(res, 400, 'expected /app-health/http/PORT/PATH or /app-health/tcp/PORT\n');
    return;
  }
  if (m[1] === 'tcp') {
    const s = net.connect({ host: o.appHost, port });
    const timer = setTimeout(() => s.destroy(new Error('timeout')), o.probeTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      send(res, 200, 'ok\n');
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      send(res, 503, `app port ${port}: ${err.message}\n`);
    });
    return;
  }
  const path = m[3] ?? '/';
  const headers: http.OutgoingHttpHeaders = {};
  // kubelet sends the probe's httpHeaders to us; pass them on, but not hop-by-hop ones.
  for (const [k, v] of Object.entries(req.headers)) {
    if (k !== 'connection' && k !== 'host' && k !== 'keep-alive' && v !== undefined) headers[k] = v;
  }
  headers.host = `${o.appHost.includes(':') ? `[${o.appHost}]` : o.appHost}:${port}`;
  const probe = httpGet(
    { host: o.appHost, port, path, headers, timeout: o.probeTimeoutMs, agent: false },
    (r) => {
      r.resume();
      const status = r.statusCode ?? 0;
      // kubelet's rule: 200 <= status < 400 is success.
      send(res, status >= 200 && status < 400 ? 200 : 503, `app answered ${status}\n`);
    },
  );
  probe.on('timeout', () => probe.destroy(new Error(`no answer within ${o.probeTimeoutMs} ms`)));
  probe.on('error', (err) => {
    if (!res.headersSent) send(res, 503, `app port ${port}: ${err.message}\n`);
  });
}
