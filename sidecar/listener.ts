/**
 * One listening socket per listener: accept, read the PROXY header under the trust policy, count
 * and log the outcome once, hand the connection to the hop. Tracks open sockets for drain.
 */
import net from 'node:net';
import type { ListenerSpec } from '../common/contract.ts';
import { RealipError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { SidecarConfig } from './config.ts';
import type { Hop } from './hop-contract.ts';
import type { SidecarMetrics } from './metrics.ts';
import { listenerObserver } from './observer.ts';
import { readHeader } from './reader.ts';

export interface Listener {
  readonly spec: ListenerSpec;
  readonly server: net.Server;
  /** Port actually bound (differs from spec.listenPort only when it is 0, in tests). */
  port(): number;
  stopAccepting(): Promise<void>;
  /** Destroys every connection still open. */
  destroyAll(): void;
  readonly sockets: ReadonlySet<net.Socket>;
}

let counter = 0;
// Distinguishes sidecar restarts in logs; not a secret (node:crypto would cost RSS for nothing).
const prefix = ((process.pid ^ Date.now()) & 0xffff).toString(16).padStart(4, '0');
function nextId(): string {
  counter = (counter + 1) % 0x7fffffff;
  return `${prefix}${counter.toString(36)}`;
}

export async function startListener(
  spec: ListenerSpec,
  config: SidecarConfig,
  hop: Hop,
  log: Logger,
  metrics: SidecarMetrics,
  host = '::',
): Promise<Listener> {
  const sockets = new Set<net.Socket>();
  const readerOptions = {
    policy: { trusted: config.trusted, mode: config.proxy },
    headerTimeoutMs: config.headerTimeoutMs,
    maxV2Length: config.maxHeaderBytes,
  };
  const labels = { listener: spec.listenPort, mode: spec.mode };
  const observer = listenerObserver(spec, config, metrics);
  const active = metrics.active.series(labels);
  // allowHalfOpen: a client FIN that arrives with (or right after) the header must not make Node end
  // our side before the hop has answered; hops own half-close from here.
  const server = net.createServer({ pauseOnConnect: true, noDelay: true, allowHalfOpen: true }, (socket) => {
    const acceptedAt = performance.now();
    sockets.add(socket);
    active.add(1);
    socket.once('close', () => {
      sockets.delete(socket);
      active.add(-1);
    });
    // Errors after hand-off are the hop's; this keeps an early reset from being unhandled.
    socket.on('error', () => {});
    readHeader(socket, readerOptions, (r, edge) => {
      const id = nextId();
      if (!r.ok) {
        metrics.connections.inc({ ...labels, outcome: r.outcome, code: r.code });
        observer.refused(log, { id, edge, acceptedAt, outcome: r.outcome, code: r.code, message: r.message });
        socket.destroy();
        return;
      }
      metrics.connections.inc({ ...labels, outcome: r.outcome, code: '' });
      const connLog = log.child({ conn: id });
      if (connLog.isLevelEnabled('debug')) {
        connLog.debug(
          { edge: edge.address, client: r.client.address, clientPort: r.client.port, outcome: r.outcome },
          'connection accepted',
        );
      }
      const conn = {
        socket,
        client: r.client,
        destination: r.destination,
        outcome: r.outcome,
        edge,
        acceptedAt,
        id,
        log: connLog,
      };
      hop.handle(r.header ? { ...conn, header: r.header } : conn);
    });
  });
  server.on('error', (err) => log.error({ err, listener: spec.listenPort }, 'listener error'));
  await listen(server, spec, host);
  log.info(
    { listener: spec.listenPort, mode: spec.mode, app: `${config.appHost}:${spec.appPort}` },
    'listening',
  );
  return {
    spec,
    server,
    sockets,
    port: () => (server.address() as net.AddressInfo).port,
    stopAccepting: () => new Promise<void>((resolve) => server.close(() => resolve())),
    destroyAll: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

function listen(server: net.Server, spec: ListenerSpec, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.removeListener('listening', onListening);
      // No IPv6 in this network namespace: fall back to IPv4 only.
      if (host === '::' && (err.code === 'EAFNOSUPPORT' || err.code === 'EADDRNOTAVAIL')) {
        listen(server, spec, '0.0.0.0').then(resolve, reject);
        return;
      }
      const why =
        err.code === 'EADDRINUSE'
          ? 'the port is already in use'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
      reject(
        new RealipError(
          'TCP_LISTEN_FAILED',
          `cannot listen on port ${spec.listenPort} for ${spec.mode} listener: ${why}`,
          {
            cause: err,
          },
        ),
      );
    };
    const onListening = () => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port: spec.listenPort, host, ipv6Only: false, backlog: 4096 });
  });
}
