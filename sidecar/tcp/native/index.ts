/**
 * Loader for the transparent hop's N-API addon (src/transparent.c, built by `npm run build:native`).
 * Loaded lazily: only a pod with a transparent listener needs it.
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
}

const ADDON = 'realip_transparent.node';
/** From the sources (sidecar/tcp/native/) and from the compiled tree (dist/sidecar/tcp/native/). */
const CANDIDATES = [`./build/Release/${ADDON}`, `../../../../sidecar/tcp/native/build/Release/${ADDON}`];

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
