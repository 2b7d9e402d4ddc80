/**
 * The API server's side of an admission call, as the tests and the webhook bench make it: HTTPS
 * `POST /mutate` with the CA pinned and a JSON AdmissionReview body; and the argv of
 * `realip webhook` on loopback. One client, so a test and the bench measure the same request.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';

export interface MutateAnswer {
  readonly status: number;
  readonly body: string;
  /** sha256 fingerprint of the certificate the webhook served (with `tlsDetails`). */
  readonly fingerprint?: string;
  /** performance.now() when the TLS handshake completed on our side (with `tlsDetails`). */
  readonly secureAt?: number;
}

export interface MutateOptions {
  /** Default false: a new connection per request. */
  readonly agent?: https.Agent | false;
  /** Default 'application/json'; null sends no content-type. */
  readonly contentType?: string | null;
  readonly method?: string;
  readonly path?: string;
  /** A request with no answer by then fails with "timeout (hang)". Default: none. */
  readonly timeoutMs?: number;
  /** Read the served certificate and the handshake time (costs a little per request; a bench leaves it off). */
  readonly tlsDetails?: boolean;
}

/** Resolves with the answer; rejects on a connection or TLS error (e.g. a certificate the pin refuses). */
export function postMutate(
  port: number,
  ca: string | string[],
  body: Buffer | string,
  o: MutateOptions = {},
): Promise<MutateAnswer> {
  return new Promise((resolve, reject) => {
    let secureAt: number | undefined;
    const headers: Record<string, string | number> = { 'content-length': Buffer.byteLength(body) };
    if (o.contentType !== null) headers['content-type'] = o.contentType ?? 'application/json';
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        path: o.path ?? '/mutate',
        method: o.method ?? 'POST',
        ca,
        agent: o.agent ?? false,
        headers,
        ...(o.timeoutMs === undefined ? {} : { timeout: o.timeoutMs }),
      },
      (res) => {
        // Read now: a keep-alive agent takes the socket back once the response has ended.
        const fingerprint = o.tlsDetails
          ? (res.socket as TLSSocket | null)?.getPeerCertificate?.()?.fingerprint256
          : undefined;
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString(),
            ...(fingerprint ? { fingerprint } : {}),
            ...(secureAt !== undefined ? { secureAt } : {}),
          }),
        );
        res.on('error', reject);
      },
    );
    if (o.tlsDetails) {
      req.on('socket', (sock) => {
        sock.once('secureConnect', () => {
          secureAt = performance.now();
        });
      });
    }
    req.on('timeout', () => req.destroy(new Error('timeout (hang)')));
    req.on('error', reject);
    req.end(body);
  });
}

/** `[entry, 'webhook', '--host', '127.0.0.1', '--port', …, '--metrics-port', …, ...args]`. */
export function webhookArgv(
  entry: string,
  o: { readonly port: number; readonly metricsPort: number; readonly args?: readonly string[] },
): string[] {
  return [
    entry,
    'webhook',
    '--host',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--metrics-port',
    String(o.metricsPort),
    ...(o.args ?? []),
  ];
}
