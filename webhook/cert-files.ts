/**
 * Serving certificate from files, hot-reloaded: fs.watch on the files' directories (a Kubernetes
 * Secret volume swaps a `..data` symlink, so watching the file itself misses updates) plus a
 * periodic check in case an event is lost. A new pair is taken only once cert and key match
 * (tls.createSecureContext accepts them), so a half-written swap never reaches the server; the
 * caller swaps it in with server.setSecureContext (no restart, existing connections keep theirs).
 */
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from '../common/logger.ts';

export interface TlsMaterial {
  readonly cert: string;
  readonly key: string;
}

/** Throws when the pair is unusable (bad PEM, key does not match the certificate). */
export function checkMaterial(m: TlsMaterial): void {
  createSecureContext({ cert: m.cert, key: m.key });
}

export interface FileWatchOptions {
  readonly certFile: string;
  readonly keyFile: string;
  readonly pollIntervalMs: number;
  readonly log: Logger;
  readonly onReload: (m: TlsMaterial) => void;
}

export class FileCertWatcher {
  private readonly opts: FileWatchOptions;
  private last: TlsMaterial;
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;

  /** Reads the pair once; throws (with the file named) if it cannot be used at start. */
  constructor(opts: FileWatchOptions) {
    this.opts = opts;
    this.last = FileCertWatcher.read(opts.certFile, opts.keyFile);
    checkMaterial(this.last);
  }

  static read(certFile: string, keyFile: string): TlsMaterial {
    return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
  }

  get material(): TlsMaterial {
    return this.last;
  }

  start(): void {
    for (const dir of new Set([dirname(this.opts.certFile), dirname(this.opts.keyFile)])) {
      try {
        const w = watch(dir, () => this.soon());
        w.on('error', () => {}); // the directory may vanish and come back; polling covers it
        w.unref();
        this.watchers.push(w);
      } catch (err: unknown) {
        this.opts.log.warn({ dir, err }, 'cannot watch certificate directory; relying on polling');
      }
    }
    this.timer = setInterval(() => this.check(), this.opts.pollIntervalMs);
    this.timer.unref();
  }

  private soon(): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.check(), 50);
    this.debounce.unref();
  }

  /** Returns true when a new pair was taken. */
  check(): boolean {
    let next: TlsMaterial;
    try {
      next = FileCertWatcher.read(this.opts.certFile, this.opts.keyFile);
    } catch {
      return false; // mid-swap: a file is missing for a moment
    }
    if (next.cert === this.last.cert && next.key === this.last.key) return false;
    try {
      checkMaterial(next);
    } catch (err: unknown) {
      this.opts.log.debug({ err }, 'certificate pair not usable yet; keeping the current one');
      return false;
    }
    this.last = next;
    this.opts.log.info({ certFile: this.opts.certFile }, 'serving certificate reloaded');
    this.opts.onReload(next);
    return true;
  }

  close(): void {
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
  }
}
