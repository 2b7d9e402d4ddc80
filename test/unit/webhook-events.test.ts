// The Event recorder's bounds: one Event per owner and reason per window, bounded memory, bounded
// sends in flight, a slow or failing API server never felt by the admission.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { silentLogger } from '../../common/logger.ts';
import { Registry } from '../../common/metrics.ts';
import type { Admission } from '../../webhook/admission/admit.ts';
import type { AdmissionRequest } from '../../webhook/admission/review.ts';
import { EventRecorder, type EventToSend, eventSubjectOf, eventsFor } from '../../webhook/events.ts';

const skipped: Admission = {
  review: {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    response: { uid: 'u', allowed: true },
  },
  result: 'skipped',
  reasons: ['INJ_SKIP_NO_PORTS'],
};
function request(owner: string | undefined, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'u',
    namespace: 'shop',
    object: {
      metadata: {
        generateName: 'web-',
        ...(owner !== undefined
          ? {
              ownerReferences: [
                { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: owner, uid: 'x', controller: true },
              ],
            }
          : {}),
      },
    },
    ...extra,
  };
}
const count = (r: Registry, result: string) =>
  Number(new RegExp(`result="${result}"\\} (\\d+)`).exec(r.render())?.[1] ?? 0);

test('subject: the controller owner, else the Namespace (stored in default)', () => {
  assert.deepEqual(eventSubjectOf(request('web')), {
    namespace: 'shop',
    regarding: { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', namespace: 'shop', uid: 'x' },
  });
  assert.deepEqual(eventSubjectOf(request(undefined)), {
    namespace: 'default',
    regarding: { apiVersion: 'v1', kind: 'Namespace', name: 'shop' },
  });
  assert.equal(eventSubjectOf({ uid: 'u' }), undefined);
});

test('no Event for injections, dry runs and re-invocations', () => {
  assert.deepEqual(eventsFor(request('web', { dryRun: true }), skipped), []);
  assert.deepEqual(
    eventsFor(request('web'), { ...skipped, result: 'injected', reasons: ['INJ_INJECTED'] }),
    [],
  );
  assert.deepEqual(eventsFor(request('web'), { ...skipped, reasons: ['INJ_SKIP_ALREADY_INJECTED'] }), []);
  const [e] = eventsFor(request('web'), skipped);
  assert.equal(e?.reason, 'INJ_SKIP_NO_PORTS');
  assert.match(e?.note ?? '', /pod web-\* in namespace shop/);
});

test('one Event per owner and reason per window; memory stays bounded', async () => {
  let clock = 0;
  const sent: EventToSend[] = [];
  const registry = new Registry();
  const rec = new EventRecorder({
    send: async (e) => {
      sent.push(e);
    },
    log: silentLogger(),
    registry,
    now: () => clock,
    windowMs: 1000,
    maxKeys: 10,
    maxInFlight: 2000,
  });
  for (let i = 0; i < 5; i++) rec.record(request('web'), skipped);
  await rec.flush();
  assert.equal(sent.length, 1);
  assert.equal(count(registry, 'suppressed'), 4);
  clock = 1000;
  rec.record(request('web'), skipped);
  await rec.flush();
  assert.equal(sent.length, 2, 'a new window, a new Event');
  for (let i = 0; i < 1000; i++) rec.record(request(`rs-${i}`), skipped);
  await rec.flush();
  assert.equal(sent.length, 1002);
  assert.ok((rec as unknown as { last: Map<string, number> }).last.size <= 10);
});

test('a hanging API server: record() returns at once, sends in flight are capped, then time out', async () => {
  const registry = new Registry();
  const rec = new EventRecorder({
    send: () => new Promise<void>(() => {}),
    log: silentLogger(),
    registry,
    maxInFlight: 3,
    timeoutMs: 50,
  });
  const started = performance.now();
  for (let i = 0; i < 10; i++) rec.record(request(`rs-${i}`), skipped);
  assert.ok(performance.now() - started < 20, 'record() does not wait for the send');
  assert.equal(count(registry, 'dropped'), 7);
  await rec.flush();
  assert.equal(count(registry, 'failed'), 3);
});

test('a sender that throws synchronously is counted, never thrown', async () => {
  const registry = new Registry();
  const rec = new EventRecorder({
    send: () => {
      throw new Error('boom');
    },
    log: silentLogger(),
    registry,
  });
  rec.record(request('web'), skipped);
  await rec.flush();
  assert.equal(count(registry, 'failed'), 1);
});
