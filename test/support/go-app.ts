/**
 * The Go net/http test peer (test/apps/go, built into .cache/testapps by
 * test/setup.d/25-go-test-apps.sh): answers every request 200 and logs what it received, one JSON
 * line per request, so a test can check what reached a real Go app.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './procs.ts';

export const GO_APP_BIN = join(REPO, '.cache/testapps/realip-testapp');

export interface GoSeen {
  readonly proto: string;
  readonly method: string;
  readonly path: string;
  readonly xff: string;
  readonly xRealIp: string;
  readonly forwarded: string;
  readonly upgrade: string;
  readonly http2Settings: string;
}

export interface GoApp {
  readonly port: number;
  readonly child: ChildProcess;
  /** Every request the app served, in order. */
  seen(): GoSeen[];
  stop(): void;
}

export async function startGoApp(mode: 'plain' | 'h2c' = 'plain'): Promise<GoApp> {
  if (!existsSync(GO_APP_BIN)) {
    throw new Error(
      `${GO_APP_BIN} is missing: run test/setup.sh (test/setup.d/25-go-test-apps.sh builds it)`,
    );
  }
  const child = spawn(GO_APP_BIN, ['-listen', '127.0.0.1:0', '-mode', mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  const ready = /listening 127\.0\.0\.1:(\d+)\n/;
  const until = Date.now() + 10_000;
  while (!ready.test(out)) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`realip-testapp did not start: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port: Number(ready.exec(out)![1]),
    child,
    seen: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as GoSeen),
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}
