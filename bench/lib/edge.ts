/**
 * What the HTTP benches share around the proxies under test (realip runs as its image runs it:
 * images.ts): the HAProxy edge (mode tcp) that sends PROXY v2 to each proxy and
 * plain TCP to the app ("direct", the baseline for added latency).
 */
import { freeEphemeralPort } from '../../devkit/ports.ts';
import type { Child } from './procs.ts';

/** A proxy the bench measures: its name in the tables, its listening port, its process. */
export interface ProxyUnderTest {
  readonly name: string;
  readonly port: number;
  readonly child: Child;
}

export interface Edge {
  /** "direct" or the proxy's name. */
  readonly name: string;
  readonly port: number;
}

/** The edge's HAProxy config: one listener per target, PROXY v2 to the proxies, plain to the app. */
export async function edgeConfig(
  appPort: number,
  proxies: readonly { name: string; port: number }[],
): Promise<{ conf: string; edges: Edge[] }> {
  const edges: Edge[] = [];
  let conf = `global
  maxconn 8000
  nbthread 1
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
`;
  const direct = await freeEphemeralPort();
  conf += `listen direct\n  bind 127.0.0.1:${direct}\n  server app 127.0.0.1:${appPort}\n`;
  edges.push({ name: 'direct', port: direct });
  for (const p of proxies) {
    const port = await freeEphemeralPort();
    conf += `listen to-${p.name}\n  bind 127.0.0.1:${port}\n  server s 127.0.0.1:${p.port} send-proxy-v2\n`;
    edges.push({ name: p.name, port });
  }
  return { conf, edges };
}
