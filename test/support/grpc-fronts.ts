/**
 * What stands between a gRPC client and a gRPC app in the HTTP/2 tests (issue 16):
 *   client -> HAProxy edge (TCP mode, adds the PROXY header) -> front -> app
 * where the front is either the reference, nginx doing the same job (listen http2 proxy_protocol,
 * grpc_pass, forwarding fields set from $proxy_protocol_addr, the client's own replaced), or
 * realip's `http2` listener. The edge rewrites the client's address (set-src) to EDGE_CLIENT, an
 * address no socket in the test has, so a forwarding field can only show it by carrying the PROXY
 * header's client: never by accident from a peer address.
 */
import { freeEphemeralPort } from '../../devkit/ports.ts';
import { type Proc, startHaproxy, startNginx } from './procs.ts';
import { type Sidecar, startSidecar } from './sidecar.ts';

/** The client address the edge puts in every PROXY header (TEST-NET-3, RFC 5737). */
export const EDGE_CLIENT = '203.0.113.7';
/** The destination port the edge puts in every PROXY header (so X-Forwarded-Port is ours too). */
export const EDGE_DST_PORT = 50051;

export interface Front {
  readonly kind: 'nginx' | 'realip';
  /** Front port per app port it was started with. */
  readonly ports: ReadonlyMap<number, number>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * nginx as the reference for the job: one PROXY-protocol h2c server per app. grpc_set_header
 * replaces the client's field of the same name, and these five are the fields the realip hop
 * writes (sidecar/http/rewrite.ts), so the same assertions hold for both fronts.
 */
export async function startNginxGrpcFront(appPorts: readonly number[]): Promise<Front> {
  const ports = new Map<number, number>();
  for (const app of appPorts) ports.set(app, await freeEphemeralPort());
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
  return { kind: 'nginx', ports, output: () => ng.output(), stop: () => ng.stop() };
}

/** realip's sidecar with one `http2` listener per app. */
export async function startRealipGrpcFront(appPorts: readonly number[]): Promise<Front> {
  const ports = new Map<number, number>();
  for (const app of appPorts) ports.set(app, await freeEphemeralPort());
  const sidecar: Sidecar = await startSidecar({
    listeners: [...ports].map(([app, port]) => `http2:${port}:${app}`),
    args: ['--log-level', 'warn'],
    outputLimit: 200_000,
  });
  return { kind: 'realip', ports, output: () => sidecar.output(), stop: () => sidecar.stop() };
}

export interface Edge {
  /** Edge port per [front port, PROXY version]. */
  port(frontPort: number, version: 1 | 2): number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * One HAProxy in TCP mode in front of the given front ports: for each, a v2 edge (send-proxy-v2)
 * and a v1 edge (send-proxy). set-src/set-dst-port change what the PROXY header says, not where
 * HAProxy connects (each server line has its own address).
 */
export async function startProxyEdge(frontPorts: readonly number[]): Promise<Edge> {
  const map = new Map<string, number>();
  const sections: string[] = [];
  for (const front of frontPorts) {
    for (const v of [1, 2] as const) {
      const port = await freeEphemeralPort();
      map.set(`${front}/${v}`, port);
      sections.push(`listen edge_${front}_v${v}
  bind 127.0.0.1:${port}
  tcp-request connection set-src ipv4(${EDGE_CLIENT})
  tcp-request connection set-dst-port int(${EDGE_DST_PORT})
  server front 127.0.0.1:${front} ${v === 2 ? 'send-proxy-v2' : 'send-proxy'}`);
    }
  }
  const hp = startHaproxy(sections.join('\n\n'));
  await readyAll(hp, [...map.values()]);
  return {
    port: (front, v) => {
      const p = map.get(`${front}/${v}`);
      if (p === undefined) throw new Error(`no edge for front port ${front} v${v}`);
      return p;
    },
    output: () => hp.output(),
    stop: () => hp.stop(),
  };
}

async function readyAll(p: Proc, ports: readonly number[]): Promise<void> {
  try {
    for (const port of ports) await p.ready(port);
  } catch (e) {
    await p.stop();
    throw e;
  }
}
