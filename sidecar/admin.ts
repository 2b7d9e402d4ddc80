/**
 * The admin server: /healthz (the process is alive), /readyz (listening and not draining),
 * /metrics (Prometheus), and the app probes the webhook rewrote (REALIP_APP_PROBES): each
 * /app-health/<container>/<kind> performs exactly its original probe against the app on localhost
 * (common/app-probes.ts). The port binds :: for kubelet, so every other pod can reach it too:
 * no other path does anything, and nothing from the caller's request reaches the app.
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import { APP_HEALTH_PREFIX, type AppProbeMap } from '../common/app-probes.ts';
import { codeMessage, httpStatus } from '../common/error-codes/registry.ts';
import { codeText } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../common/metrics.ts';
import { runAppProbe } from './app-probe.ts';
import type { SidecarMetrics } from './metrics.ts';

// require(), not import: an ESM import of a builtin reads every export, and node:http's lazy ones
// (undici's fetch, WebSocket, ...) cost ~13 MB of RSS in every pod. The CommonJS path does not.
const { createServer } = createRequire(import.meta.url)('node:http') as typeof http;

export interface AdminState {
  ready: boolean;
}

export interface AdminOptions {
  readonly port: number;
  readonly host: string;
  readonly appHost: string;
  /** Path -> original probe; the only /app-health paths served. */
  readonly probes: AppProbeMap;
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
    const probe = o.probes.get(url);
    if (probe !== undefined) {
      void runAppProbe(probe, o.appHost).then((r) => {
        if (!r.ok) o.log.debug({ path: url, detail: r.detail }, 'app probe failed');
        if (!res.destroyed) send(res, r.ok ? 200 : 503, `${r.detail}\n`);
      });
      return;
    }
    // Stable codes, and the caller's path is not echoed back.
    if (url === APP_HEALTH_PREFIX || url.startsWith(`${APP_HEALTH_PREFIX}/`)) {
      const code = 'ADMIN_UNKNOWN_PROBE';
      send(res, httpStatus(code), `${codeText(code, codeMessage(code))}\n`);
      return;
    }
    const code = 'ADMIN_NOT_FOUND';
    send(res, httpStatus(code), `${codeText(code, codeMessage(code))}\n`);
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
