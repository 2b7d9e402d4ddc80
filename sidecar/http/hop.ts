/**
 * The HTTP hop: every request of a connection reaches the app with the client's address in
 * X-Forwarded-For / X-Real-IP / Forwarded (see rewrite.ts for the exact policy), over one app
 * connection per client connection. Design and limits: docs/sidecar.md.
 */
import type { AcceptedConnection, Hop, HopContext, HopFactory } from '../hop-contract.ts';
import { listenerObserver } from '../observer.ts';
import { HttpConnection } from './connection.ts';
import { HttpHopState } from './hop-state.ts';
import { HeadRewriter } from './rewrite.ts';
import { tlvHeaderLines } from './tlv-headers.ts';

/** The hop itself (synchronous: the http2 hop builds one for its HTTP/1.1 connections). */
export function httpHop(ctx: HopContext): Hop {
  const observer = listenerObserver(ctx.listener, ctx.config, ctx.metrics);
  const state = new HttpHopState(ctx.config, ctx.listener.appPort, ctx.metrics, ctx.log, observer);
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
      return state.drain(deadline).finally(() => state.stop());
    },
  };
}

export const createHttpHop: HopFactory = httpHop;
