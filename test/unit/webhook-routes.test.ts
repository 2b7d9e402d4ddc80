// Route tests through fastify inject(): POST /mutate, malformed and fuzzed bodies (never a 5xx),
// the metrics app, and the counters that record every outcome.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { silentLogger } from '../../common/logger.ts';
import { buildApp, buildMetricsApp } from '../../webhook/app.ts';
import { createWebhookMetrics } from '../../webhook/metrics.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';

const FIX = new URL('../fixtures/admission/', import.meta.url).pathname;
const fixture = (name: string) => JSON.parse(readFileSync(`${FIX}${name}.review.json`, 'utf8'));

function setup() {
  const metrics = createWebhookMetrics();
  const app = buildApp({ defaults: TEST_DEFAULTS, log: silentLogger(), metrics });
  return { app, metrics };
}

test('POST /mutate injects a typical pod: same uid, base64 JSONPatch, counted', async (t) => {
  const { app, metrics } = setup();
  t.after(() => app.close());
  const review = fixture('web-deployment');
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.equal(body.apiVersion, 'admission.k8s.io/v1');
  assert.equal(body.kind, 'AdmissionReview');
  assert.equal(body.response.uid, review.request.uid);
  assert.equal(body.response.allowed, true);
  assert.equal(body.response.patchType, 'JSONPatch');
  const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString());
  assert.ok(ops.some((o: { path: string }) => o.path === '/metadata/annotations/realip.dev~1status'));
  assert.equal(metrics.admissions.get({ result: 'injected', reason: 'INJ_INJECTED' }), 1);
});

test("POST /mutate reads the pod's namespace: restricted means port mode", async (t) => {
  const metrics = createWebhookMetrics();
  const asked: string[] = [];
  const app = buildApp({
    defaults: TEST_DEFAULTS,
    log: silentLogger(),
    metrics,
    namespaces: async (name) => {
      asked.push(name);
      return {
        state: 'known',
        ns: { name, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' }, annotations: {} },
      };
    },
  });
  t.after(() => app.close());
  const review = fixture('web-deployment');
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
  const body = res.json();
  assert.equal(body.response.allowed, true);
  const ops = JSON.parse(Buffer.from(body.response.patch, 'base64').toString()) as {
    path: string;
    value: unknown;
  }[];
  const status = ops.find((o) => o.path === '/metadata/annotations/realip.dev~1status')!;
  assert.equal(JSON.parse(status.value as string).steering, 'port');
  assert.ok(!JSON.stringify(ops).includes('realip-init'), 'no init container');
  assert.deepEqual(asked, [review.request.namespace]);
  assert.match(body.response.warnings.join('\n'), /Pod Security "restricted" is enforced/);
});

test('v1beta1 is answered as v1beta1', async (t) => {
  const { app } = setup();
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: fixture('web-v1beta1') });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().apiVersion, 'admission.k8s.io/v1beta1');
});

test('skips carry no patch and say why in warnings and metrics', async (t) => {
  const { app, metrics } = setup();
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: fixture('skip-host-network') });
  const r = res.json().response;
  assert.equal(r.allowed, true);
  assert.equal(r.patch, undefined);
  assert.equal(r.patchType, undefined);
  assert.match(r.warnings[0], /INJ_SKIP_HOST_NETWORK/);
  assert.equal(metrics.admissions.get({ result: 'skipped', reason: 'INJ_SKIP_HOST_NETWORK' }), 1);
});

test('an invalid annotation denies with the annotation, the value and what is expected', async (t) => {
  const { app, metrics } = setup();
  t.after(() => app.close());
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: fixture('deny-invalid') });
  assert.equal(res.statusCode, 200);
  const r = res.json().response;
  assert.equal(r.allowed, false);
  assert.match(
    r.status.message,
    /realip\.dev\/proxy: "sometimes" is not valid; expected one of required, optional/,
  );
  assert.match(r.status.message, /realip\.dev\/ports: "8080=h2"/);
  assert.equal(metrics.admissions.get({ result: 'denied', reason: 'INJ_INVALID_ANNOTATION' }), 1);
});

const malformed: [
  string,
  { payload: string | Buffer; contentType?: string; method?: string; url?: string },
  number,
  string,
][] = [
  ['invalid JSON', { payload: '{"kind": "AdmissionReview",' }, 400, 'WH_BAD_REQUEST'],
  ['empty body', { payload: '' }, 400, 'WH_BAD_REQUEST'],
  ['JSON array', { payload: '[]' }, 400, 'WH_BAD_REVIEW'],
  ['JSON string', { payload: '"hello"' }, 400, 'WH_BAD_REVIEW'],
  ['JSON null', { payload: 'null' }, 400, 'WH_BAD_REVIEW'],
  ['wrong kind', { payload: '{"kind":"Pod","apiVersion":"v1"}' }, 400, 'WH_BAD_REVIEW'],
  [
    'unknown version',
    { payload: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v2","request":{"uid":"a"}}' },
    400,
    'WH_BAD_REVIEW',
  ],
  [
    'no request',
    { payload: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}' },
    400,
    'WH_BAD_REVIEW',
  ],
  [
    'no uid',
    { payload: '{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{}}' },
    400,
    'WH_BAD_REVIEW',
  ],
  ['proto poisoning', { payload: '{"kind":"AdmissionReview","__proto__":{"x":1}}' }, 400, 'WH_BAD_REQUEST'],
  ['text/plain', { payload: 'hi', contentType: 'text/plain' }, 415, 'WH_UNSUPPORTED_MEDIA_TYPE'],
  ['GET /mutate', { payload: '', method: 'GET' }, 404, 'WH_NOT_FOUND'],
  ['unknown route', { payload: '{}', url: '/validate' }, 404, 'WH_NOT_FOUND'],
  ['4 MiB body', { payload: Buffer.alloc(4 * 1024 * 1024, 0x20) }, 413, 'WH_BODY_TOO_LARGE'],
];

for (const [what, req, status, code] of malformed) {
  test(`malformed request (${what}) -> ${status} ${code} with a reason`, async (t) => {
    const { app } = setup();
    t.after(() => app.close());
    const res = await app.inject({
      method: (req.method ?? 'POST') as 'POST',
      url: req.url ?? '/mutate',
      payload: req.payload,
      headers: { 'content-type': req.contentType ?? 'application/json' },
    });
    assert.equal(res.statusCode, status, res.body);
    const body = res.json();
    assert.equal(body.code, code);
    assert.ok(typeof body.message === 'string' && body.message.length > 0);
  });
}

test('a pod that is not shaped like a pod is admitted untouched with a warning naming the field', async (t) => {
  const { app } = setup();
  t.after(() => app.close());
  const review = fixture('web-deployment');
  review.request.object.spec.containers = { nginx: {} };
  const res = await app.inject({ method: 'POST', url: '/mutate', payload: review });
  assert.equal(res.statusCode, 200);
  const r = res.json().response;
  assert.equal(r.allowed, true);
  assert.equal(r.patch, undefined);
  assert.match(r.warnings[0], /INJ_SKIP_MALFORMED_POD.*object\.spec\.containers/);
});

test('fuzz: arbitrary JSON bodies and mangled reviews never produce a 5xx', async (t) => {
  const { app } = setup();
  t.after(() => app.close());
  const base = fixture('web-deployment');
  // Replace one random node of a real review with random JSON.
  const mangled = fc
    .tuple(fc.array(fc.string({ maxLength: 12 }), { maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }))
    .map(([path, value]) => {
      const doc = structuredClone(base);
      let node: Record<string, unknown> = doc;
      for (const seg of path) {
        const keys = Object.keys(node);
        if (keys.length === 0) break;
        const k = keys[seg.length % keys.length]!;
        const next = node[k];
        if (typeof next !== 'object' || next === null) {
          node[k] = value;
          return doc;
        }
        node = next as Record<string, unknown>;
      }
      const keys = Object.keys(node);
      if (keys.length > 0) node[keys[0]!] = value;
      return doc;
    });
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.jsonValue(), mangled), async (body) => {
      const res = await app.inject({
        method: 'POST',
        url: '/mutate',
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      assert.ok(
        res.statusCode < 500,
        `status ${res.statusCode} for ${JSON.stringify(body).slice(0, 200)}: ${res.body}`,
      );
      if (res.statusCode === 200) {
        const r = res.json();
        assert.equal(r.kind, 'AdmissionReview');
        assert.equal(typeof r.response.allowed, 'boolean');
        // a crash caught and turned into a denial is still a bug
        assert.ok(
          !JSON.stringify(r).includes('WH_INTERNAL'),
          `internal error for ${JSON.stringify(body).slice(0, 300)}`,
        );
      }
    }),
    { numRuns: 400 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 512 }), async (bytes) => {
      const res = await app.inject({
        method: 'POST',
        url: '/mutate',
        payload: Buffer.from(bytes),
        headers: { 'content-type': 'application/json' },
      });
      assert.ok(res.statusCode >= 200 && res.statusCode < 500, `status ${res.statusCode}`);
    }),
    { numRuns: 300 },
  );
});

test('metrics app: /healthz, /readyz follows state, /metrics renders the counters', async (t) => {
  const metrics = createWebhookMetrics();
  const state = { ready: false };
  const app = buildMetricsApp({ metrics, state, log: silentLogger() });
  t.after(() => app.close());
  assert.equal((await app.inject({ url: '/healthz' })).statusCode, 200);
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 503);
  state.ready = true;
  assert.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  metrics.admissions.inc({ result: 'skipped', reason: 'INJ_SKIP_NO_PORTS' });
  metrics.duration.observe(0.002);
  const m = await app.inject({ url: '/metrics' });
  assert.match(m.headers['content-type'] as string, /text\/plain; version=0\.0\.4/);
  assert.match(m.body, /realip_webhook_admissions_total\{result="skipped",reason="INJ_SKIP_NO_PORTS"\} 1/);
  assert.match(m.body, /realip_webhook_admission_duration_seconds_bucket\{le="0\.0025"\} 1/);
});

test('a large real-world pod (2.5 MiB of annotations, 60 containers) is within the body limit and injected', async (t) => {
  const { app } = setup();
  t.after(() => app.close());
  const review = fixture('web-deployment');
  const pod = review.request.object;
  pod.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'] = 'x'.repeat(
    2.5 * 1024 * 1024,
  );
  const base = pod.spec.containers[0];
  pod.spec.containers = Array.from({ length: 60 }, (_, i) => ({
    ...base,
    name: `c${i}`,
    ports: [{ name: `http-${i}`, containerPort: 8000 + i, protocol: 'TCP' }],
    livenessProbe: { httpGet: { path: '/', port: `http-${i}` } },
    readinessProbe: undefined,
  }));
  const res = await app.inject({
    method: 'POST',
    url: '/mutate',
    payload: JSON.stringify(review),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(res.statusCode, 200);
  const r = res.json().response;
  assert.equal(r.allowed, true);
  const ops = JSON.parse(Buffer.from(r.patch, 'base64').toString());
  assert.equal(
    ops.filter((o: { path: string }) =>
      /^\/spec\/containers\/\d+\/livenessProbe\/httpGet\/port$/.test(o.path),
    ).length,
    60,
  );
});
