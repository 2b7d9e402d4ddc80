/**
 * The real gRPC peers of the HTTP/2 tests (issue 16): the Go peer (google.golang.org/grpc,
 * test/apps/grpc-go, built by test/setup.d/25-go-test-apps.sh) and the Python peer (grpcio,
 * test/apps/py/grpc_peer.py in the .cache/pyenv virtualenv of test/setup.d/26-python-test-peers.sh).
 * Both serve realip.test.Peer and run the same client scenarios, printing the same JSON lines, so
 * a test can cross any client with any server. A missing peer fails naming its setup script.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './procs.ts';

export type GrpcImpl = 'go' | 'python';
export const GRPC_IMPLS: readonly GrpcImpl[] = ['go', 'python'];

const GO_BIN = join(REPO, '.cache/testapps/realip-grpc-peer');
const PY_BIN = join(REPO, '.cache/pyenv/bin/python');
const PY_PEER = join(REPO, 'test/apps/py/grpc_peer.py');

/** The command line of a peer, after checking that its setup script has run. */
function command(impl: GrpcImpl, args: readonly string[]): [string, string[]] {
  if (impl === 'go') {
    if (!existsSync(GO_BIN)) {
      throw new Error(`${GO_BIN} is missing: run test/setup.sh (test/setup.d/25-go-test-apps.sh builds it)`);
    }
    return [GO_BIN, [...args]];
  }
  if (!existsSync(PY_BIN)) {
    throw new Error(
      `${PY_BIN} is missing: run test/setup.sh (test/setup.d/26-python-test-peers.sh makes it)`,
    );
  }
  return [PY_BIN, [PY_PEER, ...args]];
}

/**
 * A peer process and what it printed so far. Its environment is PATH only: no proxy variables
 * (grpcio would honour http_proxy) and nothing else of the host's.
 */
function spawnPeer(
  cmd: string,
  args: readonly string[],
): { child: ChildProcess; out(): string; err(): string } {
  const child = spawn(cmd, [...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PYTHONUNBUFFERED: '1' },
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (b: Buffer) => {
    out += b.toString('utf8');
  });
  child.stderr?.on('data', (b: Buffer) => {
    err += b.toString('utf8');
  });
  return { child, out: () => out, err: () => err };
}

/** What the server logs when a handler's RPC ended before the handler did. */
export interface GrpcServerEvent {
  readonly event: 'cancelled';
  readonly method: string;
  readonly id: string;
  readonly err: string;
}

export interface GrpcServer {
  readonly impl: GrpcImpl;
  readonly port: number;
  readonly child: ChildProcess;
  events(): GrpcServerEvent[];
  /** Resolves with the first event matching `pred`; rejects after `timeoutMs` naming what it saw. */
  waitForEvent(pred: (e: GrpcServerEvent) => boolean, timeoutMs?: number): Promise<GrpcServerEvent>;
  stop(): Promise<void>;
}

const READY = /listening 127\.0\.0\.1:(\d+)\n/;

export async function startGrpcServer(impl: GrpcImpl): Promise<GrpcServer> {
  const [cmd, args] = command(impl, ['serve', '--listen', '127.0.0.1:0']);
  const { child, out, err } = spawnPeer(cmd, args);
  const until = Date.now() + 20_000;
  while (!READY.test(out())) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`${impl} gRPC server did not start:\n${out()}${err()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  const events = () =>
    out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as GrpcServerEvent);
  return {
    impl,
    port: Number(READY.exec(out())![1]),
    child,
    events,
    waitForEvent: async (pred, timeoutMs = 5000) => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const hit = events().find(pred);
        if (hit) return hit;
        if (Date.now() > end) {
          throw new Error(
            `${impl} server: no matching event in ${timeoutMs} ms; saw ${JSON.stringify(events())}`,
          );
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

export type GrpcScenario =
  | 'unary'
  | 'server-stream'
  | 'client-stream'
  | 'bidi'
  | 'deadline'
  | 'cancel'
  | 'concurrent';

/** The metadata echo: every value of each forwarding field the server saw, and its transport peer. */
export interface GrpcEcho {
  readonly peer: string;
  readonly id: string;
  readonly authority: readonly string[];
  readonly xff: readonly string[];
  readonly xRealIp: readonly string[];
  readonly forwarded: readonly string[];
  readonly xForwardedPort: readonly string[];
  readonly xForwardedProto: readonly string[];
}

/** The one line a client prints (see test/apps/grpc-go/client.go). */
export interface GrpcResult {
  readonly impl: GrpcImpl;
  readonly scenario: GrpcScenario;
  /** Canonical status name: OK, CANCELLED, DEADLINE_EXCEEDED, UNAVAILABLE... */
  readonly code: string;
  readonly message: string;
  readonly messages: number;
  readonly bytes: number;
  /** Messages whose size or content was not what was sent. */
  readonly mismatch: number;
  readonly echo?: GrpcEcho;
  readonly echoes?: readonly (GrpcEcho | null)[];
  readonly codes?: readonly string[];
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly trailers: Readonly<Record<string, readonly string[]>>;
  readonly ms: number;
}

export interface GrpcClientOptions {
  readonly n?: number;
  readonly size?: number;
  readonly timeoutMs?: number;
  readonly id?: string;
  /** Pause before reading each streamed message: a slow reader, so backpressure must hold the sender. */
  readonly readDelayMs?: number;
  /** server-stream: the server pauses this long before each message (a stream that takes a while). */
  readonly serverDelayMs?: number;
  /** Extra request metadata, e.g. forged forwarding fields. */
  readonly meta?: Readonly<Record<string, string>>;
}

/** Runs one client scenario against 127.0.0.1:port; resolves with its result line. */
export function runGrpcClient(
  impl: GrpcImpl,
  port: number,
  scenario: GrpcScenario,
  o: GrpcClientOptions = {},
): Promise<GrpcResult> {
  const args = ['client', '--addr', `127.0.0.1:${port}`, '--scenario', scenario];
  if (o.n !== undefined) args.push('--n', String(o.n));
  if (o.size !== undefined) args.push('--size', String(o.size));
  if (o.timeoutMs !== undefined) args.push('--timeout-ms', String(o.timeoutMs));
  if (o.id !== undefined) args.push('--id', o.id);
  if (o.readDelayMs !== undefined) args.push('--read-delay-ms', String(o.readDelayMs));
  if (o.serverDelayMs !== undefined) args.push('--server-delay-ms', String(o.serverDelayMs));
  for (const [k, v] of Object.entries(o.meta ?? {})) args.push('--meta', `${k}=${v}`);
  const [cmd, argv] = command(impl, args);
  return new Promise((resolve, reject) => {
    const { child, out, err } = spawnPeer(cmd, argv);
    // The client's own deadline (30 s by default) ends every scenario; this only catches a hang.
    const timer = setTimeout(() => child.kill('SIGKILL'), (o.timeoutMs ?? 30_000) + 15_000);
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      const line = out()
        .split('\n')
        .find((l) => l.startsWith('{'));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${impl} client ${scenario} exited ${code ?? sig}:\n${out()}${err()}`));
        return;
      }
      resolve(JSON.parse(line) as GrpcResult);
    });
  });
}
