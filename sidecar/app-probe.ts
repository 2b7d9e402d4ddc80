/**
 * Performs one configured app probe against the app on localhost, as kubelet would have: the
 * probe's own port, path and headers, its timeout; HTTP 200-399 is success. Nothing of the request
 * that triggered it is used, so the admin port cannot be turned into a proxy into the pod.
 */
import type http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import { type AppHttpProbe, type AppProbe, type AppTcpProbe, isHttpProbe } from '../common/app-probes.ts';

// require(), not import: see admin.ts (node:http's lazy ESM exports cost RSS in every pod).
const { get: httpGet } = createRequire(import.meta.url)('node:http') as typeof http;

export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

export function runAppProbe(probe: AppProbe, appHost: string): Promise<ProbeResult> {
  return isHttpProbe(probe) ? httpProbe(probe, appHost) : tcpProbe(probe, appHost);
}

function tcpProbe(probe: AppTcpProbe, appHost: string): Promise<ProbeResult> {
  const { port } = probe.tcpSocket;
  const timeoutMs = probe.timeoutSeconds * 1000;
  return new Promise((resolve) => {
    const s = net.connect({ host: appHost, port });
    const timer = setTimeout(() => s.destroy(new Error(`no connection within ${timeoutMs} ms`)), timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ ok: true, detail: `app port ${port} accepted` });
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: `app port ${port}: ${err.message}` });
    });
  });
}

/** kubelet's request: its User-Agent and Accept unless the probe sets them, Host from the probe if given. */
export function probeHeaders(probe: AppHttpProbe, appHost: string): http.OutgoingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (const { name, value } of probe.httpGet.httpHeaders ?? []) {
    const key = name.toLowerCase();
    const prev = headers[key];
    headers[key] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
  }
  const host = headers.host;
  headers.host = Array.isArray(host)
    ? (host[0] ?? '')
    : (host ?? `${appHost.includes(':') ? `[${appHost}]` : appHost}:${probe.httpGet.port}`);
  headers['user-agent'] ??= 'kube-probe/realip';
  headers.accept ??= '*/*';
  return headers;
}

function httpProbe(probe: AppHttpProbe, appHost: string): Promise<ProbeResult> {
  const { port, path } = probe.httpGet;
  const timeoutMs = probe.timeoutSeconds * 1000;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let req: http.ClientRequest;
    try {
      req = httpGet(
        { host: appHost, port, path, headers: probeHeaders(probe, appHost), agent: false },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          done({ ok: status >= 200 && status < 400, detail: `app answered ${status}` });
          req.destroy();
        },
      );
    } catch (err: unknown) {
      // Validated at start-up, so not expected; a probe failure is still better than a crash.
      done({ ok: false, detail: `app port ${port}: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    // One deadline for connect and answer, as kubelet's client timeout.
    timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => done({ ok: false, detail: `app port ${port}: ${err.message}` }));
  });
}
