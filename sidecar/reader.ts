/**
 * Reads the PROXY header off an accepted socket: under a timeout and a size bound, in any number
 * of TCP segments (HAProxy drops headers split across segments; we must not), applying the trust
 * policy. Bytes after the header are put back on the socket (unshift) for the hop: none lost, none
 * duplicated. The socket is left paused with no listeners of ours.
 */
import type { Socket } from 'node:net';
import type { ErrorCode } from '../common/error-codes/registry.ts';
import type { IpFamily } from '../common/ip.ts';
import { normalizeIp, parseIp } from '../common/ip.ts';
import { decode } from './proxy-protocol/decode.ts';
import type { ProxyHeader } from './proxy-protocol/types.ts';
import { firstDecision, type TrustPolicy } from './policy.ts';

export interface ReaderOptions {
  readonly policy: TrustPolicy;
  /** Slowloris bound: the whole header must arrive within this time. */
  readonly headerTimeoutMs: number;
  readonly maxV2Length: number;
}

export interface ClientEndpoint {
  readonly address: string;
  readonly port: number;
  readonly family: IpFamily;
}

/** How a connection's client was established (or why it was refused). Metric label values. */
export type AcceptOutcome = 'proxy' | 'local' | 'unknown' | 'missing';
export type RejectOutcome = 'invalid' | 'untrusted' | 'missing' | 'timeout' | 'closed';

export type ReadResult =
  | {
      readonly ok: true;
      readonly outcome: AcceptOutcome;
      /** The address the app must see: from a trusted header, else the socket's own peer. */
      readonly client: ClientEndpoint;
      /** The address the client connected to (header destination, else our local socket). */
      readonly destination: ClientEndpoint;
      readonly header?: ProxyHeader;
    }
  | {
      readonly ok: false;
      readonly outcome: RejectOutcome;
      readonly code: ErrorCode;
      readonly message: string;
    };

export function socketPeer(socket: Socket): ClientEndpoint {
  return endpoint(socket.remoteAddress ?? '0.0.0.0', socket.remotePort ?? 0);
}

export function socketLocal(socket: Socket): ClientEndpoint {
  return endpoint(socket.localAddress ?? '0.0.0.0', socket.localPort ?? 0);
}

function endpoint(address: string, port: number): ClientEndpoint {
  const a = normalizeIp(address);
  return { address: a, port, family: parseIp(a)?.family ?? 4 };
}

/**
 * `done` also receives the socket's own peer (the edge), read once here: the caller logs it and
 * getpeername + address parsing is not free at thousands of connections a second.
 */
export function readHeader(
  socket: Socket,
  options: ReaderOptions,
  done: (r: ReadResult, peer: ClientEndpoint) => void,
): void {
  const peer = socketPeer(socket);
  const decision = firstDecision(options.policy, peer.address);
  if (decision === 'reject') {
    done(
      {
        ok: false,
        outcome: 'untrusted',
        code: 'PP_UNTRUSTED_SOURCE',
        message: `source ${peer.address} is not in the trusted CIDRs and a PROXY header is required`,
      },
      peer,
    );
    return;
  }
  const optional = options.policy.mode === 'optional';
  let buf: Buffer = Buffer.alloc(0);
  let finished = false;

  const finish = (r: ReadResult, putBack?: Buffer) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onError);
    socket.removeListener('close', onEnd);
    socket.pause();
    if (putBack && putBack.length > 0) socket.unshift(putBack);
    done(r, peer);
  };

  const missing = () => ({
    ok: true as const,
    outcome: 'missing' as const,
    client: peer,
    destination: socketLocal(socket),
  });

  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const r = decode(buf, { maxV2Length: options.maxV2Length });
    if (r.kind === 'need-more') return;
    if (r.kind === 'error') {
      if (r.error.code === 'PP_NOT_PROXY' && optional) {
        finish(missing(), buf);
        return;
      }
      if (r.error.code === 'PP_NOT_PROXY') {
        finish({ ok: false, outcome: 'missing', code: 'PP_NOT_PROXY', message: r.error.message });
        return;
      }
      if (decision === 'refuse-header') {
        finish(untrustedHeader(peer.address));
        return;
      }
      finish({ ok: false, outcome: 'invalid', code: r.error.code, message: r.error.message });
      return;
    }
    if (decision === 'refuse-header') {
      finish(untrustedHeader(peer.address));
      return;
    }
    const rest = buf.subarray(r.consumed);
    finish(accept(r.header, socket, peer), rest);
  };
  const onEnd = () =>
    finish({
      ok: false,
      outcome: 'closed',
      code: 'PP_CLOSED_EARLY',
      message: 'peer closed before a complete header',
    });
  const onError = (err: Error) =>
    finish({
      ok: false,
      outcome: 'closed',
      code: 'PP_CLOSED_EARLY',
      message: `socket error before a complete header: ${err.message}`,
    });
  const timer = setTimeout(() => {
    if (buf.length === 0 && optional) {
      // Optional mode and nothing sent: a server-speaks-first client without a header.
      finish(missing());
      return;
    }
    finish({
      ok: false,
      outcome: 'timeout',
      code: 'PP_HEADER_TIMEOUT',
      message: `no complete PROXY header within ${options.headerTimeoutMs} ms (${buf.length} bytes received)`,
    });
  }, options.headerTimeoutMs);

  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  socket.resume();
}

function untrustedHeader(address: string): ReadResult {
  return {
    ok: false,
    outcome: 'untrusted',
    code: 'PP_UNTRUSTED_SOURCE',
    message: `PROXY header from ${address}, which is not in the trusted CIDRs: refused`,
  };
}

function accept(header: ProxyHeader, socket: Socket, peer: ClientEndpoint): ReadResult {
  if (header.command === 'LOCAL') {
    return { ok: true, outcome: 'local', client: peer, destination: socketLocal(socket), header };
  }
  if (header.family === 'UDP4' || header.family === 'UDP6' || header.family === 'UNIX_DGRAM') {
    return {
      ok: false,
      outcome: 'invalid',
      code: 'PP_UNSUPPORTED_FAMILY',
      message: `PROXY header announces a datagram family (${header.family}) on a TCP connection`,
    };
  }
  if (!header.source || !header.destination || header.family === 'UNIX' || header.family === 'UNKNOWN') {
    // UNKNOWN / UNSPEC / UNIX: "use the real connection endpoints".
    return { ok: true, outcome: 'unknown', client: peer, destination: socketLocal(socket), header };
  }
  // A TCP6 header may carry IPv4-mapped addresses; the app sees them as IPv4.
  return {
    ok: true,
    outcome: 'proxy',
    client: endpoint(header.source.address, header.source.port),
    destination: endpoint(header.destination.address, header.destination.port),
    header,
  };
}
