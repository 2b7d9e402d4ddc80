/**
 * What stands between a gRPC client and a gRPC app in the HTTP/2 tests (issue 16):
 *   client -> HAProxy edge (TCP mode, adds the PROXY header) -> front -> app
 * where the front is either the reference, nginx doing the same job (listen http2 proxy_protocol,
 * grpc_pass, forwarding fields set from $proxy_protocol_addr, the client's own replaced), or
 * realip's `http2` listener. The edge rewrites the client's address (set-src) to EDGE_CLIENT, an
 * address no socket in the test has, so a forwarding field can only show it by carrying the PROXY
 * header's client: never by accident from a peer address.
 */
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { type Proc, startHaproxy, startNginx } from './procs.ts';
import { type Sidecar, startSidecar } from './sidecar.ts';

/** The client address the edge puts in the PROXY header (TEST-NET-3, RFC 5737). */
export const EDGE_CLIENT = '203.0.113.7';
/** The destination port the edge puts in every PROXY header (so X-Forwarded-Port is ours too). */
export const EDGE_DST_PORT = 50051;

export interface Front {
  /** realip-http: realip's plain `http` listener, which hands a prior-knowledge client to HTTP/2. */
  readonly kind: 'nginx' | 'realip' | 'realip-http';
  /** Front port per app port it was started with. */
  readonly ports: ReadonlyMap<number, number>;
  output(): string;
  /**
   * The graceful shutdown (realip: SIGTERM; nginx: SIGQUIT, as its SIGTERM is a fast shutdown):
   * resolves with the exit code (or signal name) once the process is gone.
   */
  drain(): Promise<number | string>;
  stop(): Promise<void>;
}

/**
 * nginx as the reference for the job: one PROXY-protocol h2c server per app. grpc_set_header
 * replaces the client's field of the same name, and these five are the fields the realip hop
 * writes (sidecar/http/rewrite.ts), so the same assertions hold for both fronts.
 */
export async function startNginxGrpcFront(appPorts: readonly number[]): Promise<Front> {
  const ports = await portPerApp(appPorts);
  const servers = [...ports]
    .map(
      ([app, port]) => `  server {
    listen 127.0.0.1:${port} http2 proxy_protocol;
    location / {
      grpc_pass grpc://127.0.0.1:${app};
      grpc_set_header X-Forwarded-For $proxy_protocol_addr;
      grpc_set_header X-Real-IP $proxy_protocol_addr;
      grpc_set_header Forwarded "for=$proxy_protocol_addr";
      grpc_set_header X-Forwarded-Port $proxy_protocol_server_port;
      grpc_set_header X-Forwarded-Proto http;
      grpc_read_timeout 60s;
      grpc_send_timeout 60s;
    }
  }`,
    )
    .join('\n');
  const ng = startNginx(`http {
  access_log off;
  client_max_body_size 0;
${servers}
}`);
  await readyAll(ng, [...ports.values()]);
  const exited = new Promise<number | string>((r) =>
    ng.child.once('exit', (code, sig) => r(code ?? sig ?? -1)),
  );
  const drain = async () => {
    ng.child.kill('SIGQUIT');
    return exited;
  };
  return { kind: 'nginx', ports, output: () => ng.output(), drain, stop: () => ng.stop() };
}

/** realip's sidecar with one `http2` listener per app. */
export async function startRealipGrpcFront(
  appPorts: readonly number[],
  mode: 'http2' | 'http' = 'http2',
): Promise<Front> {
  const ports = await portPerApp(appPorts);
  const sidecar: Sidecar = await startSidecar({
    listeners: [...ports].map(([app, port]) => `${mode}:${port}:${app}`),
    args: ['--log-level', 'warn'],
    outputLimit: 200_000,
  });
  const drain = async () => {
    sidecar.child.kill('SIGTERM');
    return sidecar.exited;
  };
  const kind = mode === 'http2' ? 'realip' : 'realip-http';
  return { kind, ports, output: () => sidecar.output(), drain, stop: () => sidecar.stop() };
}

/**
 * The edges in front of each front port: PROXY v2 and v1 from EDGE_CLIENT, and a second client
 * (v2 from EDGE_CLIENT_B) to show that concurrent connections are each attributed to their own.
 */
const EDGE_VARIANTS = {
  v2: { send: 'send-proxy-v2', client: '203.0.113.7' },
  v1: { send: 'send-proxy', client: '203.0.113.7' },
  b: { send: 'send-proxy-v2', client: '203.0.113.8' },
} as const;
export type EdgeVariant = keyof typeof EDGE_VARIANTS;
export const EDGE_CLIENT_B = EDGE_VARIANTS.b.client;

export interface Edge {
  /** The edge port for a front port and variant. */
  port(frontPort: number, variant: EdgeVariant): number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * One HAProxy in TCP mode with every variant of edge in front of each front port. set-src and
 * set-dst-port change what the PROXY header says, not where HAProxy connects (each server line has
 * its own address).
 */
export async function startProxyEdge(frontPorts: readonly number[]): Promise<Edge> {
  const map = new Map<string, number>();
  const sections: string[] = [];
  const free = await distinctFreePorts(frontPorts.length * Object.keys(EDGE_VARIANTS).length);
  for (const front of frontPorts) {
    for (const [variant, e] of Object.entries(EDGE_VARIANTS)) {
      const port = free.pop()!;
      map.set(`${front}/${variant}`, port);
      sections.push(`listen edge_${front}_${variant}
  bind 127.0.0.1:${port}
  tcp-request connection set-src ipv4(${e.client})
  tcp-request connection set-dst-port int(${EDGE_DST_PORT})
  server front 127.0.0.1:${front} ${e.send}`);
    }
  }
  const hp = startHaproxy(sections.join('\n\n'));
  await readyAll(hp, [...map.values()]);
  return {
    port: (front, variant) => {
      const p = map.get(`${front}/${variant}`);
      if (p === undefined) throw new Error(`no edge for front port ${front} (${variant})`);
      return p;
    },
    output: () => hp.output(),
    stop: () => hp.stop(),
  };
}

async function portPerApp(appPorts: readonly number[]): Promise<Map<number, number>> {
  const free = await distinctFreePorts(appPorts.length);
  return new Map(appPorts.map((app, i) => [app, free[i]!]));
}

/**
 * n ports that were free a moment ago, all different. (Picking the same port twice would make
 * HAProxy (SO_REUSEPORT) or nginx (one socket, several servers) bind both sections to it and split
 * connections between them silently: a request reached the wrong app that way.) Below the ephemeral
 * range and checked on 127.0.0.1 and ::, since the sidecar listens on every address: an ephemeral
 * port free on 127.0.0.1 was once taken on :: by a concurrent test's outgoing connection
 * (EADDRINUSE at the sidecar's start).
 */
async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePortBelowEphemeral());
  return [...ports];
}

async function readyAll(p: Proc, ports: readonly number[]): Promise<void> {
  try {
    for (const port of ports) await p.ready(port);
  } catch (e) {
    await p.stop();
    throw e;
  }
}
