/**
 * Self-managed TLS: the webhook keeps its own CA and serving certificate in a Secret and the CA in
 * its MutatingWebhookConfiguration's caBundle. Replicas do not fight: creating the Secret is the
 * lock (the first writer wins; a 409 means another replica wrote it, so read and use theirs), and
 * a rotation replaces the Secret with a resourceVersion precondition (a conflict means someone
 * rotated first). During a rotation the caBundle carries the new and the old CA, so replicas still
 * serving the old certificate stay trusted until they pick up the new one.
 *
 * The Kubernetes calls go through KubeCertApi, so this logic is tested without an API server.
 */
import type { Logger } from '../common/logger.ts';
import {
  type CertBundle,
  certificateExpiry,
  coversSans,
  generateCertBundle,
  serviceSans,
  splitPem,
} from './certs.ts';
import { checkMaterial } from './cert-files.ts';

export interface StoredSecret {
  readonly bundle: CertBundle;
  readonly resourceVersion: string;
}

export interface KubeCertApi {
  readSecret(namespace: string, name: string): Promise<StoredSecret | undefined>;
  /** false when the Secret already exists (409 AlreadyExists). */
  createSecret(namespace: string, name: string, bundle: CertBundle): Promise<boolean>;
  /** false when the resourceVersion is stale (409 Conflict). */
  replaceSecret(
    namespace: string,
    name: string,
    bundle: CertBundle,
    resourceVersion: string,
  ): Promise<boolean>;
  /** The caBundle (PEM) of every webhook entry, in order. */
  readCaBundles(configName: string): Promise<readonly string[]>;
  /** Sets the caBundle (PEM) of every webhook entry. */
  patchCaBundles(configName: string, caPem: string): Promise<void>;
}

export interface SelfManagedOptions {
  readonly api: KubeCertApi;
  readonly namespace: string;
  readonly secretName: string;
  readonly serviceName: string;
  readonly webhookConfigName: string;
  readonly extraSans: readonly string[];
  readonly log: Logger;
  readonly renewBeforeDays?: number;
  readonly validityDays?: number;
  readonly now?: () => Date;
}

const DAY_MS = 86_400_000;

export class SelfManagedCerts {
  private readonly opts: SelfManagedOptions;
  private readonly sans: readonly string[];
  private current: CertBundle | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();

  constructor(opts: SelfManagedOptions) {
    this.opts = opts;
    this.sans = serviceSans(opts.serviceName, opts.namespace, opts.extraSans);
  }

  get bundle(): CertBundle | undefined {
    return this.current;
  }

  private now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  /** Usable, covers our names, and not within the renewal window. */
  needsRenewal(bundle: CertBundle | undefined): boolean {
    if (!bundle) return true;
    try {
      checkMaterial({ cert: bundle.cert, key: bundle.key });
    } catch {
      return true;
    }
    const expiry = certificateExpiry(bundle.cert);
    const renewBefore = (this.opts.renewBeforeDays ?? 30) * DAY_MS;
    if (!expiry || expiry.getTime() - this.now().getTime() < renewBefore) return true;
    return !coversSans(bundle.cert, this.sans);
  }

  private generate(previous: CertBundle | undefined): Promise<CertBundle> {
    return generateCertBundle({
      commonName: this.sans[1] ?? this.opts.serviceName,
      sans: this.sans,
      validityDays: this.opts.validityDays ?? 365,
      now: this.now(),
    }).then((fresh) => {
      // Keep trusting still-valid old CAs for the replicas that serve the old certificate.
      const now = this.now().getTime();
      const old = previous
        ? splitPem(previous.ca).filter((c) => (certificateExpiry(c)?.getTime() ?? 0) > now)
        : [];
      return { ...fresh, ca: [fresh.ca, ...old.slice(0, 2)].join('') };
    });
  }

  /**
   * Makes sure the Secret holds a good certificate and the caBundle trusts it; returns the bundle
   * to serve. Safe to call from several replicas at once.
   */
  async ensure(): Promise<CertBundle> {
    const { api, namespace, secretName, log } = this.opts;
    let stored = await api.readSecret(namespace, secretName);
    let bundle: CertBundle | undefined;
    if (!stored) {
      const fresh = await this.generate(undefined);
      if (await api.createSecret(namespace, secretName, fresh)) {
        log.info({ secret: secretName }, 'certificate generated and stored');
        bundle = fresh;
      } else {
        stored = await api.readSecret(namespace, secretName);
        if (!stored) throw new Error(`secret ${namespace}/${secretName} exists but cannot be read`);
        log.info({ secret: secretName }, 'secret created by another writer found');
      }
    }
    if (!bundle && stored) {
      if (!this.needsRenewal(stored.bundle)) {
        bundle = stored.bundle;
      } else {
        // Missing data (a placeholder Secret), near expiry, wrong names or a mismatched key.
        const fresh = await this.generate(stored.bundle);
        if (await api.replaceSecret(namespace, secretName, fresh, stored.resourceVersion)) {
          log.info({ secret: secretName }, 'certificate rotated');
          bundle = fresh;
        } else {
          const again = await api.readSecret(namespace, secretName);
          if (!again) throw new Error(`secret ${namespace}/${secretName} vanished during rotation`);
          log.info({ secret: secretName }, 'certificate rotated by another replica taken');
          bundle = again.bundle;
        }
      }
    }
    if (!bundle) throw new Error(`secret ${namespace}/${secretName}: no certificate`);
    await this.ensureCaBundle(bundle.ca);
    this.current = bundle;
    return bundle;
  }

  private async ensureCaBundle(ca: string): Promise<void> {
    const { api, webhookConfigName, log } = this.opts;
    const bundles = await api.readCaBundles(webhookConfigName);
    if (bundles.length > 0 && bundles.every((b) => b === ca)) return;
    await api.patchCaBundles(webhookConfigName, ca);
    log.info({ webhookConfiguration: webhookConfigName, entries: bundles.length }, 'caBundle patched');
  }

  /** Re-checks every intervalMs; calls onChange when the serving pair changed (rotation). */
  start(intervalMs: number, onChange: (b: CertBundle) => void): void {
    this.timer = setInterval(() => {
      this.running = this.running.then(async () => {
        const before = this.current;
        try {
          const after = await this.ensure();
          if (!before || after.cert !== before.cert || after.key !== before.key) onChange(after);
        } catch (err: unknown) {
          this.opts.log.warn({ err }, 'certificate check failed; will retry');
        }
      });
    }, intervalMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
