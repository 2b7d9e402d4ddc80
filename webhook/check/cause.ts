/**
 * `realip check`: what went wrong, named (issue 15). fetch reports every network failure as
 * "fetch failed" with the reason in `cause` (an errno or an OpenSSL code); the API server answers
 * with a Status whose message says who may not do what. Both are unwrapped into one of a few
 * causes an operator can act on, with the detail kept.
 */
export type Cause =
  | 'connection refused'
  | 'TLS failure'
  | 'unauthorized (HTTP 401)'
  | 'forbidden (HTTP 403)'
  | 'not found (HTTP 404)'
  | 'timeout'
  | 'name not resolved'
  | 'connection reset'
  | 'HTTP error'
  | 'error';

export interface Failure {
  readonly cause: Cause;
  readonly status?: number;
  /** The cause first, then what the server or the socket said. */
  readonly text: string;
}

/**
 * Node's and OpenSSL's codes for a certificate that does not verify (OpenSSL's CERT_* ones, such as
 * an expired certificate, are matched by pattern below: they are not codes of ours).
 */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** Thrown by our own timers (withTimeout, the https posts). */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what}: no answer within ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

export async function withTimeout<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function statusMessage(body: unknown): string {
  const text = typeof body === 'string' ? body : JSON.stringify(body ?? '');
  try {
    const s = JSON.parse(text) as { message?: unknown };
    if (typeof s.message === 'string') return s.message;
  } catch {
    // not a Status
  }
  return text.slice(0, 200);
}

function chain(err: unknown): unknown[] {
  const out: unknown[] = [];
  for (let e = err, i = 0; e !== undefined && e !== null && i < 6; i++) {
    out.push(e);
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}

function byStatus(status: number): Cause {
  return status === 401
    ? 'unauthorized (HTTP 401)'
    : status === 403
      ? 'forbidden (HTTP 403)'
      : status === 404
        ? 'not found (HTTP 404)'
        : 'HTTP error';
}

/** The cause of a failed Kubernetes or HTTPS call. */
export function failureOf(err: unknown): Failure {
  const links = chain(err);
  for (const e of links) {
    const x = e as { code?: unknown; body?: unknown; message?: unknown };
    // ApiException: an HTTP answer from the API server (a 401 comes without a body).
    if (typeof x.code === 'number' && x.code >= 100 && x.code < 600 && ('body' in x || 'headers' in x)) {
      const cause = byStatus(x.code);
      const said =
        x.body !== undefined
          ? statusMessage(x.body)
          : (/Message: (.*?) Body:/.exec(String(x.message))?.[1] ?? `HTTP ${x.code}`);
      return {
        cause,
        status: x.code,
        text: `${cause}${cause === 'HTTP error' ? ` ${x.code}` : ''}: ${said}`,
      };
    }
  }
  const last = links.at(-1) as { code?: unknown; message?: unknown } | undefined;
  const message = typeof last?.message === 'string' ? last.message : String(last);
  for (const e of links) {
    if (e instanceof TimeoutError) return { cause: 'timeout', text: `timeout: ${e.message}` };
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (code === 'ECONNREFUSED')
      return { cause: 'connection refused', text: `connection refused: ${message}` };
    if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT')
      return { cause: 'timeout', text: `timeout: ${message}` };
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
      return { cause: 'name not resolved', text: `name not resolved: ${message}` };
    if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')
      return { cause: 'connection reset', text: `connection reset: ${message}` };
    if (TLS_CODES.has(code) || /^ERR_SSL_|^ERR_TLS_|CERT/.test(code))
      return { cause: 'TLS failure', text: `TLS failure: ${message} (${code})` };
  }
  return { cause: 'error', text: message };
}

/** What to do about a failure of a call made with the user's kubeconfig. */
export function kubeconfigHint(f: Failure, server: string | undefined): string {
  switch (f.cause) {
    case 'connection refused':
      return `nothing listens at ${server}: is the API server up, and is this the right kubeconfig / context?`;
    case 'TLS failure':
      return "the server's certificate does not verify against the kubeconfig's certificate-authority (wrong CA or wrong server?)";
    case 'unauthorized (HTTP 401)':
      return "the API server does not accept the kubeconfig's credentials (expired token? another cluster's?)";
    case 'forbidden (HTTP 403)':
      return "the kubeconfig's user lacks the RBAC for this (the message names the verb and resource)";
    case 'timeout':
      return `${server} accepted no request in time (firewall? overloaded API server?); --timeout-ms`;
    case 'name not resolved':
      return `the name in ${server} does not resolve`;
    default:
      return '';
  }
}
