/**
 * Helpers for the HTTP hop tests: the hop in-process on port 0 behind a real listener, raw app
 * servers that record exactly what they receive, an echo app, and raw clients speaking PROXY.
 */
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { silentLogger } from '../../common/logger.ts';
import { parseSidecarConfig, type SidecarConfig } from '../../sidecar/config.ts';
import { createHttpHop } from '../../sidecar/http/hop.ts';
import { type Listener, startListener } from '../../sidecar/listener.ts';
import { createSidecarMetrics, type SidecarMetrics } from '../../sidecar/metrics.ts';
import { encodeV1, encodeV2 } from '../../sidecar/proxy-protocol/encode.ts';
import type { Hop } from '../../sidecar/hop-contract.ts';

export const REPO = new URL('../..', import.meta.url).pathname;

export interface HopUnderTest {
  readonly port: number;
  readonly config: SidecarConfig;
  readonly metrics: SidecarMetrics;
  readonly hop: Hop;
  readonly listener: Listener;
  close(): Promise<void>;
}

export async function startHop(
  appPort: number,
  overrides: Partial<SidecarConfig> = {},
): Promise<HopUnderTest> {
  const { config: base } = parseSidecarConfig(
    [
      '--listener',
      `http:18080:${appPort}`,
      '--trusted-cidrs',
      '127.0.0.0/8,::1/128',
      '--log-level',
      'silent',
    ],
    {},
  );
  const config: SidecarConfig = Object.freeze({ ...base, ...overrides });
  const spec = { mode: 'http' as const, listenPort: 0, appPort };
  const metrics = createSidecarMetrics();
  const log = silentLogger();
  const hop = await createHttpHop({ listener: spec, config, log, metrics });
  const listener = await startListener(spec, config, hop, log, metrics, '127.0.0.1');
  return {
    port: listener.port(),
    config,
    metrics,
    hop,
    listener,
    async close() {
      const stopped = listener.stopAccepting().catch(() => {});
      listener.destroyAll();
      await hop.drain(Date.now());
      await stopped;
    },
  };
}

export function v1(source: string, sport = 40000, dest = '10.0.0.1', dport = 80): Buffer {
  const family = source.includes(':') ? 'TCP6' : 'TCP4';
  return encodeV1({
    family,
    source: { address: source, port: sport },
    destination: { address: family === 'TCP6' ? '2001:db8::1' : dest, port: dport },
  });
}

export function v2(
  source: string,
  sport = 40000,
  dport = 80,
  tlvs: { type: number; value: Buffer }[] = [],
): Buffer {
  const family = source.includes(':') ? 'TCP6' : 'TCP4';
  return encodeV2({
    family,
    source: { address: source, port: sport },
    destination: { address: family === 'TCP6' ? '2001:db8::1' : '10.0.0.1', port: dport },
    tlvs,
  });
}

/** A raw app: records every byte per connection, answers with the given function. */
export interface RawApp {
  readonly port: number;
  readonly received: Buffer[];
  readonly sockets: net.Socket[];
  /** Resolves when total received bytes on all connections match `pred`. */
  waitFor(pred: (all: string) => boolean, timeoutMs?: number): Promise<string>;
  all(): string;
  close(): Promise<void>;
}

export async function startRawApp(
  onData?: (socket: net.Socket, all: string, chunk: Buffer) => void,
): Promise<RawApp> {
  const received: Buffer[] = [];
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    let mine = '';
    s.on('data', (c: Buffer) => {
      received.push(c);
      mine += c.toString('latin1');
      onData?.(s, mine, c);
    });
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const all = () => Buffer.concat(received).toString('latin1');
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    sockets,
    all,
    async waitFor(pred, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (!pred(all())) {
        if (Date.now() > until) throw new Error(`app did not receive the expected bytes; got:\n${all()}`);
        await sleep(5);
      }
      return all();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** The hop in front of a raw app, both closed (hop first) when the test ends. */
export async function rawHop(
  t: TestContext,
  app?: RawApp | ((socket: net.Socket, all: string, chunk: Buffer) => void),
  overrides: Partial<SidecarConfig> = {},
): Promise<{ app: RawApp; hop: HopUnderTest }> {
  const raw = typeof app === 'object' ? app : await startRawApp(app);
  const hop = await startHop(raw.port, overrides);
  t.after(async () => {
    await hop.close();
    await raw.close();
  });
  return { app: raw, hop };
}

/**
 * Connects a RawClient to `port` and writes the PROXY header (v1 from 198.51.100.7 unless given)
 * followed by `request` in one write. String requests are encoded byte per char (latin1).
 */
export function send(port: number, request: string | Buffer, header: Buffer = v1('198.51.100.7')): RawClient {
  const c = new RawClient(port);
  c.write(Buffer.concat([header, typeof request === 'string' ? Buffer.from(request, 'latin1') : request]));
  return c;
}

/** An echo app (node:http): answers every request with JSON of what it saw. */
export async function startEchoApp(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({
        method: req.method,
        url: req.url,
        headers: req.rawHeaders,
        body: Buffer.concat(chunks).toString('latin1'),
        trailers: req.rawTrailers,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 30000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A raw client: connects, writes the parts (optionally one at a time), collects everything until close. */
export class RawClient {
  readonly socket: net.Socket;
  private data = '';
  private closed = false;
  readonly ready: Promise<void>;

  constructor(port: number, host = '127.0.0.1') {
    this.socket = net.connect({ port, host, allowHalfOpen: true });
    this.socket.on('data', (c: Buffer) => {
      this.data += c.toString('latin1');
    });
    this.socket.on('error', () => {});
    // The peer's FIN (or a reset) is what the tests wait for; our side then closes too.
    this.socket.on('end', () => {
      this.closed = true;
      this.socket.end();
    });
    this.socket.on('close', () => {
      this.closed = true;
    });
    this.ready = new Promise((r) => this.socket.once('connect', () => r()));
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  text(): string {
    return this.data;
  }

  isClosed(): boolean {
    return this.closed;
  }

  async waitFor(pred: (s: string) => boolean, timeoutMs = 5000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!pred(this.data)) {
      if (Date.now() > until)
        throw new Error(`client did not receive the expected bytes; got:\n${this.data}`);
      await sleep(5);
    }
    return this.data;
  }

  async waitClosed(timeoutMs = 5000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > until) throw new Error(`connection not closed; got:\n${this.data}`);
      await sleep(5);
    }
    return this.data;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Counts occurrences of a substring. */
export function count(hay: string, needle: string): number {
  let n = 0;
  let i = hay.indexOf(needle);
  while (i >= 0) {
    n++;
    i = hay.indexOf(needle, i + needle.length);
  }
  return n;
}

/** Writes parts one by one with a pause between them (forces separate TCP segments). */
export async function writeSlowly(c: RawClient, parts: (Buffer | string)[], gapMs = 2): Promise<void> {
  for (const p of parts) {
    c.write(p);
    await sleep(gapMs);
  }
}
