// kubelet's `grpc` probes on intercepted ports: the webhook points them at the sidecar's admin port
// (in redirect mode kubelet's connection from the node would otherwise be steered into the sidecar
// and refused without a PROXY header), and the sidecar makes the standard health call itself.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Defaults, Env, parseAppProbes } from '../../common/contract.ts';
import { decodeHealthCheckResponse, encodeHealthCheckRequest } from '../../sidecar/grpc-health.ts';
import { decide, type Plan } from '../../webhook/admission/decide.ts';
import { mutatePod } from '../../webhook/admission/patch.ts';
import type { Pod } from '../../webhook/admission/pod.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';

function grpcPod(annotations: Record<string, string>): Pod {
  return {
    metadata: { name: 'rpc', namespace: 'shop', annotations },
    spec: {
      containers: [
        {
          name: 'api',
          image: 'api',
          ports: [{ containerPort: 9000 }, { containerPort: 9001 }],
          readinessProbe: { grpc: { port: 9000 }, periodSeconds: 3 },
          livenessProbe: { grpc: { port: 9000, service: 'orders.v1.Orders' }, timeoutSeconds: 4 },
          startupProbe: { grpc: { port: 9001 } },
        },
      ],
    },
  } as unknown as Pod;
}

function plan(p: Pod): Plan {
  const d = decide(p, TEST_DEFAULTS);
  assert.ok(d.inject, JSON.stringify(d));
  return d.plan;
}

test('a grpc probe on an intercepted port goes to the admin port; the sidecar gets the original', () => {
  const p = grpcPod({ 'realip.dev/ports': '9000=transparent' });
  const { pod: out, status } = mutatePod(p, plan(p));
  const api = out.spec.containers[0]!;
  assert.deepEqual(api.readinessProbe, {
    httpGet: { path: '/app-health/api/readyz', port: Defaults.adminPort, scheme: 'HTTP' },
    periodSeconds: 3,
  });
  assert.deepEqual(api.livenessProbe, {
    httpGet: { path: '/app-health/api/livez', port: Defaults.adminPort, scheme: 'HTTP' },
    timeoutSeconds: 4,
  });
  // 9001 is not intercepted: its probe reaches the app directly, as before.
  assert.deepEqual(api.startupProbe, { grpc: { port: 9001 } });
  assert.deepEqual(Object.keys(status.probes?.api ?? {}).sort(), ['livenessProbe', 'readinessProbe']);
  const sidecar = out.spec.initContainers!.find((c) => c.name === 'realip-sidecar')!;
  const env = (sidecar.env as { name: string; value: string }[]).find((e) => e.name === Env.appProbes)!;
  assert.deepEqual(JSON.parse(env.value), {
    '/app-health/api/readyz': { grpc: { port: 9000, service: '' }, timeoutSeconds: 1 },
    '/app-health/api/livez': { grpc: { port: 9000, service: 'orders.v1.Orders' }, timeoutSeconds: 4 },
  });
  assert.deepEqual(parseAppProbes(env.value).problems, []);
});

test('a grpc probe whose service the sidecar could not send is left unchanged, with a warning', () => {
  const p = grpcPod({ 'realip.dev/ports': '9000=transparent' });
  p.spec.containers[0]!.livenessProbe = { grpc: { port: 9000, service: 'a b' } };
  const { pod: out, warnings } = mutatePod(p, plan(p));
  assert.deepEqual(out.spec.containers[0]!.livenessProbe, { grpc: { port: 9000, service: 'a b' } });
  assert.ok(
    warnings.some((w) => /livenessProbe: probe left unchanged.*grpc\.service/.test(w)),
    warnings.join('\n'),
  );
});

test('REALIP_APP_PROBES: grpc probes are checked like the others', () => {
  const bad = parseAppProbes(
    JSON.stringify({
      '/app-health/a/livez': { grpc: { port: 0, service: '' }, timeoutSeconds: 1 },
      '/app-health/b/livez': { grpc: { port: 9000 }, timeoutSeconds: 1 },
      '/app-health/c/livez': { grpc: { port: 9000, service: 'x'.repeat(257) }, timeoutSeconds: 1 },
      '/app-health/d/livez': { grpc: { port: 9000, service: '', host: 'evil' }, timeoutSeconds: 1 },
      '/app-health/e/livez': { grpc: { port: 9000, service: '' }, tcpSocket: { port: 1 }, timeoutSeconds: 1 },
    }),
  );
  assert.equal(bad.probes.size, 0);
  for (const expected of [
    /a\/livez"\.grpc\.port: expected a port/,
    /b\/livez"\.grpc\.service: expected up to 256/,
    /c\/livez"\.grpc\.service: expected up to 256/,
    /d\/livez"\.grpc: unknown field "host"/,
    /e\/livez": expected exactly one of httpGet, tcpSocket, grpc/,
  ]) {
    assert.ok(
      bad.problems.some((p) => expected.test(p)),
      `${expected} in:\n${bad.problems.join('\n')}`,
    );
  }
});

test('health codec: the request is the protobuf a gRPC client sends; answers decode or are refused', () => {
  // Bytes as grpc-go's health client writes them for service "s" and for "" (field left out).
  assert.deepEqual([...encodeHealthCheckRequest('s')], [0, 0, 0, 0, 3, 0x0a, 1, 0x73]);
  assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
  const long = encodeHealthCheckRequest('x'.repeat(200));
  assert.deepEqual([...long.subarray(0, 8)], [0, 0, 0, 0, 203, 0x0a, 0xc8, 0x01]);

  const frame = (body: number[]) => Buffer.from([0, 0, 0, 0, body.length, ...body]);
  assert.deepEqual(decodeHealthCheckResponse(frame([0x08, 1])), { ok: true, status: 1 });
  assert.deepEqual(decodeHealthCheckResponse(frame([0x08, 2])), { ok: true, status: 2 });
  // Absent status: UNKNOWN (0). Unknown fields before it are skipped.
  assert.deepEqual(decodeHealthCheckResponse(frame([])), { ok: true, status: 0 });
  assert.deepEqual(decodeHealthCheckResponse(frame([0x12, 2, 0x61, 0x62, 0x08, 1])), { ok: true, status: 1 });
  for (const bad of [
    Buffer.from([0, 0, 0]),
    Buffer.from([1, 0, 0, 0, 2, 0x08, 1]),
    Buffer.from([0, 0, 0, 0, 3, 0x08, 1]),
    frame([0x08]),
    frame([0x12, 5, 0x61]),
    frame([0x0b]),
  ]) {
    const r = decodeHealthCheckResponse(bad);
    assert.equal(r.ok, false, `${bad.toString('hex')} refused`);
  }
});
