/**
 * Starts the webhook: TLS material (files with hot reload, or self-managed), the HTTPS app on
 * --port and the plain metrics app on --metrics-port. Returns a handle whose close() drains
 * gracefully. No process.* here: main.ts owns signals and exit codes; tests call this directly.
 */
import type { Server } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../common/logger.ts';
import type { InjectionDefaults } from './admission/decide.ts';
import { buildApp, buildMetricsApp, type HealthState } from './app.ts';
import { certificateExpiry } from './certs.ts';
import { EventRecorder, type EventSender } from './events.ts';
import type { NamespaceLookup } from './kube.ts';
import type { TlsConfig } from './config.ts';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { type KubeCertApi, SelfManagedCerts } from './self-managed.ts';
import { FileCertWatcher, type TlsMaterial } from './cert-files.ts';

export interface StartOptions {
  readonly port: number;
  readonly host: string;
  readonly metricsPort: number;
  readonly tls: TlsConfig;
  readonly defaults: InjectionDefaults;
  readonly log: Logger;
  /** Self-managed mode only. */
  readonly kube?: KubeCertApi;
  /** Reads the pods' namespaces for the decision (Pod Security, meshes, namespace defaults). */
  readonly namespaces?: NamespaceLookup;
  /** Self-managed: how often the Secret and caBundle are re-checked (default 1 h). */
  readonly certCheckIntervalMs?: number;
  /** Default REQUEST_TIMEOUT_MS (30 s); shorter in tests. */
  readonly requestTimeoutMs?: number;
  /** Sends the Kubernetes Events of skips and denials; absent: none. */
  readonly eventSender?: EventSender;
}

export interface RunningWebhook {
  readonly port: number;
  readonly metricsPort: number;
  readonly app: FastifyInstance;
  readonly metrics: WebhookMetrics;
  readonly state: HealthState;
  close(): Promise<void>;
}

function boundPort(app: FastifyInstance): number {
  const a = app.server.address();
  return typeof a === 'object' && a !== null ? a.port : 0;
}

export async function startWebhook(o: StartOptions): Promise<RunningWebhook> {
  const metrics = createWebhookMetrics();
  const state: HealthState = { ready: false };
  let material: TlsMaterial;
  let swap: (m: TlsMaterial) => void = () => {};
  const setExpiry = (cert: string) => {
    const exp = certificateExpiry(cert);
    if (exp) metrics.certExpiry.set(Math.floor(exp.getTime() / 1000));
  };
  const onNew = (m: TlsMaterial) => {
    swap(m);
    setExpiry(m.cert);
    metrics.tlsReloads.inc();
  };
  let stopTls: () => Promise<void> | void;
  if (o.tls.mode === 'files') {
    const watcher = new FileCertWatcher({
      certFile: o.tls.certFile,
      keyFile: o.tls.keyFile,
      pollIntervalMs: o.tls.pollIntervalMs,
      log: o.log,
      onReload: onNew,
    });
    material = watcher.material;
    watcher.start();
    stopTls = () => watcher.close();
  } else {
    if (!o.kube) throw new Error('self-managed TLS needs a Kubernetes client');
    const certs = new SelfManagedCerts({
      api: o.kube,
      namespace: o.tls.namespace,
      secretName: o.tls.secretName,
      serviceName: o.tls.serviceName,
      webhookConfigName: o.tls.webhookConfigName,
      extraSans: o.tls.extraSans,
      log: o.log,
    });
    const bundle = await certs.ensure();
    material = { cert: bundle.cert, key: bundle.key };
    certs.start(o.certCheckIntervalMs ?? 3_600_000, (b) => onNew({ cert: b.cert, key: b.key }));
    stopTls = () => certs.close();
  }
  setExpiry(material.cert);

  const events =
    o.eventSender !== undefined
      ? new EventRecorder({ send: o.eventSender, log: o.log, registry: metrics.registry })
      : undefined;
  const app = buildApp({
    defaults: o.defaults,
    log: o.log,
    metrics,
    https: material,
    ...(o.namespaces !== undefined ? { namespaces: o.namespaces } : {}),
    ...(o.requestTimeoutMs !== undefined ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
    ...(events !== undefined ? { events } : {}),
  });
  swap = (m) => (app.server as Server).setSecureContext({ cert: m.cert, key: m.key });
  const metricsApp = buildMetricsApp({ metrics, state, log: o.log });
  try {
    await app.listen({ port: o.port, host: o.host });
    await metricsApp.listen({ port: o.metricsPort, host: o.host });
  } catch (err: unknown) {
    await stopTls();
    await app.close();
    await metricsApp.close();
    throw err;
  }
  state.ready = true;
  const port = boundPort(app);
  const metricsPort = boundPort(metricsApp);
  o.log.info({ port, metricsPort, tls: o.tls.mode }, 'webhook listening');
  return {
    port,
    metricsPort,
    app,
    metrics,
    state,
    async close() {
      state.ready = false;
      await stopTls();
      await app.close(); // stops accepting, finishes in-flight requests, closes idle keep-alives
      await metricsApp.close();
      await events?.flush();
    },
  };
}
