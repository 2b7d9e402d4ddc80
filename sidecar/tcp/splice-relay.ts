/**
 * The relay on the hot path: once the app is connected, the two sockets are joined with splice(2)
 * by the native reactor (native/src/splice.c), so the bytes never enter the JavaScript heap. This
 * file keeps what JavaScript controls, with the same semantics as the stream relay (pipe.ts):
 *
 * - Connect phase (connect timeout, app refused, client gone or reset while connecting): in JS,
 *   as in pipe.ts; nothing has been relayed yet.
 * - Hand-over: Node stops reading both sockets (libuv readStop, and a no-op _read so draining the
 *   stream's buffer does not restart it); what Node had already read, after the PROXY header, is
 *   handed to the reactor to be written first, right behind the header we emit. The reactor dup()s
 *   the fds; Node keeps its own open (the listener's accounting of open client sockets stays as it
 *   is) and closes them when the relay has ended, which is when the kernel sends the final FIN, or
 *   an RST when the reactor set SO_LINGER 0.
 * - Idle timeout: a JS timer asks the reactor how long nothing moved and re-arms for the rest.
 * - Drain deadline: relayAbort(reset). Half-close, resets and byte counts: the reactor, reported
 *   once per connection.
 */
import { closeSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { RelayEndCallback, RelayHandle, TransparentNative } from './native/index.ts';
import { type Relay, type RelayEndReason, type RelayOptions, type RelayResult, reset } from './pipe.ts';

/** One relay's share of the native end callback: everything after the relay id. */
type EndHandler = RelayEndCallback extends (id: number, ...rest: infer R) => void
  ? (...rest: R) => void
  : never;

/** The process's reactor: relay ids to their end handlers. */
export class SpliceReactor {
  readonly native: TransparentNative;
  private readonly ends = new Map<number, EndHandler>();
  private nextId = 1;

  constructor(native: TransparentNative) {
    this.native = native;
    native.relayInit((id, toApp, toClient, errSide, errCode, firstEof) => {
      const end = this.ends.get(id);
      if (!end) return;
      this.ends.delete(id);
      end(toApp, toClient, errSide, errCode, firstEof);
    });
  }

  get size(): number {
    return this.ends.size;
  }

  start(
    clientFd: number,
    appFd: number,
    toAppFirst: Buffer | undefined,
    toClientFirst: Buffer | undefined,
    onEnd: EndHandler,
  ): RelayHandle {
    const id = this.nextId;
    this.nextId = this.nextId >= 2 ** 52 ? 1 : this.nextId + 1;
    const handle = this.native.relayStart(id, clientFd, appFd, toAppFirst, toClientFirst);
    this.ends.set(id, onEnd);
    return handle;
  }
}

const reactors = new WeakMap<TransparentNative, SpliceReactor>();
export function reactorFor(native: TransparentNative): SpliceReactor {
  let r = reactors.get(native);
  if (!r) {
    r = new SpliceReactor(native);
    reactors.set(native, r);
  }
  return r;
}

interface StreamHandle {
  fd?: number;
  reading?: boolean;
  readStop?(): number;
}

/**
 * Takes a connected socket away from libuv's reads; returns its fd and the bytes Node had read
 * but nobody consumed (for a paused client socket: what followed the PROXY header).
 */
export function detach(socket: Socket): { fd: number; buffered: Buffer | undefined } | undefined {
  const handle = (socket as unknown as { _handle?: StreamHandle | null })._handle;
  if (socket.destroyed || !handle || typeof handle.fd !== 'number' || handle.fd < 0) return undefined;
  socket._read = () => {};
  handle.reading = false;
  handle.readStop?.();
  const chunks: Buffer[] = [];
  for (let c: Buffer | null = socket.read(); c !== null; c = socket.read()) chunks.push(c);
  const buffered = chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  return { fd: handle.fd, buffered };
}

/** The app end: a net.Socket (connecting or connected), or a promise of a connected fd we own. */
export type AppOpen = Socket | Promise<number>;

/**
 * Same contract as relay() in pipe.ts: owns both sockets from here; `done` is called once.
 * `preamble` (our PROXY header) is written to the app before any client byte and not counted.
 */
export function spliceRelay(
  reactor: SpliceReactor,
  client: Socket,
  open: AppOpen,
  options: RelayOptions,
  preamble: Buffer | undefined,
  done: (r: RelayResult) => void,
): Relay {
  const started = performance.now();
  client.allowHalfOpen = true;
  let app: Socket | undefined;
  let appFd: number | undefined;
  let handle: RelayHandle | undefined;
  let ended = false;
  let reason: RelayEndReason = 'done';
  let errorCode: string | undefined;
  let connectTimer: NodeJS.Timeout | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let toApp = 0;
  let toClient = 0;
  let firstFin: 'client' | 'app' | undefined;
  const skip = preamble?.length ?? 0;

  const note = (why: RelayEndReason, code?: string) => {
    if (reason !== 'done') return;
    reason = why;
    errorCode = code;
  };
  const closeAppFd = () => {
    if (appFd === undefined) return;
    try {
      closeSync(appFd);
    } catch {}
    appFd = undefined;
  };
  const finish = () => {
    if (ended) return;
    ended = true;
    handle = undefined;
    clearTimeout(connectTimer);
    clearTimeout(idleTimer);
    client.removeListener('close', onClientClose);
    client.removeListener('error', onClientError);
    done({
      toApp,
      toClient,
      durationMs: Math.round(performance.now() - started),
      reason,
      ...(errorCode !== undefined ? { errorCode } : {}),
      ...(firstFin !== undefined ? { firstFin } : {}),
    });
  };
  /** Before the hand-over: closes what exists and ends. */
  const giveUp = (resetClient: boolean) => {
    if (resetClient) reset(client);
    else client.destroy();
    if (app) reset(app);
    closeAppFd();
    finish();
  };

  const onClientClose = () => {
    if (!handle) giveUp(false);
  };
  const onClientError = (err: NodeJS.ErrnoException) => {
    if (handle) return;
    note(err.code === 'ECONNRESET' ? 'client-reset' : 'client-error', err.code);
    giveUp(true);
  };
  client.on('close', onClientClose);
  client.on('error', onClientError);

  connectTimer = setTimeout(() => {
    note('connect-timeout', 'ETIMEDOUT');
    client.destroy();
    app?.destroy();
    closeAppFd();
    finish();
  }, options.connectTimeoutMs);

  const onEnd: EndHandler = (wroteToApp, wroteToClient, errSide, errCode, firstEof) => {
    toApp = Math.max(0, wroteToApp - skip);
    toClient = wroteToClient;
    if (firstEof === 0) firstFin = 'client';
    else if (firstEof === 1) firstFin = 'app';
    if (errSide === 0) note(errCode === 'ECONNRESET' ? 'client-reset' : 'client-error', errCode);
    else if (errSide === 1) note(errCode === 'ECONNRESET' ? 'app-reset' : 'app-error', errCode);
    // Our fds are the last ones: closing them sends the FIN, or the RST the reactor armed.
    client.destroy();
    app?.destroy();
    finish();
  };

  const armIdle = (ms: number) => {
    idleTimer = setTimeout(() => {
      if (!handle) return;
      const idle = reactor.native.relayIdleMs(handle);
      if (idle >= options.idleTimeoutMs) {
        note('idle');
        reactor.native.relayAbort(handle, false);
      } else armIdle(options.idleTimeoutMs - idle);
    }, ms);
    idleTimer.unref();
  };

  const join = (fd: number, fromApp: Buffer | undefined) => {
    clearTimeout(connectTimer);
    const c = detach(client);
    if (!c) {
      giveUp(false);
      return;
    }
    const toAppFirst =
      preamble && c.buffered ? Buffer.concat([preamble, c.buffered]) : (preamble ?? c.buffered);
    try {
      handle = reactor.start(c.fd, fd, toAppFirst, fromApp, onEnd);
    } catch (err: unknown) {
      note('client-error', (err as NodeJS.ErrnoException).code ?? 'EIO');
      giveUp(true);
      return;
    }
    closeAppFd(); // the reactor holds its own dup of a transparent fd
    if (options.idleTimeoutMs > 0) armIdle(options.idleTimeoutMs);
  };

  const ready = () => !(ended || client.destroyed);
  if (open instanceof Promise) {
    open.then(
      (fd) => {
        appFd = fd;
        if (!ready()) {
          giveUp(false);
          return;
        }
        join(fd, undefined);
      },
      (err: NodeJS.ErrnoException) => {
        if (ended) return;
        note(err.code === 'ETIMEDOUT' ? 'connect-timeout' : 'connect-failed', err.code);
        giveUp(false);
      },
    );
  } else {
    app = open;
    const socket = open;
    socket.allowHalfOpen = true;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (handle || ended) return;
      note('connect-failed', err.code);
      giveUp(false);
    });
    const connected = () => {
      if (!ready()) {
        giveUp(false);
        return;
      }
      const a = detach(socket);
      if (!a) {
        note('connect-failed', 'ECONNRESET');
        giveUp(false);
        return;
      }
      join(a.fd, a.buffered);
    };
    if (socket.connecting) socket.once('connect', connected);
    else connected();
  }

  return {
    abort(why) {
      if (ended) return;
      note(why);
      if (handle) reactor.native.relayAbort(handle, true);
      else giveUp(true);
    },
  };
}
