/**
 * Loader for the TCP hops' N-API addon (src/transparent.c: connect from the client's address;
 * src/splice.c: the splice(2) relay), built by `npm run build:native`. Loaded lazily, on the first
 * tcp or transparent listener.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RealipError } from '../../../common/errors.ts';

export interface NativeConnectResult {
  /** A connected, non-blocking TCP socket; wrap it with `new net.Socket({ fd, readable, writable })`. */
  readonly fd: number;
  /** The client's port could not be used (still in use by a previous connection): port 0 was. */
  readonly fallback: boolean;
}

/**
 * Called once per relay when it has ended: bytes written to the app and to the client (what was
 * handed over first included), the side whose socket failed (0 client, 1 app; -1 none, -2 ended by
 * relayAbort) and that failure's errno code.
 */
export type RelayEndCallback = (
  id: number,
  toApp: number,
  toClient: number,
  errSide: number,
  errCode: string | undefined,
  /** The side whose FIN came first: 0 client, 1 app, -1 none (an error or an abort ended it). */
  firstEof: number,
) => void;

/** A running native relay; valid until its end callback has run, never after. */
export type RelayHandle = object & { readonly __relay: unique symbol };

export interface TransparentNative {
  connectFrom(
    family: 4 | 6,
    srcAddress: string,
    srcPort: number,
    dstAddress: string,
    dstPort: number,
    timeoutMs: number,
    transparent: boolean,
  ): Promise<NativeConnectResult>;
  /** undefined when this process may set IP_TRANSPARENT on a socket of that family, else an errno code. */
  canTransparent(family: 4 | 6): string | undefined;
  /** Starts the process's one reactor thread (epoll + splice); `onEnd` receives every relay's end. */
  relayInit(onEnd: RelayEndCallback): void;
  /**
   * Joins two connected sockets (their fds are dup()ed; the caller keeps and later closes its
   * own). `toAppFirst` / `toClientFirst` are written before any spliced byte.
   */
  relayStart(
    id: number,
    clientFd: number,
    appFd: number,
    toAppFirst: Buffer | undefined,
    toClientFirst: Buffer | undefined,
  ): RelayHandle;
  /** Ends a running relay: reset (RST both sides) or close. Its end callback still runs. */
  relayAbort(handle: RelayHandle, reset: boolean): void;
  /** Milliseconds since a byte last moved either way. */
  relayIdleMs(handle: RelayHandle): number;
}

const ADDON = 'realip_transparent.node';
/** Beside the sources; from dist/sidecar/tcp/native/; from the sidecar image's dist/bundle/. */
const CANDIDATES = [
  `./build/Release/${ADDON}`,
  `../../../../sidecar/tcp/native/build/Release/${ADDON}`,
  `../../sidecar/tcp/native/build/Release/${ADDON}`,
];

let loaded: TransparentNative | undefined;

export function loadNative(): TransparentNative {
  if (loaded) return loaded;
  const tried: string[] = [];
  for (const rel of CANDIDATES) {
    const path = fileURLToPath(new URL(rel, import.meta.url));
    tried.push(path);
    if (!existsSync(path)) continue;
    try {
      loaded = createRequire(import.meta.url)(path) as TransparentNative;
      return loaded;
    } catch (err: unknown) {
      throw new RealipError('TCP_NATIVE_MISSING', `cannot load the transparent helper ${path}`, {
        cause: err,
      });
    }
  }
  throw new RealipError(
    'TCP_NATIVE_MISSING',
    `the transparent helper is not built (looked for ${tried.join(', ')}); run "npm run build:native"`,
  );
}

/** The addon, or the reason it cannot be loaded (callers that can do without it fall back). */
export function tryLoadNative(): TransparentNative | RealipError {
  try {
    const n = loadNative();
    if (typeof n.relayStart !== 'function') {
      return new RealipError(
        'TCP_NATIVE_MISSING',
        'the native helper predates the splice relay; run "npm run build:native"',
      );
    }
    return n;
  } catch (err: unknown) {
    if (err instanceof RealipError) return err;
    return new RealipError('TCP_NATIVE_MISSING', 'cannot load the native helper', { cause: err });
  }
}
