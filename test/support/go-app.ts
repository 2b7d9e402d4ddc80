/**
 * The Go net/http test peer (test/apps/go, built into .cache/testapps by
 * test/setup.d/25-go-test-apps.sh): answers every request 200 and logs what it received, one JSON
 * line per request, so a test can check what reached a real Go app. Mode `h2raw` is an h2c
 * recorder on x/net's bare Framer: every header block as it arrived (wire order, repeated fields,
 * any case, undeclared trailers), one line per stream (`seenRaw()`).
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
  /** Every value of every field, names lowercased. */
  readonly fields: Readonly<Record<string, readonly string[]>>;
  /** The request trailers net/http kept (only those a Trailer field declared). */
  readonly trailers: Readonly<Record<string, readonly string[]>>;
}

/** One stream as `-mode h2raw` recorded it. */
export interface GoRawSeen {
  readonly proto: 'h2raw';
  readonly stream: number;
  readonly method: string;
  readonly path: string;
  /** The head's fields in wire order, pseudo-fields included, names as sent. */
  readonly fields: readonly (readonly [string, string])[];
  /** Every trailer field in wire order. */
  readonly trailers: readonly (readonly [string, string])[];
  readonly bodyBytes: number;
  /** The RST_STREAM code (or "GOAWAY") when the stream was reset before its end, else "". */
  readonly reset: string;
}

export interface GoApp {
  readonly port: number;
  readonly child: ChildProcess;
  /** Every request the app served, in order (modes plain and h2c). */
  seen(): GoSeen[];
  /** Every stream the app recorded, in order (mode h2raw). */
  seenRaw(): GoRawSeen[];
  stop(): void;
}

export async function startGoApp(mode: 'plain' | 'h2c' | 'h2raw' = 'plain'): Promise<GoApp> {
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
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as GoSeen | GoRawSeen);
  return {
    port: Number(ready.exec(out)![1]),
    child,
    seen: () => lines().filter((l): l is GoSeen => l.proto !== 'h2raw'),
    seenRaw: () => lines().filter((l): l is GoRawSeen => l.proto === 'h2raw'),
    stop: () => {
      child.kill('SIGKILL');
    },
  };
}
