/**
 * The HTTP hop: every request of a connection reaches the app with the client's address in
 * X-Forwarded-For / X-Real-IP / Forwarded (see rewrite.ts for the exact policy), over one app
 * connection per client connection. Design and limits: docs/sidecar.md.
 */
import type { AcceptedConnection, Hop, HopContext, HopFactory } from '../hop-contract.ts';
import type { Http2Proxy } from '../http2/proxy.ts';
import { listenerObserver } from '../observer.ts';
import { HttpConnection } from './connection.ts';
import { HttpHopState } from './hop-state.ts';
import { HeadRewriter } from './rewrite.ts';
import { tlvHeaderLines } from './tlv-headers.ts';

/** Where a connection that starts with the HTTP/2 preface goes, its bytes put back on the socket. */
export type ToHttp2 = (conn: AcceptedConnection) => void;

/**
 * The hop itself (synchronous: the http2 hop builds one for its HTTP/1.1 connections and hands it
 * its own HTTP/2 proxy as `toHttp2`). Without `toHttp2`, an HTTP/2 proxy is made on the first
 * connection that starts with the preface: node:http2 costs about 12 MB of RSS at start, so a pod
 * whose clients all speak HTTP/1.1 never loads it.
 */
export function httpHop(ctx: HopContext, toHttp2?: ToHttp2): Hop {
  const observer = listenerObserver(ctx.listener, ctx.config, ctx.metrics);
  let h2: Promise<Http2Proxy> | null = null;
  const lazyHttp2: ToHttp2 = (conn) => {
    h2 ??= import('../http2/proxy.ts').then((m) => new m.Http2Proxy(ctx, observer));
    h2.then(
      (proxy) => proxy.handle(conn),
      (err: unknown) => {
        conn.log.error({ code: 'HTTP_INTERNAL', err }, 'the http2 proxy could not be loaded');
        conn.socket.destroy();
        observer.ended(conn, {
          reason: 'internal_error',
          code: 'HTTP_INTERNAL',
          toApp: 0,
          toClient: 0,
          requests: 0,
        });
      },
    );
  };
  const state = new HttpHopState(
    ctx.config,
    ctx.listener.appPort,
    ctx.metrics,
    ctx.log,
    observer,
    toHttp2 ?? lazyHttp2,
  );
  const tlvOmitted = ctx.metrics.tlvHeadersOmitted();
  return {
    handle(conn: AcceptedConnection): void {
      const tlv = tlvHeaderLines(ctx.config.tlvHeaders, conn.header);
      for (const name of tlv.invalid) {
        tlvOmitted.inc({ tlv: name });
        conn.log.warn({ code: 'HTTP_TLV_VALUE_REFUSED', tlv: name }, 'tlv value not exposed as a header');
      }
      const rewriter = new HeadRewriter(ctx.config.forwarded, conn.client, conn.destination.port, tlv.lines);
      state.connections.add(new HttpConnection(state, conn, rewriter));
    },
    drain(deadline: number): Promise<void> {
      const http1 = state.drain(deadline).finally(() => state.stop());
      // A proxy given as `toHttp2` is its owner's to drain; h2 is only ever the lazy one.
      if (h2 === null) return http1;
      const http2 = h2.then(
        (proxy) => proxy.drain(deadline),
        () => undefined,
      );
      return Promise.all([http1, http2]).then(() => undefined);
    },
  };
}

export const createHttpHop: HopFactory = (ctx) => httpHop(ctx);
