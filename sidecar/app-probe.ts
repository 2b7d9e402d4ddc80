/**
 * Performs one configured app probe against the app on localhost, as kubelet would have: the
 * probe's own port, path and headers, its timeout; HTTP 200-399 is success; a gRPC probe succeeds
 * when the health service answers SERVING. Nothing of the request that triggered it is used, so
 * the admin port cannot be turned into a proxy into the pod.
 */
import type http from 'node:http';
import type http2 from 'node:http2';
import { createRequire } from 'node:module';
import net from 'node:net';
import {
  type AppGrpcProbe,
  type AppHttpProbe,
  type AppProbe,
  type AppTcpProbe,
  isGrpcProbe,
  isHttpProbe,
} from '../common/app-probes.ts';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  HEALTH_CHECK_PATH,
  MAX_HEALTH_RESPONSE_BYTES,
  statusName,
} from './grpc-health.ts';

// require(), not import: see admin.ts (node:http's lazy ESM exports cost RSS in every pod).
const requireBuiltin = createRequire(import.meta.url);
const { get: httpGet } = requireBuiltin('node:http') as typeof http;

export interface ProbeResult {
  readonly ok: boolean;
  readonly detail: string;
}

export function runAppProbe(probe: AppProbe, appHost: string): Promise<ProbeResult> {
  if (isHttpProbe(probe)) return httpProbe(probe, appHost);
  if (isGrpcProbe(probe)) return grpcProbe(probe, appHost);
  return tcpProbe(probe, appHost);
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

/**
 * kubelet's gRPC probe: one Health/Check call over a fresh HTTP/2 cleartext connection, the
 * probe's timeout for all of it (connect, answer) and as the call's grpc-timeout. node:http2 is
 * loaded on the first gRPC probe only: pods without one do not pay for it.
 */
function grpcProbe(probe: AppGrpcProbe, appHost: string): Promise<ProbeResult> {
  const { port, service } = probe.grpc;
  const timeoutMs = probe.timeoutSeconds * 1000;
  const { connect } = requireBuiltin('node:http2') as typeof http2;
  const authority = `${appHost.includes(':') ? `[${appHost}]` : appHost}:${port}`;
  return new Promise((resolve) => {
    let settled = false;
    const session = connect(`http://${authority}`);
    const timer = setTimeout(() => finish(false, `no answer within ${timeoutMs} ms`), timeoutMs);
    function finish(ok: boolean, detail: string): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve({ ok, detail: `app port ${port}: ${detail}` });
    }
    session.on('error', (err) => finish(false, err.message));
    const call = session.request({
      ':method': 'POST',
      ':path': HEALTH_CHECK_PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
      'user-agent': 'kube-probe/realip',
    });
    call.on('error', (err) => finish(false, err.message));
    let httpStatus = 0;
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const chunks: Buffer[] = [];
    let bytes = 0;
    const status = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = String(h['grpc-message']);
    };
    call.on('response', (h) => {
      httpStatus = Number(h[':status']);
      status(h); // a trailers-only answer carries the status in its headers
    });
    call.on('trailers', status);
    call.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_HEALTH_RESPONSE_BYTES) {
        finish(false, `the answer is over ${MAX_HEALTH_RESPONSE_BYTES} bytes, not a health response`);
        return;
      }
      chunks.push(chunk);
    });
    call.on('end', () => {
      if (httpStatus !== 200) return finish(false, `HTTP status ${httpStatus}, not a gRPC answer`);
      if (grpcStatus === undefined) return finish(false, 'no grpc-status in the answer');
      if (grpcStatus !== '0') {
        return finish(false, `grpc-status ${grpcStatus}${grpcMessage !== '' ? ` (${grpcMessage})` : ''}`);
      }
      const answer = decodeHealthCheckResponse(Buffer.concat(chunks));
      if (!answer.ok) return finish(false, answer.problem);
      finish(
        answer.status === 1,
        `health ${service === '' ? 'of the server' : `of ${service}`} is ${statusName(answer.status)}`,
      );
    });
    // After 'end' this is a no-op; without it, a reset or a lost connection.
    call.on('close', () => finish(false, `the call closed without an answer (code ${call.rstCode ?? 0})`));
    call.end(encodeHealthCheckRequest(service));
  });
}
