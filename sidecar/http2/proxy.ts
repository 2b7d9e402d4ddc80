/**
 * The HTTP/2 side of an `http2` listener: one node:http2 server object (never listening: sockets
 * whose preface was sniffed are handed to it with emit('connection')), the limits it announces,
 * the live client sessions, and their drain.
 */
import http2 from 'node:http2';
import type { GaugeSeries } from '../../common/metrics.ts';
import type { SidecarConfig } from '../config.ts';
import type { AcceptedConnection, HopContext } from '../hop-contract.ts';
import type { SidecarMetrics } from '../metrics.ts';
import type { ListenerObserver } from '../observer.ts';
import { tlvHeaderFields } from '../http/tlv-headers.ts';
import { ClientSession } from './client-session.ts';
import { H2HeaderRewriter } from './headers.ts';
import { STREAM_OUTCOMES, type StreamOutcome } from './stream-relay.ts';

/**
 * Every field of a header list costs at least 32 bytes of SETTINGS_MAX_HEADER_LIST_SIZE, so the
 * list size bounds the number of fields too; Node's own cap (maxHeaderListPairs, 128 by default)
 * would otherwise refuse requests far below the byte limit.
 */
function pairsFor(listBytes: number): number {
  return Math.ceil(listBytes / 32) + 4;
}

export class Http2Proxy {
  readonly config: SidecarConfig;
  readonly metrics: SidecarMetrics;
  readonly observer: ListenerObserver;
  readonly appPort: number;
  readonly appAuthority: string;
  readonly appSessionOptions: http2.ClientSessionOptions;
  readonly activeStreams: GaugeSeries;
  private readonly outcomes: Map<StreamOutcome, { inc(): void }>;
  private readonly server: http2.Http2Server;
  private readonly sessions = new Set<ClientSession>();
  /** The session being handed to the server (its 'session' event comes synchronously). */
  private attaching: ClientSession | null = null;
  private drained: (() => void) | null = null;

  constructor(ctx: HopContext, observer: ListenerObserver) {
    const c = ctx.config;
    this.config = c;
    this.metrics = ctx.metrics;
    this.observer = observer;
    this.appPort = ctx.listener.appPort;
    const host = c.appHost.includes(':') ? `[${c.appHost}]` : c.appHost;
    this.appAuthority = `http://${host}:${this.appPort}`;
    const listener = ctx.listener.listenPort;
    this.activeStreams = ctx.metrics.http2ActiveStreams().series({ listener });
    const streams = ctx.metrics.http2Streams();
    this.outcomes = new Map(STREAM_OUTCOMES.map((o) => [o, streams.series({ listener, outcome: o })]));
    const pairs = pairsFor(c.h2MaxHeaderList);
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: c.h2MaxConcurrentStreams,
        maxHeaderListSize: c.h2MaxHeaderList,
        headerTableSize: c.h2HeaderTableSize,
        enableConnectProtocol: false,
      },
      maxHeaderListPairs: pairs,
      maxSessionMemory: c.h2MaxSessionMemoryMb,
    });
    this.server.on('session', (s: http2.ServerHttp2Session) => {
      const cs = this.attaching;
      this.attaching = null;
      if (cs === null) s.destroy();
      else cs.attach(s);
    });
    // The app side: no push, responses bounded like requests (a gRPC app's metadata is small).
    this.appSessionOptions = {
      settings: { enablePush: false, maxHeaderListSize: Math.max(c.h2MaxHeaderList, 65536) },
      maxHeaderListPairs: pairsFor(Math.max(c.h2MaxHeaderList, 65536)),
      maxSessionMemory: c.h2MaxSessionMemoryMb,
      // The app's own SETTINGS_MAX_CONCURRENT_STREAMS applies once it arrives; until then nghttp2
      // holds streams over this instead of sending them.
      peerMaxConcurrentStreams: c.h2MaxConcurrentStreams,
    };
  }

  handle(conn: AcceptedConnection): void {
    const tlv = tlvHeaderFields(this.config.tlvHeaders, conn.header);
    if (tlv.invalid.length > 0) {
      const omitted = this.metrics.tlvHeadersOmitted();
      for (const name of tlv.invalid) {
        omitted.inc({ tlv: name });
        conn.log.warn({ code: 'HTTP_TLV_VALUE_REFUSED', tlv: name }, 'tlv value not exposed as a header');
      }
    }
    const rewriter = new H2HeaderRewriter(
      this.config.forwarded,
      conn.client,
      conn.destination.port,
      tlv.fields,
    );
    const cs = new ClientSession(this, conn, rewriter);
    this.sessions.add(cs);
    this.attaching = cs;
    // The listener accepts with allowHalfOpen for the HTTP/1.1 hop; HTTP/2 has no half-close (a
    // FIN ends the connection), and without this a client's FIN would never close the session.
    conn.socket.allowHalfOpen = false;
    this.server.emit('connection', conn.socket);
    if (this.attaching === cs) {
      // No session was made (the socket was already closed): nothing else will end it.
      this.attaching = null;
      cs.destroy();
      this.closed(cs);
    }
  }

  streamOutcome(o: StreamOutcome): void {
    this.outcomes.get(o)?.inc();
  }

  closed(cs: ClientSession): void {
    this.sessions.delete(cs);
    if (this.drained !== null && this.sessions.size === 0) this.drained();
  }

  /** GOAWAY to every client; streams in flight finish; what is left at the deadline is destroyed. */
  drain(deadline: number): Promise<void> {
    for (const cs of this.sessions) cs.stop('drain');
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.drained = null;
        for (const cs of this.sessions) cs.destroy();
        resolve();
      };
      const t = setTimeout(done, Math.max(0, deadline - Date.now()));
      this.drained = done;
    });
  }
}
