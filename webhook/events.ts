/**
 * Kubernetes Events for skips and denials (issue 15), on the pod's owner (the ReplicaSet, Job,
 * StatefulSet, DaemonSet... in the pod's ownerReferences) because the pod of a denial never exists
 * and a skipped pod's name is often not known yet; on the Namespace when the pod has no owner.
 *
 * An Event must never slow or fail an admission: record() only queues and returns. Each owner +
 * reason is reported at most once per window (a crash-looping ReplicaSet retries its pods every
 * few seconds); the memory for that is bounded, and so is the number of sends in flight. A failed
 * send is logged and counted, nothing more. Dry-run admissions emit nothing (sideEffects
 * NoneOnDryRun), and neither do re-invocations (INJ_SKIP_ALREADY_INJECTED) or non-CREATE requests.
 */
import type { ErrorCode } from '../common/error-codes/registry.ts';
import type { Logger } from '../common/logger.ts';
import type { Registry } from '../common/metrics.ts';
import type { Admission } from './admission/admit.ts';
import { skipWarning } from './admission/report.ts';
import type { AdmissionRequest } from './admission/review.ts';

/** What an Event is about (events.k8s.io/v1 `regarding`). */
export interface EventSubject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  /** Absent for the Namespace (cluster-scoped). */
  readonly namespace?: string;
  readonly uid?: string;
}

export interface EventToSend {
  /** The namespace the Event is stored in. */
  readonly namespace: string;
  readonly regarding: EventSubject;
  readonly type: 'Normal' | 'Warning';
  /** The reason code (INJ_...), so `kubectl get events --field-selector reason=...` finds it. */
  readonly reason: ErrorCode;
  readonly note: string;
}

export type EventSender = (event: EventToSend) => Promise<void>;

/** One Event per owner and reason within this window. */
export const EVENT_WINDOW_MS = 60_000;
/** Owner + reason keys remembered; past this, expired keys go, then the oldest. */
export const EVENT_KEYS_MAX = 4096;
/** Sends in flight; an Event beyond this is dropped (and counted), never queued without bound. */
export const EVENT_IN_FLIGHT_MAX = 64;
/** events.k8s.io/v1 `note` limit. */
const NOTE_MAX = 1024;

/** Skips that are the webhook's own bookkeeping, not news for an operator. */
const SILENT = new Set<ErrorCode>(['INJ_SKIP_ALREADY_INJECTED', 'INJ_SKIP_NOT_POD_CREATE']);
/** Skips an operator likely did not intend: a Warning, like a denial. */
const WARNING_SKIPS = new Set<ErrorCode>([
  'INJ_SKIP_NO_TRUSTED_SOURCES',
  'INJ_SKIP_NO_INTERCEPTED_PORTS',
  'INJ_SKIP_MALFORMED_POD',
]);

interface OwnerRef {
  apiVersion?: unknown;
  kind?: unknown;
  name?: unknown;
  uid?: unknown;
  controller?: unknown;
}

/**
 * The Event's subject and namespace: the pod's controller (else its first owner), or, with no
 * owner, the Namespace itself (whose Events live in "default", as the API server requires for a
 * cluster-scoped subject). undefined when the request names no namespace.
 */
export function eventSubjectOf(
  request: AdmissionRequest,
): { namespace: string; regarding: EventSubject } | undefined {
  const ns = request.namespace;
  if (ns === undefined || ns === '') return undefined;
  const meta = (request.object as { metadata?: { ownerReferences?: unknown } } | undefined)?.metadata;
  const refs = Array.isArray(meta?.ownerReferences) ? (meta.ownerReferences as OwnerRef[]) : [];
  const valid = refs.filter(
    (r) =>
      typeof r === 'object' &&
      r !== null &&
      typeof r.apiVersion === 'string' &&
      typeof r.kind === 'string' &&
      typeof r.name === 'string' &&
      r.name !== '',
  );
  const owner = valid.find((r) => r.controller === true) ?? valid[0];
  if (owner !== undefined) {
    return {
      namespace: ns,
      regarding: {
        apiVersion: owner.apiVersion as string,
        kind: owner.kind as string,
        name: owner.name as string,
        namespace: ns,
        ...(typeof owner.uid === 'string' && owner.uid !== '' ? { uid: owner.uid } : {}),
      },
    };
  }
  return { namespace: 'default', regarding: { apiVersion: 'v1', kind: 'Namespace', name: ns } };
}

function podLabel(request: AdmissionRequest): string {
  const meta = (request.object as { metadata?: { name?: unknown; generateName?: unknown } } | undefined)
    ?.metadata;
  if (typeof meta?.name === 'string' && meta.name !== '') return `pod ${meta.name}`;
  if (typeof meta?.generateName === 'string' && meta.generateName !== '') return `pod ${meta.generateName}*`;
  return 'a pod';
}

/** The Events one admission should produce (pure): one per reason of a skip or a denial. */
export function eventsFor(request: AdmissionRequest, admission: Admission): EventToSend[] {
  if (admission.result === 'injected' || request.dryRun === true) return [];
  const target = eventSubjectOf(request);
  if (target === undefined) return [];
  const where = `${podLabel(request)} in namespace ${request.namespace}`;
  const denial = admission.review.response.status?.message;
  const out: EventToSend[] = [];
  for (const reason of admission.reasons) {
    if (SILENT.has(reason)) continue;
    const denied = admission.result === 'denied';
    const text = denied ? `denied ${where}: ${denial ?? reason}` : `${skipWarning(reason)} (${where})`;
    out.push({
      ...target,
      type: denied || WARNING_SKIPS.has(reason) ? 'Warning' : 'Normal',
      reason,
      note: text.length > NOTE_MAX ? `${text.slice(0, NOTE_MAX - 3)}...` : text,
    });
  }
  return out;
}

export interface EventRecorderOptions {
  readonly send: EventSender;
  readonly log: Logger;
  readonly registry: Registry;
  readonly now?: () => number;
  readonly windowMs?: number;
  readonly maxKeys?: number;
  readonly maxInFlight?: number;
  /** Per send; a slower API server counts as a failure. */
  readonly timeoutMs?: number;
}

export class EventRecorder {
  private readonly o: EventRecorderOptions;
  private readonly last = new Map<string, number>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counter;
  private readonly now: () => number;

  constructor(o: EventRecorderOptions) {
    this.o = o;
    this.now = o.now ?? Date.now;
    this.counter = o.registry.counter(
      'realip_webhook_events_total',
      'Kubernetes Events for skips and denials by result (sent, suppressed, dropped, failed)',
    );
  }

  /** Queues the Events of one admission; returns at once, never throws. */
  record(request: AdmissionRequest, admission: Admission): void {
    try {
      for (const event of eventsFor(request, admission)) this.submit(event);
    } catch (err: unknown) {
      this.o.log.warn({ err, code: 'WH_EVENT_FAILED' }, 'event not recorded');
      this.counter.inc({ result: 'failed' });
    }
  }

  /** Resolves when every send started so far has ended (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private submit(event: EventToSend): void {
    const r = event.regarding;
    const key = `${event.namespace}/${r.kind}/${r.namespace ?? ''}/${r.name}/${event.reason}`;
    const now = this.now();
    const window = this.o.windowMs ?? EVENT_WINDOW_MS;
    const at = this.last.get(key);
    if (at !== undefined && now - at < window) {
      this.counter.inc({ result: 'suppressed' });
      return;
    }
    if (this.inFlight.size >= (this.o.maxInFlight ?? EVENT_IN_FLIGHT_MAX)) {
      this.counter.inc({ result: 'dropped' });
      return;
    }
    this.remember(key, now, window);
    const timeoutMs = this.o.timeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const p: Promise<void> = Promise.race([Promise.resolve().then(() => this.o.send(event)), timeout])
      .then(
        () => this.counter.inc({ result: 'sent' }),
        (err: unknown) => {
          this.counter.inc({ result: 'failed' });
          const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
          this.o.log.warn(
            { code: 'WH_EVENT_FAILED', reason: event.reason, regarding: `${r.kind}/${r.name}`, err: message },
            'event not recorded',
          );
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }

  private remember(key: string, now: number, window: number): void {
    this.last.delete(key); // re-inserted last: the Map's order is oldest first
    this.last.set(key, now);
    const max = this.o.maxKeys ?? EVENT_KEYS_MAX;
    if (this.last.size <= max) return;
    for (const [k, t] of this.last) if (now - t >= window) this.last.delete(k);
    while (this.last.size > max) this.last.delete(this.last.keys().next().value as string);
  }
}
