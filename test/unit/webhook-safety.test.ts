// Do no harm (issue 13), decision by decision: meshes skipped, Pod Security -> port mode,
// redirect-from defaults to the trusted CIDRs, nothing trusted -> skipped, decisions visible.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Annotations, Env, INIT_CONTAINER, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { admit } from '../../webhook/admission/admit.ts';
import { decide, isAlreadyInjected } from '../../webhook/admission/decide.ts';
import type { NamespaceView } from '../../webhook/admission/namespace.ts';
import { markSkipped, mutatePod } from '../../webhook/admission/patch.ts';
import type { Container, Pod } from '../../webhook/admission/pod.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';

function web(annotations: Record<string, string> = {}, extra: Partial<Container> = {}): Pod {
  return {
    metadata: { name: 'web', annotations },
    spec: {
      containers: [
        {
          name: 'web',
          image: 'nginx',
          ports: [
            { name: 'http', containerPort: 8080 },
            { name: 'https', containerPort: 8443 },
          ],
          ...extra,
        },
      ],
    },
  };
}

const ns = (labels: Record<string, string>, annotations: Record<string, string> = {}): NamespaceView => ({
  state: 'known',
  ns: { name: 'shop', labels, annotations },
});

function envOf(c: Container): Record<string, string> {
  return Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
}

test('meshes: Istio and Linkerd pods (or their injection) are skipped with INJ_SKIP_MESH, never denied', () => {
  const cases: [Pod, NamespaceView | undefined, RegExp][] = [
    [web({ 'sidecar.istio.io/status': '{}' }), undefined, /istio.*sidecar\.istio\.io\/status/],
    [web({ 'linkerd.io/proxy-version': 'stable-2.14' }), undefined, /linkerd/],
    [web({ 'linkerd.io/inject': 'enabled' }), undefined, /linkerd/],
    [web(), ns({ 'istio-injection': 'enabled' }), /namespace shop has Istio injection on/],
    [web(), ns({ 'istio.io/rev': 'canary' }), /Istio/],
    [web(), ns({}, { 'linkerd.io/inject': 'enabled' }), /Linkerd/],
  ];
  const istioProxy = web();
  istioProxy.spec.containers.push({
    name: 'istio-proxy',
    image: 'proxyv2',
    ports: [{ containerPort: 15021 }],
  });
  cases.push([istioProxy, undefined, /container istio-proxy/]);
  for (const [pod, view, evidence] of cases) {
    const r = decide(pod, TEST_DEFAULTS, view);
    assert.ok(!r.inject && !r.denied, JSON.stringify(r));
    assert.deepEqual(r.reasons, ['INJ_SKIP_MESH']);
    assert.match(r.notes?.[0] ?? '', evidence);
  }
  // a pod that opts out of its namespace's Istio injection is ours to inject
  assert.ok(
    decide(web({ 'sidecar.istio.io/inject': 'false' }), TEST_DEFAULTS, ns({ 'istio-injection': 'enabled' }))
      .inject,
  );
});

test('Pod Security baseline/restricted/unknown: port mode, no init container, transparent left alone', () => {
  const pod = web({ 'realip.dev/ports': '8080=http,6379=transparent' });
  for (const view of [
    ns({ 'pod-security.kubernetes.io/enforce': 'baseline' }),
    ns({ 'pod-security.kubernetes.io/enforce': 'restricted' }),
    ns({ 'pod-security.kubernetes.io/enforce': 'nonsense' }),
    { state: 'unreadable', problem: 'GET namespace shop: 403' } as const,
  ]) {
    const r = decide(pod, TEST_DEFAULTS, view);
    assert.ok(r.inject, JSON.stringify(r));
    assert.equal(r.plan.steering, 'port');
    assert.deepEqual(
      r.plan.listeners.map((l) => `${l.mode}:${l.appPort}`),
      ['http:8080'],
    );
    assert.ok(r.plan.ports.some((p) => p.port === 6379 && p.reason === 'INJ_PORT_POD_SECURITY'));
    const out = mutatePod(pod, r.plan).pod;
    const names = [...(out.spec.initContainers ?? []), ...out.spec.containers].map((c) => c.name);
    assert.ok(!names.includes(INIT_CONTAINER));
    const sidecar = [...(out.spec.initContainers ?? []), ...out.spec.containers].find(
      (c) => c.name === SIDECAR_CONTAINER,
    )!;
    const sc = sidecar.securityContext as Record<string, unknown>;
    assert.equal(sc.runAsNonRoot, true, 'restricted: non-root');
    assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
  }
  const privileged = decide(pod, TEST_DEFAULTS, ns({ 'pod-security.kubernetes.io/enforce': 'privileged' }));
  assert.ok(privileged.inject);
  assert.equal(privileged.plan.steering, 'redirect');
});

test('redirect-from defaults to the trusted CIDRs (pod annotation included); an explicit value wins', () => {
  const p = decide(web(), TEST_DEFAULTS);
  assert.ok(p.inject);
  assert.deepEqual(p.plan.redirectFrom, ['10.0.0.0/8']);
  const init = mutatePod(web(), p.plan).pod.spec.initContainers!.find((c) => c.name === INIT_CONTAINER)!;
  assert.equal(envOf(init)[Env.redirectFrom], '10.0.0.0/8');
  const own = decide(web({ 'realip.dev/trusted-cidrs': '192.0.2.0/24' }), TEST_DEFAULTS);
  assert.ok(own.inject);
  assert.deepEqual(own.plan.redirectFrom, ['192.0.2.0/24']);
  const all = decide(web({ 'realip.dev/redirect-from': '0.0.0.0/0,::/0' }), TEST_DEFAULTS);
  assert.ok(all.inject);
  assert.deepEqual(all.plan.redirectFrom, ['0.0.0.0/0', '::/0']);
  const opt = decide(web(), { ...TEST_DEFAULTS, redirectFrom: ['10.1.0.0/16'] });
  assert.ok(opt.inject);
  assert.deepEqual(opt.plan.redirectFrom, ['10.1.0.0/16']);
});

test('nothing trusted in redirect mode: skipped (INJ_SKIP_NO_TRUSTED_SOURCES); port mode still injects', () => {
  const d = { ...TEST_DEFAULTS, trustedCidrs: [] };
  const r = decide(web(), d);
  assert.ok(!r.inject && !r.denied);
  assert.deepEqual(r.reasons, ['INJ_SKIP_NO_TRUSTED_SOURCES']);
  assert.ok(decide(web({ 'realip.dev/steering': 'port' }), d).inject);
});

test('a skip worth seeing is recorded on the pod as injected:false, and is not "already injected"', () => {
  const pod: Pod = {
    metadata: { name: 'db' },
    spec: {
      containers: [{ name: 'pg', image: 'pg', ports: [{ containerPort: 5432, name: 'tcp-postgresql' }] }],
    },
  };
  const r = decide(pod, TEST_DEFAULTS);
  assert.ok(!r.inject && !r.denied);
  const marked = markSkipped(pod, r)!;
  const status = JSON.parse(marked.metadata!.annotations![Annotations.status]!);
  assert.equal(status.injected, false);
  assert.deepEqual(status.leftAlone, ['5432/tcp-postgresql INJ_PORT_UNKNOWN_PROTOCOL']);
  assert.equal(isAlreadyInjected(marked), false);
  // the decision is made again from the marked pod: the same
  assert.deepEqual(decide(marked, TEST_DEFAULTS), r);
});

test('admission warnings: a headline and one line per port, each short enough for kubectl', () => {
  const out = admit(
    {
      apiVersion: 'admission.k8s.io/v1',
      request: {
        uid: 'u',
        kind: { group: '', version: 'v1', kind: 'Pod' },
        operation: 'CREATE',
        object: web(),
      },
    },
    TEST_DEFAULTS,
  );
  assert.equal(out.result, 'injected');
  const warnings = out.review.response.warnings ?? [];
  assert.deepEqual(warnings, [
    'realip: injected (redirect mode, only connections from 10.0.0.0/8 steered; admin port 15021)',
    'realip: port 8080/http: intercepted, http hop on sidecar port 15001',
    'realip: port 8443/https: left alone (INJ_PORT_TLS): TLS by its name, never through the HTTP/1.1 hop',
  ]);
  for (const w of warnings) assert.ok(w.length <= 140, w);
});
