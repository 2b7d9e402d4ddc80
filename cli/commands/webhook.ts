/**
 * `realip webhook`: the only webhook file that touches process.*. Config -> logger -> native
 * sidecar detection (auto) -> start -> on SIGTERM/SIGINT: not ready, drain, exit 0.
 */
import { hostname } from 'node:os';
import { type Command, type Io, untilStopped } from '../../common/command.ts';
import type { ErrorCode } from '../../common/error-codes/registry.ts';
import { failureLine, isRealipError, UNEXPECTED } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { renderHelp } from '../../common/option-schema.ts';
import {
  parseWebhookConfig,
  resolveDefaults,
  WEBHOOK_OPTIONS,
  type WebhookConfig,
} from '../../webhook/config.ts';
import {
  detectNativeSidecar,
  isFallbackConfig,
  kubeCertApi,
  kubeEventSender,
  loadKubeConfig,
  namespaceLookup,
} from '../../webhook/kube.ts';
import { startWebhook } from '../../webhook/server.ts';

export const WEBHOOK_USAGE = renderHelp(
  'realip webhook [options]',
  'Serves the mutating admission webhook (POST /mutate over HTTPS) that injects the realip sidecar.',
  WEBHOOK_OPTIONS,
);

/** A port that cannot be bound is the common start failure; say so by code. */
function startCode(err: unknown): ErrorCode {
  const errno = (err as { code?: unknown }).code;
  return errno === 'EADDRINUSE' || errno === 'EACCES' || errno === 'EADDRNOTAVAIL'
    ? 'WH_LISTEN_FAILED'
    : UNEXPECTED;
}

export const command: Command<WebhookConfig> = {
  name: 'webhook',
  help: WEBHOOK_USAGE,
  parse: (argv, env) => parseWebhookConfig(argv, env).config,
  run,
};

async function run(config: WebhookConfig, io: Io): Promise<number> {
  const log = createLogger('realip-webhook', config.logLevel);
  let running: Awaited<ReturnType<typeof startWebhook>>;
  try {
    // The API server is read for the namespaces of admitted pods (Pod Security, meshes, defaults)
    // whenever a kubeconfig or the in-cluster config is there.
    const loaded = loadKubeConfig();
    const kc = isFallbackConfig(loaded) ? undefined : loaded;
    if (kc === undefined) {
      log.warn('no kubeconfig: namespaces are not read (no Pod Security level, no namespace defaults)');
    }
    const server =
      config.injection.nativeSidecar === 'auto'
        ? await detectNativeSidecar(loaded, log)
        : { nativeSidecar: false, nativeSidecarNamedPorts: false };
    const defaults = resolveDefaults(config.injection, server);
    if (defaults.trustedCidrs.length === 0) {
      log.warn('no trusted CIDRs: injected sidecars refuse every PROXY header (set --trusted-cidrs)');
    }
    log.info({ defaults }, 'injection defaults');
    running = await startWebhook({
      port: config.port,
      host: config.host,
      metricsPort: config.metricsPort,
      tls: config.tls,
      defaults,
      log,
      ...(config.tls.mode === 'self-managed' ? { kube: kubeCertApi(loaded) } : {}),
      ...(kc !== undefined
        ? { namespaces: namespaceLookup(kc, log), eventSender: kubeEventSender(kc, hostname()) }
        : {}),
    });
  } catch (err: unknown) {
    log.error({ err }, 'webhook failed to start');
    log.flush();
    io.stderr(failureLine('webhook', err, isRealipError(err) ? undefined : startCode(err)));
    return 1;
  }
  // A bad request must never take the process down; anything that escapes is logged, not fatal.
  process.on('uncaughtException', (err) => log.error({ err }, 'uncaught exception'));
  process.on('unhandledRejection', (err) => log.error({ err }, 'unhandled rejection'));
  const signal = await untilStopped();
  running.state.ready = false;
  log.info({ signal, delayMs: config.shutdownDelayMs }, 'shutting down');
  if (config.shutdownDelayMs > 0) await new Promise((r) => setTimeout(r, config.shutdownDelayMs));
  await running.close();
  log.info('stopped');
  log.flush();
  return 0;
}
