/**
 * The bidirectional byte relay shared by the tcp and transparent hops.
 *
 * - Backpressure: stream.pipe() in both directions (a full socket pauses the other side's reads),
 *   so a reader that does not read holds at most about two highWaterMarks in our memory.
 * - Half-close: a FIN from one side becomes end() (shutdown(SHUT_WR)) on the other once what was
 *   queued is written; the other direction keeps flowing. Both sockets are allowHalfOpen.
 * - Resets: an error on one side (ECONNRESET included) resets the other (resetAndDestroy: RST),
 *   so a peer learns the connection broke instead of seeing a clean end.
 * - Timeouts: the app connection must be up within connectTimeoutMs; optionally, a connection
 *   silent in both directions for idleTimeoutMs is closed (the client socket's inactivity timer
 *   sees both directions: reads from the client and writes to it).
 * - Bytes are counted from the sockets' own counters at the end (no per-chunk work).
 */
import type { Socket } from 'node:net';

export type RelayEndReason =
  | 'done'
  | 'client-reset'
  | 'app-reset'
  | 'client-error'
  | 'app-error'
  | 'idle'
  | 'connect-timeout'
  | 'connect-failed'
  | 'drain';

export interface RelayResult {
  /** Client -> app payload bytes (the header we emitted is not counted). */
  readonly toApp: number;
  /** App -> client bytes. */
  readonly toClient: number;
  readonly durationMs: number;
  readonly reason: RelayEndReason;
  /** errno-style code of the error that ended it, if any. */
  readonly errorCode?: string;
  /** Whose FIN came first, when one came (both relays report it). */
  readonly firstFin?: 'client' | 'app';
}

export interface RelayOptions {
  readonly connectTimeoutMs: number;
  /** 0 = no idle timeout. */
  readonly idleTimeoutMs: number;
  /** Bytes written to the app before the client's (the PROXY header), left out of the count. */
  readonly preamble?: number;
}

export interface Relay {
  /** Ends the relay now with a reset on both sides (drain deadline). */
  abort(reason: RelayEndReason): void;
}

/**
 * Relays between an accepted client socket (paused, its post-header bytes unshifted) and an app
 * socket (connecting or connected), or a promise of one. The relay owns both sockets from here on;
 * `done` is called once, when both are closed.
 */
export function relay(
  client: Socket,
  open: Socket | Promise<Socket>,
  options: RelayOptions,
  done: (r: RelayResult) => void,
): Relay {
  const started = performance.now();
  client.allowHalfOpen = true;
  let app: Socket | undefined;
  let ended = false;
  let reason: RelayEndReason = 'done';
  let errorCode: string | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  let open_ = 2;
  let firstFin: 'client' | 'app' | undefined;

  const finish = () => {
    if (ended) return;
    ended = true;
    clearTimeout(connectTimer);
    const toApp = app ? Math.max(0, app.bytesWritten - (options.preamble ?? 0)) : 0;
    const result: RelayResult = {
      toApp,
      toClient: client.bytesWritten,
      durationMs: Math.round(performance.now() - started),
      reason,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(firstFin !== undefined ? { firstFin } : {}),
    };
    done(result);
  };

  const fail = (why: RelayEndReason, code: string | undefined, resetClient: boolean) => {
    if (reason === 'done') {
      reason = why;
      errorCode = code;
    }
    if (resetClient) reset(client);
    else client.destroy();
    if (app) reset(app);
    if (!app) finish();
  };

  const onClientClose = () => {
    if (--open_ === 0 || !app) finish();
  };
  client.on('close', onClientClose);
  client.on('error', (err: NodeJS.ErrnoException) => {
    fail(err.code === 'ECONNRESET' ? 'client-reset' : 'client-error', err.code, true);
  });
  if (options.idleTimeoutMs > 0) {
    client.setTimeout(options.idleTimeoutMs, () => {
      if (reason === 'done') reason = 'idle';
      client.destroy();
      app?.destroy();
    });
  }

  connectTimer = setTimeout(() => {
    if (reason === 'done') {
      reason = 'connect-timeout';
      errorCode = 'ETIMEDOUT';
    }
    client.destroy();
    app?.destroy();
    finish();
  }, options.connectTimeoutMs);

  const attach = (socket: Socket) => {
    if (ended || client.destroyed) {
      socket.destroy();
      finish();
      return;
    }
    app = socket;
    let connected = false;
    socket.allowHalfOpen = true;
    socket.on('close', () => {
      if (--open_ === 0) finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (socket.connecting || !connected) {
        fail('connect-failed', err.code, false);
        return;
      }
      if (reason === 'done') {
        reason = err.code === 'ECONNRESET' ? 'app-reset' : 'app-error';
        errorCode = err.code;
      }
      reset(client);
      socket.destroy();
    });
    const start = () => {
      connected = true;
      clearTimeout(connectTimer);
      socket.pipe(client, { end: false });
      client.pipe(socket, { end: false });
      socket.on('end', () => {
        firstFin ??= 'app';
        client.end();
      });
      // A FIN right behind the header (nothing buffered) may have been seen before we listened.
      if (client.readableEnded) {
        firstFin = 'client';
        socket.end();
      } else
        client.on('end', () => {
          firstFin ??= 'client';
          socket.end();
        });
    };
    if (socket.connecting) socket.once('connect', start);
    else start();
  };
  if (open instanceof Promise) {
    open.then(attach, (err: NodeJS.ErrnoException) => {
      fail(err.code === 'ETIMEDOUT' ? 'connect-timeout' : 'connect-failed', err.code, false);
    });
  } else {
    attach(open);
  }

  return {
    abort(why) {
      if (reason === 'done') reason = why;
      reset(client);
      if (app) reset(app);
      else finish();
    },
  };
}

/** RST instead of FIN (SO_LINGER 0), for sockets that still have a handle; destroy otherwise. */
export function reset(socket: Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}
