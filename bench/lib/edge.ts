/**
 * What the HTTP benches share around the proxies under test: the compiled JavaScript realip runs
 * as (the image's form), and the HAProxy edge (mode tcp) that sends PROXY v2 to each proxy and
 * plain TCP to the app ("direct", the baseline for added latency).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freeEphemeralPort } from '../../devkit/ports.ts';
import type { Child } from './procs.ts';

const run = promisify(execFile);
const REPO = new URL('../..', import.meta.url).pathname;

/**
 * Compiles the sources to .cache/bench-dist and returns the CLI entry: the compiled JavaScript, as
 * the image and an installed package run it (Node's type stripping of the sources costs ~30 MB RSS
 * and some start-up; not what production pays).
 */
export async function compiledCli(): Promise<string> {
  process.stdout.write('compiling to .cache/bench-dist ...\n');
  await run(process.execPath, [
    `${REPO}node_modules/typescript/bin/tsc`,
    '-p',
    `${REPO}tsconfig.build.json`,
    '--outDir',
    `${REPO}.cache/bench-dist`,
  ]);
  return `${REPO}.cache/bench-dist/cli/main.js`;
}

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
