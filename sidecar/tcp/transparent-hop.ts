/**
 * `transparent` listener mode: for apps that know nothing of PROXY. The connection to the app is
 * made FROM the client's own address and port (IP_TRANSPARENT, as go-mmproxy and Envoy's
 * original_src do), so the app's getpeername() returns the real client. The socket is created,
 * bound and connected by the native helper (native/src/transparent.c) on a worker thread; the
 * connected fd then goes to the same relay as the tcp hop's (spliced, or wrapped in a net.Socket
 * for the stream relay).
 *
 * The app is reached at 127.0.0.1 for IPv4 clients and ::1 for IPv6 clients (appHost when it is
 * of the client's family): a socket cannot connect from an IPv6 address to an IPv4 one.
 */
import { isIP } from 'node:net';
import { RealipError } from '../../common/errors.ts';
import type { AcceptedConnection, Hop, HopContext, HopFactory } from '../hop.ts';
import { loadNative } from './native/index.ts';
import { systemPreflight, transparentPreflight } from './preflight.ts';
import { RelaySet } from './relay-set.ts';

export function appAddressFor(appHost: string, family: 4 | 6): string {
  if (isIP(appHost) === family) return appHost;
  return family === 6 ? '::1' : '127.0.0.1';
}

export const createTransparentHop: HopFactory = async (ctx: HopContext): Promise<Hop> => {
  const native = loadNative();
  try {
    await transparentPreflight(systemPreflight((family) => native.canTransparent(family)));
  } catch (err: unknown) {
    if (err instanceof RealipError) {
      err.message = `transparent listener ${ctx.listener.listenPort} -> app port ${ctx.listener.appPort}: ${err.message}`;
    }
    throw err;
  }
  const relays = new RelaySet(ctx);
  const fallbacks = ctx.metrics.portFallbacks();
  const { config, listener } = ctx;
  return {
    handle(conn: AcceptedConnection) {
      const { client } = conn;
      let fallback = false;
      const app = native
        .connectFrom(
          client.family,
          client.address,
          client.port,
          appAddressFor(config.appHost, client.family),
          listener.appPort,
          config.connectTimeoutMs,
          true,
        )
        .then((r) => {
          if (r.fallback) {
            fallback = true;
            fallbacks.inc();
          }
          return r.fd;
        });
      relays.start(conn, { app, fields: () => (fallback ? { portFallback: true } : {}) });
    },
    drain: (deadline) => relays.drain(deadline),
  };
};
