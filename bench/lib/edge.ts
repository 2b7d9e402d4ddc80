/**
 * What the HTTP benches share around the proxies under test: realip started as its image runs it
 * (images.ts), and the HAProxy edge (mode tcp) that sends PROXY v2 to each proxy and plain TCP to
 * the app ("direct", the baseline for added latency).
 */
import { freeEphemeralPort } from '../../devkit/ports.ts';
import { sidecarArgv } from '../../devkit/sidecar-argv.ts';
import { sidecarImage } from './images.ts';
import { type Child, startChild } from './procs.ts';

/** A proxy the bench measures: its name in the tables, its listening port, its process. */
export interface ProxyUnderTest {
  readonly name: string;
  readonly port: number;
  readonly child: Child;
}

/**
 * realip with one `mode` listener in front of the app, pinned to `core`, in the image's layout and
 * ENV; BENCH_NODE_FLAGS adds node flags (e.g. --cpu-prof).
 */
export async function startRealip(
  mode: 'http' | 'http2',
  appPort: number,
  core: number,
): Promise<ProxyUnderTest> {
  const image = await sidecarImage();
  const port = await freeEphemeralPort();
  const admin = await freeEphemeralPort();
  const child = startChild(
    'realip',
    'taskset',
    [
      '-c',
      String(core),
      process.execPath,
      ...(process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      ...sidecarArgv(image.entry, {
        listeners: [`${mode}:${port}:${appPort}`],
        trusted: '127.0.0.0/8',
        adminPort: admin,
        adminHost: '127.0.0.1',
        args: ['--log-level', 'warn'],
      }),
    ],
    image.env,
  );
  return { name: 'realip', port, child };
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
