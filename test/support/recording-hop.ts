/**
 * A hop for testing the listener and reader: records who the connection was attributed to and
 * every byte that followed the header; optionally answers like a tiny HTTP server.
 */
import { once } from 'node:events';
import type { Socket } from 'node:net';
import type { ListenerSpec, ProxyMode } from '../../common/contract.ts';
import { silentLogger } from '../../common/logger.ts';
import { parseSidecarConfig, type SidecarConfig } from '../../sidecar/config.ts';
import type { AcceptedConnection, Hop } from '../../sidecar/hop-contract.ts';
import { type Listener, startListener } from '../../sidecar/listener.ts';
import { createSidecarMetrics, type SidecarMetrics } from '../../sidecar/metrics.ts';

export interface Recorded {
  conn: AcceptedConnection;
  data: Buffer;
  ended: Promise<void>;
}

export class RecordingHop implements Hop {
  readonly seen: Recorded[] = [];
  private waiters: (() => void)[] = [];
  private readonly http: boolean;
  constructor(http = false) {
    this.http = http;
  }
  handle(conn: AcceptedConnection): void {
    const rec: Recorded = { conn, data: Buffer.alloc(0), ended: Promise.resolve() };
    const s: Socket = conn.socket;
    rec.ended = once(s, 'close').then(() => undefined);
    s.on('data', (d: Buffer) => {
      rec.data = Buffer.concat([rec.data, d]);
      if (this.http && rec.data.includes('\r\n\r\n')) {
        const body = `${conn.client.address} ${conn.client.port} ${conn.outcome}\n`;
        s.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
      }
    });
    s.on('end', () => s.end());
    s.on('error', () => {});
    s.resume();
    this.seen.push(rec);
    for (const w of this.waiters.splice(0)) w();
  }
  async next(index: number, timeoutMs = 5000): Promise<Recorded> {
    const until = Date.now() + timeoutMs;
    while (this.seen.length <= index) {
      if (Date.now() > until)
        throw new Error(`hop saw ${this.seen.length} connections, waited for ${index + 1}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50);
      });
    }
    return this.seen[index]!;
  }
  async drain(): Promise<void> {}
}

export interface TestListener {
  listener: Listener;
  hop: RecordingHop;
  metrics: SidecarMetrics;
  port: number;
  close(): Promise<void>;
}

export async function recordingListener(
  opts: {
    trusted?: string[];
    proxy?: ProxyMode;
    headerTimeoutMs?: number;
    http?: boolean;
    host?: string;
  } = {},
): Promise<TestListener> {
  const { config } = parseSidecarConfig([], {
    REALIP_LISTENERS: 'tcp:1:2',
    REALIP_TRUSTED_CIDRS: (opts.trusted ?? ['127.0.0.1/32', '::1/128']).join(','),
    REALIP_PROXY: opts.proxy ?? 'required',
    REALIP_HEADER_TIMEOUT_MS: String(opts.headerTimeoutMs ?? 2000),
  });
  const spec: ListenerSpec = { mode: 'tcp', listenPort: 0, appPort: 1 };
  const hop = new RecordingHop(opts.http ?? false);
  const metrics = createSidecarMetrics();
  const listener = await startListener(
    spec,
    config as SidecarConfig,
    hop,
    silentLogger(),
    metrics,
    opts.host ?? '::',
  );
  return {
    listener,
    hop,
    metrics,
    port: listener.port(),
    close: async () => {
      listener.destroyAll();
      await listener.stopAccepting();
    },
  };
}
