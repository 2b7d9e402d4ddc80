/**
 * The `http2` hop: HTTP/2 prior knowledge (h2c, every cleartext gRPC client) to the HTTP/2 proxy
 * (proxy.ts), anything else to the HTTP/1.1 hop unchanged (a grpc-web client or an HTTP/1.1
 * health check on a gRPC port keeps working). Design and limits: docs/sidecar.md, "HTTP/2 and gRPC".
 */
import type { AcceptedConnection, Hop, HopFactory } from '../hop-contract.ts';
import { httpHop } from '../http/hop.ts';
import { listenerObserver } from '../observer.ts';
import { Http2Proxy } from './proxy.ts';
import { sniffConnection } from './sniff.ts';

export const createHttp2Hop: HopFactory = (ctx): Hop => {
  const observer = listenerObserver(ctx.listener, ctx.config, ctx.metrics);
  const proxy = new Http2Proxy(ctx, observer);
  // Its HTTP/1.1 connections never start with the preface (the sniff sent those to the proxy).
  const http1 = httpHop(ctx, (conn) => proxy.handle(conn));
  /** Connections still being sniffed: closed at drain (they have sent no request yet). */
  const sniffing = new Set<() => void>();
  const timeoutMs = ctx.config.requestHeadTimeoutMs;
  let draining = false;
  return {
    handle(conn: AcceptedConnection): void {
      const cancel = sniffConnection(conn.socket, timeoutMs, (r) => {
        sniffing.delete(cancel);
        if (r === 'h2') proxy.handle(conn);
        else if (r === 'http1') http1.handle(conn);
        else {
          const timedOut = r === 'timeout';
          if (timedOut) ctx.metrics.httpErrors.inc({ status: 0, code: 'H2_PREFACE_TIMEOUT' });
          conn.socket.destroy();
          observer.ended(conn, {
            reason: timedOut ? 'head_timeout' : draining ? 'drain' : 'client_closed',
            ...(timedOut ? { code: 'H2_PREFACE_TIMEOUT' as const } : {}),
            toApp: 0,
            toClient: 0,
            requests: 0,
          });
        }
      });
      sniffing.add(cancel);
    },
    async drain(deadline: number): Promise<void> {
      draining = true;
      for (const cancel of sniffing) cancel();
      await Promise.all([http1.drain(deadline), proxy.drain(deadline)]);
    },
  };
};
