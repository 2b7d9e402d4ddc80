/**
 * The webhook's HTTP apps, built and never listened on here (tests use inject()):
 *   buildApp         POST /mutate (HTTPS in production)
 *   buildMetricsApp  GET /healthz /readyz /metrics (plain HTTP, separate port)
 * Every malformed request gets a 4xx with a code and a reason; an unexpected failure while
 * deciding is answered as a denial inside a valid AdmissionReview (HTTP 200), never a crash.
 */
import type { Socket } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, LogController } from 'fastify';
import { type CodeOf, codeMessage, type HttpCode, httpStatus } from '../common/error-codes/registry.ts';
import { codeText } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../common/metrics.ts';
import { type Admission, admit } from './admission/admit.ts';
import type { InjectionDefaults } from './admission/decide.ts';
import { NO_NAMESPACE, type NamespaceView } from './admission/namespace.ts';
import { type AdmissionRequest, deny, parseReview } from './admission/review.ts';
import type { WebhookMetrics } from './metrics.ts';

/** Real pods with many containers and large annotations stay far below this; etcd's limit is 1.5 MiB. */
export const BODY_LIMIT_BYTES = 3 * 1024 * 1024;
/** Longer than the API server's idle connection timeout (90 s), so it is the one that closes. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** The whole request (head and body) must arrive within this; the client then gets a 408 and a close. */
export const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Node does not time requests one by one: a sweep checks every connection each
 * connectionsCheckingInterval (default 30 s), so a 30 s timeout fired anywhere from 30 s to a full
 * sweep later, depending on where in the cycle the request began. Sweeping a twentieth of the
 * timeout (at most once a second) keeps it within 5 % (1 s at 30 s).
 */
export function timeoutSweepMs(requestTimeoutMs: number): number {
  return Math.max(10, Math.min(1000, Math.floor(requestTimeoutMs / 20)));
}
/** A client that does not finish its TLS handshake in time is dropped (slowloris at the TLS layer). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export interface AppOptions {
  readonly defaults: InjectionDefaults;
  readonly log: Logger;
  readonly metrics: WebhookMetrics;
  readonly https?: { readonly cert: string; readonly key: string };
  /** Reads the pod's namespace (Pod Security, meshes, namespace defaults); absent: not looked up. */
  readonly namespaces?: (name: string) => Promise<NamespaceView>;
  /** Default REQUEST_TIMEOUT_MS; shorter in tests. */
  readonly requestTimeoutMs?: number;
  /** Kubernetes Events for skips and denials; record() queues and returns at once. */
  readonly events?: { record(request: AdmissionRequest, admission: Admission): void };
}

/** Fastify's 4xx errors, by the status the registry declares for our code of each. */
const STATUS_CODES: Readonly<Record<number, CodeOf<'WH'>>> = Object.fromEntries(
  (
    [
      'WH_BAD_REQUEST',
      'WH_NOT_FOUND',
      'WH_METHOD_NOT_ALLOWED',
      'WH_REQUEST_TIMEOUT',
      'WH_BODY_TOO_LARGE',
      'WH_UNSUPPORTED_MEDIA_TYPE',
    ] as const satisfies readonly (CodeOf<'WH'> & HttpCode)[]
  ).map((code) => [httpStatus(code), code]),
);

function ignore(): void {}

function codeFor(status: number): CodeOf<'WH'> {
  return STATUS_CODES[status] ?? 'WH_BAD_REQUEST';
}

export function buildApp(opts: AppOptions): FastifyInstance {
  const { defaults, metrics } = opts;
  const requestTimeout = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  // Node's default headersTimeout is min(60 s, requestTimeout); pinned so it never outlasts it.
  const serverTimeouts = {
    requestTimeout,
    headersTimeout: requestTimeout,
    connectionsCheckingInterval: timeoutSweepMs(requestTimeout),
  };
  const app = Fastify({
    loggerInstance: opts.log,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    requestTimeout,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: false,
    ...(opts.https
      ? {
          https: {
            cert: opts.https.cert,
            key: opts.https.key,
            handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
            ...serverTimeouts,
          },
        }
      : { http: serverTimeouts }),
  }) as unknown as FastifyInstance;

  if (opts.https) {
    // Node's HTTP server reads a TLS socket through the parser directly ("consumed"); with
    // pipelined requests under write backpressure that path can hit the paused parser and reset
    // the connection (HPE_PAUSED, reproducible with plain https.createServer on Node 24). A 'data'
    // listener makes Node feed the parser from 'data' events instead, whose pause/resume is sound.
    app.server.on('secureConnection', (socket: Socket) => socket.on('data', ignore));
  }

  // The API server sends application/json; nothing else is an AdmissionReview.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status =
      err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 0;
    if (status === 0) {
      req.log.error({ err }, 'unexpected error');
      metrics.admissions.inc({ result: 'error', reason: 'WH_INTERNAL' });
      // Without a parsed uid no AdmissionReview can be built; a 4xx with the code, never a 5xx.
      return reply.code(400).send({ code: 'WH_INTERNAL', message: codeMessage('WH_INTERNAL') });
    }
    const code = codeFor(status);
    metrics.admissions.inc({ result: 'rejected', reason: code });
    req.log.info({ code, fastifyCode: err.code, status }, 'request rejected');
    return reply.code(status).send({ code, message: err.message });
  });
  app.setNotFoundHandler((req, reply) => {
    metrics.admissions.inc({ result: 'rejected', reason: 'WH_NOT_FOUND' });
    return reply
      .code(httpStatus('WH_NOT_FOUND'))
      .send({ code: 'WH_NOT_FOUND', message: `no route ${req.method} ${req.url}` });
  });

  app.post('/mutate', async (req, reply) => {
    const started = performance.now();
    const parsed = parseReview(req.body);
    if ('problem' in parsed) {
      metrics.admissions.inc({ result: 'rejected', reason: 'WH_BAD_REVIEW' });
      req.log.info({ code: 'WH_BAD_REVIEW', problem: parsed.problem }, 'request rejected');
      return reply.code(httpStatus('WH_BAD_REVIEW')).send({ code: 'WH_BAD_REVIEW', message: parsed.problem });
    }
    const { request } = parsed;
    let admission: Admission;
    try {
      const ns = request.namespace;
      const view =
        opts.namespaces !== undefined && ns !== undefined && ns !== ''
          ? await opts.namespaces(ns)
          : NO_NAMESPACE;
      admission = admit(parsed, defaults, view);
    } catch (err: unknown) {
      req.log.error({ err, uid: request.uid }, 'admission failed');
      admission = {
        review: deny(
          parsed.apiVersion,
          request.uid,
          `realip: ${codeText('WH_INTERNAL', 'the webhook could not process this pod')}`,
          500,
          'InternalError',
        ),
        result: 'denied',
        reasons: ['WH_INTERNAL'],
      };
    }
    for (const reason of admission.reasons) metrics.admissions.inc({ result: admission.result, reason });
    metrics.duration.observe((performance.now() - started) / 1000);
    opts.events?.record(request, admission);
    req.log.info(
      {
        uid: request.uid,
        namespace: request.namespace,
        pod: request.name ?? podName(request.object),
        dryRun: request.dryRun === true,
        result: admission.result,
        reasons: admission.reasons,
        listeners: admission.listeners,
      },
      'admission',
    );
    return admission.review;
  });
  return app;
}

function podName(obj: unknown): string | undefined {
  const meta = (obj as { metadata?: { name?: unknown; generateName?: unknown } } | undefined)?.metadata;
  const n = meta?.name ?? meta?.generateName;
  return typeof n === 'string' ? n : undefined;
}

export interface HealthState {
  ready: boolean;
}

export function buildMetricsApp(opts: {
  metrics: WebhookMetrics;
  state: HealthState;
  log: Logger;
}): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.log,
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance;
  app.get('/healthz', async () => 'ok\n');
  app.get('/readyz', async (_req, reply) =>
    opts.state.ready ? reply.send('ready\n') : reply.code(503).send('not ready\n'),
  );
  app.get('/metrics', async (_req, reply) =>
    reply.header('content-type', PROMETHEUS_CONTENT_TYPE).send(opts.metrics.registry.render()),
  );
  return app;
}
