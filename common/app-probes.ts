/**
 * App probes served by the sidecar's admin port (Istio's ISTIO_KUBE_APP_PROBERS design). In redirect
 * mode the webhook points an app container's httpGet/tcpSocket probe on an intercepted port at
 * `/app-health/<container>/<livez|readyz|startupz>` on the admin port, and hands the sidecar the
 * original probe in REALIP_APP_PROBES. The sidecar serves exactly those paths and performs exactly
 * the original probe; nothing the caller sends chooses a port, a path or a header. (An earlier
 * design took the port and path from the URL and passed the caller's headers on: any pod could
 * then reach any loopback port with a forged X-Forwarded-For.)
 *
 * Pure: the path builder, the JSON shape and its validation, shared by webhook and sidecar.
 */

export const APP_HEALTH_PREFIX = '/app-health';

/** Probe field of a container -> last segment of its path. */
export const APP_PROBE_SUFFIXES = Object.freeze({
  livenessProbe: 'livez',
  readinessProbe: 'readyz',
  startupProbe: 'startupz',
});
export type AppProbeKind = keyof typeof APP_PROBE_SUFFIXES;

/** The path kubelet calls on the admin port for one container's probe. */
export function appHealthPath(container: string, kind: AppProbeKind): string {
  return `${APP_HEALTH_PREFIX}/${container}/${APP_PROBE_SUFFIXES[kind]}`;
}

export interface AppProbeHeader {
  readonly name: string;
  readonly value: string;
}

export interface AppHttpProbe {
  readonly httpGet: {
    readonly port: number;
    readonly path: string;
    /** HTTPS probes are never rewritten (the sidecar would have to skip verification as kubelet does). */
    readonly scheme: 'HTTP';
    readonly httpHeaders?: readonly AppProbeHeader[];
  };
  readonly timeoutSeconds: number;
}

export interface AppTcpProbe {
  readonly tcpSocket: { readonly port: number };
  readonly timeoutSeconds: number;
}

/**
 * kubelet's `grpc` probe: the standard health service (grpc.health.v1.Health/Check) over HTTP/2
 * cleartext; success when the app answers SERVING. `service` is the name asked about ("" = the
 * server as a whole, kubelet's default).
 */
export interface AppGrpcProbe {
  readonly grpc: { readonly port: number; readonly service: string };
  readonly timeoutSeconds: number;
}

export type AppProbe = AppHttpProbe | AppTcpProbe | AppGrpcProbe;

/** The value of REALIP_APP_PROBES: path -> original probe (named ports already resolved). */
export type AppProbesJson = Readonly<Record<string, AppProbe>>;
export type AppProbeMap = ReadonlyMap<string, AppProbe>;

export function isHttpProbe(p: AppProbe): p is AppHttpProbe {
  return 'httpGet' in p;
}

export function isGrpcProbe(p: AppProbe): p is AppGrpcProbe {
  return 'grpc' in p;
}

/** Kubernetes container names are DNS-1123 labels, so they need no escaping in a path. */
const PATH_RE = /^\/app-health\/[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\/(?:livez|readyz|startupz)$/;
/** RFC 9110 token. */
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What node:http accepts in a field value: no CR, LF or other controls but HTAB. */
const HEADER_VALUE_RE = /^[\t\x20-\x7e\x80-\xff]*$/;
/** A request target node:http sends as is: origin-form, visible ASCII only. */
const REQUEST_PATH_RE = /^\/[\x21-\x7e]*$/;
const MAX_TIMEOUT_SECONDS = 86_400;
/** A gRPC service name as kubelet sends it: visible ASCII, bounded (the sidecar encodes it itself). */
const GRPC_SERVICE_RE = /^[\x21-\x7e]{0,256}$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function unknownKeys(
  o: Record<string, unknown>,
  allowed: readonly string[],
  at: string,
  out: string[],
): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) out.push(`${at}: unknown field "${k}"`);
}

/** Problems with one probe (empty when valid). The webhook checks what it writes with this too. */
export function checkAppProbe(path: string, probe: unknown): string[] {
  const at = `"${path}"`;
  const problems: string[] = [];
  if (!PATH_RE.test(path)) {
    problems.push(`${at}: expected ${APP_HEALTH_PREFIX}/<container>/<livez|readyz|startupz>`);
  }
  if (!isObject(probe)) return [...problems, `${at}: expected an object`];
  const t = probe.timeoutSeconds;
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_TIMEOUT_SECONDS) {
    problems.push(`${at}.timeoutSeconds: expected an integer 1-${MAX_TIMEOUT_SECONDS}`);
  }
  const { httpGet, tcpSocket, grpc } = probe;
  const kinds = [httpGet, tcpSocket, grpc].filter((k) => k !== undefined).length;
  if (kinds !== 1) return [...problems, `${at}: expected exactly one of httpGet, tcpSocket, grpc`];
  const kind = httpGet !== undefined ? 'httpGet' : tcpSocket !== undefined ? 'tcpSocket' : 'grpc';
  unknownKeys(probe, ['timeoutSeconds', kind], at, problems);
  if (grpc !== undefined) {
    if (!isObject(grpc)) return [...problems, `${at}.grpc: expected an object`];
    if (!isPort(grpc.port)) problems.push(`${at}.grpc.port: expected a port 1-65535`);
    if (typeof grpc.service !== 'string' || !GRPC_SERVICE_RE.test(grpc.service)) {
      problems.push(`${at}.grpc.service: expected up to 256 visible ASCII characters`);
    }
    unknownKeys(grpc, ['port', 'service'], `${at}.grpc`, problems);
    return problems;
  }
  if (tcpSocket !== undefined) {
    if (!isObject(tcpSocket)) return [...problems, `${at}.tcpSocket: expected an object`];
    if (!isPort(tcpSocket.port)) problems.push(`${at}.tcpSocket.port: expected a port 1-65535`);
    unknownKeys(tcpSocket, ['port'], `${at}.tcpSocket`, problems);
    return problems;
  }
  if (!isObject(httpGet)) return [...problems, `${at}.httpGet: expected an object`];
  unknownKeys(httpGet, ['port', 'path', 'scheme', 'httpHeaders'], `${at}.httpGet`, problems);
  if (!isPort(httpGet.port)) problems.push(`${at}.httpGet.port: expected a port 1-65535`);
  if (typeof httpGet.path !== 'string' || !REQUEST_PATH_RE.test(httpGet.path)) {
    problems.push(`${at}.httpGet.path: expected "/" followed by visible ASCII`);
  }
  if (httpGet.scheme !== 'HTTP') problems.push(`${at}.httpGet.scheme: expected "HTTP"`);
  const headers = httpGet.httpHeaders;
  if (headers !== undefined) {
    if (!Array.isArray(headers)) problems.push(`${at}.httpGet.httpHeaders: expected a list`);
    else {
      headers.forEach((h: unknown, i) => {
        const hat = `${at}.httpGet.httpHeaders[${i}]`;
        if (!isObject(h)) {
          problems.push(`${hat}: expected {name, value}`);
          return;
        }
        unknownKeys(h, ['name', 'value'], hat, problems);
        if (typeof h.name !== 'string' || !HEADER_NAME_RE.test(h.name)) {
          problems.push(`${hat}.name: expected an HTTP field name`);
        }
        if (typeof h.value !== 'string' || !HEADER_VALUE_RE.test(h.value)) {
          problems.push(`${hat}.value: expected a string without control characters`);
        }
      });
    }
  }
  return problems;
}

/** Parses REALIP_APP_PROBES (empty = no probes). Returns every problem instead of throwing. */
export function parseAppProbes(text: string): { probes: AppProbeMap; problems: string[] } {
  const probes = new Map<string, AppProbe>();
  if (text.trim() === '') return { probes, problems: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err: unknown) {
    return { probes, problems: [`not JSON: ${err instanceof Error ? err.message : String(err)}`] };
  }
  if (!isObject(value)) return { probes, problems: ['expected a JSON object of path -> probe'] };
  const problems: string[] = [];
  for (const [path, probe] of Object.entries(value)) {
    const found = checkAppProbe(path, probe);
    if (found.length > 0) problems.push(...found);
    else probes.set(path, probe as AppProbe);
  }
  return { probes: problems.length > 0 ? new Map() : probes, problems };
}
