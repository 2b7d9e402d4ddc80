// The decision and the sidecar spec: ports and modes, annotations, security contexts, probes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  appHealthPath,
  Defaults,
  Env,
  INIT_CONTAINER,
  parseAppProbes,
  SIDECAR_CONTAINER,
} from '../../common/contract.ts';
import { decide, type InjectionDefaults, type Plan } from '../../webhook/admission/decide.ts';
import { classifyPortName } from '../../webhook/admission/port-rules.ts';
import { mutatePod } from '../../webhook/admission/patch.ts';
import type { Container, Pod } from '../../webhook/admission/pod.ts';
import { sidecarPortNames } from '../../webhook/admission/sidecar-spec.ts';
import { parseSidecarConfig, type SidecarConfig } from '../../sidecar/config.ts';
import { TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';

function pod(annotations: Record<string, string> = {}, containers?: Container[]): Pod {
  return {
    metadata: { name: 'p', annotations },
    spec: {
      containers: containers ?? [
        {
          name: 'app',
          image: 'app',
          ports: [
            { name: 'http-api', containerPort: 8080 },
            { name: 'web', containerPort: 8081 },
            { name: 'pg', containerPort: 5432 },
          ],
        },
      ],
    },
  };
}

function plan(p: Pod, d: InjectionDefaults = TEST_DEFAULTS): Plan {
  const r = decide(p, d);
  assert.ok(r.inject, `expected injection, got ${JSON.stringify(r)}`);
  return r.plan;
}

function envOf(c: Container): Record<string, string> {
  return Object.fromEntries((c.env as { name: string; value: string }[]).map((e) => [e.name, e.value]));
}

// Issue 13 changed this deliberately: before, http2 and web meant the http hop and every other
// name (or none) the tcp hop, which wrote PROXY headers to apps that never asked for them.
// Issue 16, deliberately changed: `h2` (and `h2-*`) is HTTP/2's TLS ALPN name, so it says TLS now;
// the cleartext HTTP/2 names get the http2 hop.
test('port names (Kubernetes/Istio <protocol>[-<suffix>]): http, http-* -> http; TLS and HTTP/2 names and the rest say so', () => {
  for (const n of ['http', 'http-metrics', 'http-api']) assert.equal(classifyPortName(n), 'http', n);
  for (const n of [
    'https',
    'https-admin',
    'tls',
    'tls-peer',
    'ssl',
    'amqp-tls',
    'ldap-ssl',
    'admin-https',
    'h2',
    'h2-api',
  ])
    assert.equal(classifyPortName(n), 'tls', n);
  for (const n of ['http2', 'http2-api', 'h2c', 'h2c-api', 'grpc', 'grpc-web'])
    assert.equal(classifyPortName(n), 'http2', n);
  for (const n of [undefined, 'web', 'tcp', 'tcp-postgresql', 'metrics', 'dashboard', 'httpx', 'redis'])
    assert.equal(classifyPortName(n), 'unknown', String(n));
});

// Issue 16: cleartext HTTP/2 names get the http2 hop (HTTP/2 and HTTP/1.1 on one port); `h2` is TLS.
test('http2 names: grpc, grpc-*, http2, http2-*, h2c, h2c-* -> http2 listeners; h2 left alone as TLS; PORT=http on them is http2', () => {
  const containers: Container[] = [
    {
      name: 'a',
      image: 'a',
      ports: [
        { name: 'grpc', containerPort: 9000 },
        { name: 'grpc-web', containerPort: 9001 },
        { name: 'http2', containerPort: 9002 },
        { name: 'h2c-api', containerPort: 9003 },
        { name: 'h2', containerPort: 9443 },
        { name: 'h2-admin', containerPort: 9444 },
      ],
    },
  ];
  const p = plan(pod({}, containers));
  assert.deepEqual(p.ports, [
    { port: 9000, name: 'grpc', mode: 'http2' },
    { port: 9001, name: 'grpc-web', mode: 'http2' },
    { port: 9002, name: 'http2', mode: 'http2' },
    { port: 9003, name: 'h2c-api', mode: 'http2' },
    { port: 9443, name: 'h2', reason: 'INJ_PORT_TLS' },
    { port: 9444, name: 'h2-admin', reason: 'INJ_PORT_TLS' },
  ]);
  assert.deepEqual(
    p.listeners.map((l) => [l.mode, l.appPort]),
    [
      ['http2', 9000],
      ['http2', 9001],
      ['http2', 9002],
      ['http2', 9003],
    ],
  );
  const annotated = pod({ 'realip.dev/ports': '9000=http,9001=http2,9443=http2,9444=tcp' }, containers);
  const explicit = plan(annotated);
  assert.deepEqual(explicit.ports, [
    { port: 9000, name: 'grpc', mode: 'http2' },
    { port: 9001, name: 'grpc-web', mode: 'http2' },
    { port: 9002, name: 'http2', reason: 'INJ_PORT_NOT_LISTED' },
    { port: 9003, name: 'h2c-api', reason: 'INJ_PORT_NOT_LISTED' },
    { port: 9443, name: 'h2', reason: 'INJ_PORT_TLS' },
    { port: 9444, name: 'h2-admin', mode: 'tcp' },
  ]);
  // The sidecar spec carries the mode, and the sidecar reads it back.
  const sidecar = mutatePod(annotated, explicit).pod.spec.initContainers!.find(
    (c) => c.name === SIDECAR_CONTAINER,
  )!;
  const env = envOf(sidecar);
  assert.match(env[Env.listeners] ?? '', /^http2:\d+:9000,http2:\d+:9001,tcp:\d+:9444$/);
  const { config } = parseSidecarConfig([], env);
  assert.deepEqual(
    config.listeners.map((l) => [l.mode, l.appPort]),
    [
      ['http2', 9000],
      ['http2', 9001],
      ['tcp', 9444],
    ],
  );
});

// Issue 13, deliberately changed: `pg` (5432) became a tcp listener and `web` (8081) an http one;
// now only the http-named port is intercepted and the others are left alone, each with a reason.
test('declared ports: http names become listeners from 15001; unknown protocols are left alone', () => {
  const p = plan(pod());
  assert.deepEqual(
    p.listeners.map((l) => [l.mode, l.listenPort, l.appPort]),
    [['http', 15001, 8080]],
  );
  assert.deepEqual(p.ports, [
    { port: 5432, name: 'pg', reason: 'INJ_PORT_UNKNOWN_PROTOCOL' },
    { port: 8080, name: 'http-api', mode: 'http' },
    { port: 8081, name: 'web', reason: 'INJ_PORT_UNKNOWN_PROTOCOL' },
  ]);
});

// Issue 13, deliberately changed: a bare `5432` used to mean tcp (PROXY header to the app); a
// port listed without a mode now takes its name's rule, which for `pg` is "left alone".
test('the ports annotation wins over declared ports, modes as written', () => {
  const p = plan(pod({ 'realip.dev/ports': '8080=http, 6379=transparent,5432' }));
  assert.deepEqual(
    p.listeners.map((l) => `${l.mode}:${l.listenPort}:${l.appPort}`),
    ['transparent:15001:6379', 'http:15002:8080'],
  );
  assert.deepEqual(
    p.ports.filter((x) => x.reason !== undefined).map((x) => `${x.port} ${x.reason}`),
    ['5432 INJ_PORT_UNKNOWN_PROTOCOL', '8081 INJ_PORT_NOT_LISTED'],
  );
});

test('ports annotation: *=MODE covers ports whose name says nothing; off; http never on a TLS name', () => {
  const containers = [
    {
      name: 'a',
      image: 'a',
      ports: [
        { name: 'http', containerPort: 80 },
        { name: 'https', containerPort: 443 },
        { name: 'redis', containerPort: 6379 },
        { name: 'metrics', containerPort: 9121 },
      ],
    },
  ];
  const p = plan(pod({ 'realip.dev/ports': '*=transparent, 9121=off, 443=http' }, containers));
  assert.deepEqual(p.ports, [
    { port: 80, name: 'http', mode: 'http' },
    { port: 443, name: 'https', reason: 'INJ_PORT_TLS' },
    { port: 6379, name: 'redis', mode: 'transparent' },
    { port: 9121, name: 'metrics', reason: 'INJ_PORT_OFF' },
  ]);
  const r = decide(pod({ 'realip.dev/ports': '*' }, containers), TEST_DEFAULTS);
  assert.ok(!r.inject && r.denied);
  assert.match(r.problems[0]!, /"\*" needs a mode/);
});

test('namespace default: the namespace annotation realip.dev/ports applies when the pod has none', () => {
  const view = {
    state: 'known' as const,
    ns: { name: 'db', labels: {}, annotations: { 'realip.dev/ports': '*=tcp' } },
  };
  const r = decide(pod(), TEST_DEFAULTS, view);
  assert.ok(r.inject);
  assert.deepEqual(
    r.plan.listeners.map((l) => `${l.mode}:${l.appPort}`),
    ['tcp:5432', 'http:8080', 'tcp:8081'],
  );
  const own = decide(pod({ 'realip.dev/ports': '8080' }), TEST_DEFAULTS, view);
  assert.ok(own.inject);
  assert.deepEqual(
    own.plan.listeners.map((l) => `${l.mode}:${l.appPort}`),
    ['http:8080'],
    "the pod's annotation replaces the namespace's",
  );
});

test('invalid annotations deny, naming annotation, value and expectation; all problems at once', () => {
  const r = decide(
    pod({
      'realip.dev/ports': '99999=http',
      'realip.dev/trusted-cidrs': '10.0.0.0/33',
      'realip.dev/steering': 'magic',
      'realip.dev/sidecar-cpu-limit': 'lots',
      'realip.dev/inject': 'yes',
    }),
    TEST_DEFAULTS,
  );
  assert.ok(!r.inject && r.denied);
  const text = r.problems.join('\n');
  assert.match(text, /realip\.dev\/ports: "99999=http" is not valid; .*"99999" is not a port/);
  assert.match(
    text,
    /realip\.dev\/trusted-cidrs: "10\.0\.0\.0\/33" is not valid; expected a comma-separated list/,
  );
  assert.match(text, /realip\.dev\/steering: "magic" is not valid; expected one of redirect, port/);
  assert.match(text, /realip\.dev\/sidecar-cpu-limit: "lots" is not valid; expected a Kubernetes quantity/);
  assert.match(text, /realip\.dev\/inject: "yes" is not valid/);
  assert.equal(r.problems.length, 5);
});

test('opt-out wins over invalid annotations (skip, not deny)', () => {
  const r = decide(pod({ 'realip.dev/inject': 'false', 'realip.dev/proxy': 'bogus' }), TEST_DEFAULTS);
  assert.deepEqual(r, { inject: false, reasons: ['INJ_SKIP_DISABLED'] });
});

test('every applicable skip reason is reported', () => {
  const p = pod({ 'kubernetes.io/config.mirror': 'x', 'realip.dev/inject': 'false' });
  p.spec.hostNetwork = true;
  const r = decide(p, TEST_DEFAULTS);
  assert.ok(!r.inject);
  assert.deepEqual([...r.reasons].sort(), [
    'INJ_SKIP_DISABLED',
    'INJ_SKIP_HOST_NETWORK',
    'INJ_SKIP_MIRROR_POD',
  ]);
});

test('already injected is detected by container name alone (no status annotation)', () => {
  const p = pod({}, [{ name: 'app', image: 'a', ports: [{ containerPort: 80 }] }]);
  p.spec.initContainers = [{ name: SIDECAR_CONTAINER, image: 'x' }];
  assert.deepEqual(decide(p, TEST_DEFAULTS), { inject: false, reasons: ['INJ_SKIP_ALREADY_INJECTED'] });
});

test('UDP-only and port-less pods have nothing to intercept', () => {
  const p = pod({}, [{ name: 'dns', image: 'x', ports: [{ containerPort: 53, protocol: 'UDP' }] }]);
  assert.deepEqual(decide(p, TEST_DEFAULTS), { inject: false, reasons: ['INJ_SKIP_NO_PORTS'] });
});

// Issue 13, deliberately changed: this was denied (INJ_PORT_CONFLICT), which blocked e.g. every
// pod that declares 15021 itself; the sidecar now takes the next free port instead.
test("an app port on the sidecar's admin port moves the admin port (never denied)", () => {
  const r = decide(
    pod({}, [
      {
        name: 'a',
        image: 'a',
        ports: [
          { name: 'http', containerPort: Defaults.adminPort },
          { name: 'x', containerPort: Defaults.adminPort + 1, protocol: 'UDP' },
        ],
      },
    ]),
    TEST_DEFAULTS,
  );
  assert.ok(r.inject);
  assert.equal(r.plan.adminPort, Defaults.adminPort + 2, 'a UDP port of the same number is stepped over too');
  const sidecar = mutatePod(pod(), r.plan).pod.spec.initContainers!.find(
    (c) => c.name === SIDECAR_CONTAINER,
  )!;
  assert.equal(envOf(sidecar)[Env.adminPort], String(Defaults.adminPort + 2));
  assert.equal(
    (sidecar.readinessProbe as { httpGet: { port: number } }).httpGet.port,
    Defaults.adminPort + 2,
  );
});

test('the sidecar uid steps over uids the pod runs as', () => {
  const p = pod();
  p.spec.securityContext = { runAsUser: 1337 };
  p.spec.containers[0]!.securityContext = { runAsUser: 1338 };
  const pl = plan(p);
  assert.equal(pl.sidecarUid, 1339);
  const sidecar = mutatePod(p, pl).pod.spec.initContainers!.find((c) => c.name === SIDECAR_CONTAINER)!;
  assert.equal((sidecar.securityContext as { runAsUser: number }).runAsUser, 1339);
});

test('annotations override defaults: cidrs, proxy, emit, resources', () => {
  const p = plan(
    pod({
      'realip.dev/trusted-cidrs': '192.0.2.0/24, 2001:db8::/32',
      'realip.dev/proxy': 'optional',
      'realip.dev/emit': 'v1',
      'realip.dev/sidecar-cpu-request': '50m',
      'realip.dev/sidecar-memory-limit': '1Gi',
    }),
  );
  assert.deepEqual(p.trustedCidrs, ['192.0.2.0/24', '2001:db8::/32']);
  assert.equal(p.proxy, 'optional');
  assert.equal(p.emit, 'v1');
  assert.deepEqual(p.resources, { cpuRequest: '50m', memoryRequest: '32Mi', memoryLimit: '1Gi' });
  const sidecar = mutatePod(pod(), p).pod.spec.initContainers!.find((c) => c.name === SIDECAR_CONTAINER)!;
  const env = envOf(sidecar);
  assert.equal(env[Env.trustedCidrs], '192.0.2.0/24,2001:db8::/32');
  assert.equal(env[Env.proxy], 'optional');
  assert.equal(env[Env.emit], 'v1');
  assert.equal(env[Env.adminPort], String(Defaults.adminPort));
});

test('unknown realip.dev/ annotations are warned about, not fatal', () => {
  const p = plan(pod({ 'realip.dev/port': '8080' }));
  assert.deepEqual(p.warnings, ['unknown annotation realip.dev/port ignored']);
});

test('security: sidecar non-root, read-only, drop ALL; NET caps only with transparent listeners; init root + NET only', () => {
  const plain = mutatePod(pod(), plan(pod())).pod.spec.initContainers!;
  const init = plain.find((c) => c.name === INIT_CONTAINER)!;
  const sidecar = plain.find((c) => c.name === SIDECAR_CONTAINER)!;
  const sc = sidecar.securityContext as Record<string, unknown>;
  assert.equal(sc.runAsUser, 1337);
  assert.equal(sc.runAsNonRoot, true);
  assert.equal(sc.readOnlyRootFilesystem, true);
  assert.equal(sc.allowPrivilegeEscalation, false);
  assert.deepEqual(sc.capabilities, { drop: ['ALL'] });
  const isc = init.securityContext as Record<string, unknown>;
  assert.equal(isc.runAsUser, 0);
  assert.equal(isc.runAsNonRoot, false);
  assert.equal(isc.privileged, false);
  assert.deepEqual(isc.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  assert.deepEqual(init.args, ['init']);
  assert.deepEqual(sidecar.args, ['sidecar']);
  const tp = pod({ 'realip.dev/ports': '6379=transparent' });
  const t = mutatePod(tp, plan(tp)).pod.spec.initContainers!.find((c) => c.name === SIDECAR_CONTAINER)!;
  const tsc = t.securityContext as Record<string, unknown>;
  assert.deepEqual(tsc.capabilities, { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] });
  // Added capabilities are only effective for uid 0 (no ambient caps; no_new_privs blocks file caps).
  assert.equal(tsc.runAsUser, 0, 'a transparent sidecar must run as uid 0 for NET_ADMIN to be effective');
  assert.equal(tsc.runAsNonRoot, false);
  assert.equal(tsc.allowPrivilegeEscalation, false);
});

test('native sidecar: init containers [realip-init, realip-sidecar (restartPolicy Always), ...app init]', () => {
  const p = pod();
  p.spec.initContainers = [{ name: 'migrate', image: 'm' }];
  const out = mutatePod(p, plan(p)).pod;
  assert.deepEqual(
    out.spec.initContainers!.map((c) => c.name),
    [INIT_CONTAINER, SIDECAR_CONTAINER, 'migrate'],
  );
  assert.equal(out.spec.initContainers![1]!.restartPolicy, 'Always');
  assert.deepEqual(
    out.spec.containers.map((c) => c.name),
    ['app'],
  );
});

test('without native sidecars: a regular container placed first, with a postStart wait', () => {
  const d = { ...TEST_DEFAULTS, nativeSidecar: false };
  const out = mutatePod(pod(), plan(pod(), d)).pod;
  assert.deepEqual(
    out.spec.containers.map((c) => c.name),
    [SIDECAR_CONTAINER, 'app'],
  );
  assert.equal(out.spec.containers[0]!.restartPolicy, undefined);
  assert.deepEqual(out.spec.containers[0]!.lifecycle, {
    postStart: { exec: { command: ['realip', 'sidecar-wait'] } },
  });
  assert.deepEqual(
    out.spec.initContainers!.map((c) => c.name),
    [INIT_CONTAINER],
  );
});

test('port mode: no init container, named sidecar ports, no probe rewriting', () => {
  const p = pod({ 'realip.dev/steering': 'port', 'realip.dev/ports': '5432=tcp,8080,8081=http' });
  p.spec.containers[0]!.readinessProbe = { httpGet: { path: '/', port: 'http-api' } };
  const out = mutatePod(p, plan(p)).pod;
  assert.deepEqual(
    out.spec.initContainers!.map((c) => c.name),
    [SIDECAR_CONTAINER],
  );
  assert.deepEqual(out.spec.initContainers![0]!.ports, [
    { name: 'realip-pg', containerPort: 15001, protocol: 'TCP' },
    { name: 'realip-http-api', containerPort: 15002, protocol: 'TCP' },
    { name: 'realip-web', containerPort: 15003, protocol: 'TCP' },
  ]);
  assert.deepEqual(out.spec.containers[0]!.readinessProbe, { httpGet: { path: '/', port: 'http-api' } });
});

test('port names: at most 15 characters, unique, numeric fallback', () => {
  const names = sidecarPortNames(
    [
      { mode: 'http', listenPort: 15001, appPort: 8080, appPortName: 'http-very-long' },
      { mode: 'tcp', listenPort: 15002, appPort: 9000 },
      { mode: 'http', listenPort: 15003, appPort: 9001, appPortName: 'http' },
    ],
    ['realip-http'],
  );
  assert.deepEqual(names, ['realip-8080', 'realip-9000', 'realip-9001']);
  for (const n of names) assert.ok(n.length <= 15);
});

test('redirect mode: probes on intercepted ports (by name or number) go to the admin port; others stay', () => {
  const p = pod({ 'realip.dev/ports': '5432=tcp,8080' });
  const c = p.spec.containers[0]!;
  c.livenessProbe = {
    httpGet: { path: '/live?x=1', port: 'http-api', httpHeaders: [{ name: 'X-Probe', value: 'y' }] },
    periodSeconds: 3,
    timeoutSeconds: 2,
  };
  c.readinessProbe = { tcpSocket: { port: 5432 }, periodSeconds: 4 };
  c.startupProbe = { httpGet: { path: '/s', port: 9999 } };
  const { pod: out, status } = mutatePod(p, plan(p));
  const app = out.spec.containers[0]!;
  // The app container's probes carry no port, path or header of the app: only the admin path.
  assert.deepEqual(app.livenessProbe, {
    httpGet: { path: appHealthPath('app', 'livenessProbe'), port: Defaults.adminPort, scheme: 'HTTP' },
    periodSeconds: 3,
    timeoutSeconds: 2,
  });
  assert.equal(appHealthPath('app', 'livenessProbe'), '/app-health/app/livez');
  assert.deepEqual(app.readinessProbe, {
    httpGet: { path: '/app-health/app/readyz', port: Defaults.adminPort, scheme: 'HTTP' },
    periodSeconds: 4,
  });
  assert.deepEqual(app.startupProbe, { httpGet: { path: '/s', port: 9999 } });
  assert.deepEqual(status.probes, {
    app: { livenessProbe: c.livenessProbe, readinessProbe: c.readinessProbe },
  });
  // The sidecar gets the exact original probes, named ports resolved, in REALIP_APP_PROBES.
  const env = (out.spec.initContainers![1]!.env as { name: string; value: string }[]).find(
    (e) => e.name === Env.appProbes,
  );
  assert.ok(env, `${Env.appProbes} is set on the sidecar`);
  assert.deepEqual(JSON.parse(env.value), {
    '/app-health/app/livez': {
      httpGet: {
        port: 8080,
        path: '/live?x=1',
        scheme: 'HTTP',
        httpHeaders: [{ name: 'X-Probe', value: 'y' }],
      },
      timeoutSeconds: 2,
    },
    '/app-health/app/readyz': { tcpSocket: { port: 5432 }, timeoutSeconds: 1 },
  });
  const parsed = parseAppProbes(env.value);
  assert.deepEqual(parsed.problems, []);
  assert.equal(parsed.probes.size, 2);
});

test('redirect mode: each container gets its own paths; no probes, no REALIP_APP_PROBES', () => {
  const containers = [
    {
      name: 'web',
      image: 'w',
      ports: [{ containerPort: 8080 }],
      readinessProbe: { httpGet: { port: 8080 } },
    },
    {
      name: 'db',
      image: 'd',
      ports: [{ containerPort: 5432 }],
      readinessProbe: { tcpSocket: { port: 5432 } },
    },
  ];
  // Unnamed ports are left alone by default (issue 13): these two are opted in by annotation.
  const p = pod({ 'realip.dev/ports': '8080=http,5432=tcp' }, containers);
  const out = mutatePod(p, plan(p)).pod;
  const sidecar = [...(out.spec.initContainers ?? []), ...out.spec.containers].find(
    (x) => x.name === SIDECAR_CONTAINER,
  )!;
  const env = (sidecar.env as { name: string; value: string }[]).find((e) => e.name === Env.appProbes)!;
  assert.deepEqual(Object.keys(JSON.parse(env.value)), ['/app-health/web/readyz', '/app-health/db/readyz']);
  assert.equal(JSON.parse(env.value)['/app-health/web/readyz'].httpGet.path, '/');

  const bare = pod({ 'realip.dev/ports': '8080=http' }, [
    { name: 'a', image: 'a', ports: [{ containerPort: 8080 }] },
  ]);
  const outBare = mutatePod(bare, plan(bare)).pod;
  const all = [...(outBare.spec.initContainers ?? []), ...outBare.spec.containers];
  for (const x of all) {
    assert.ok(!((x.env ?? []) as { name: string }[]).some((e) => e.name === Env.appProbes));
  }
});

test('a probe header the sidecar could not send leaves the probe unchanged, with a warning', () => {
  const p = pod();
  const probe = { httpGet: { path: '/', port: 8080, httpHeaders: [{ name: 'Bad Name', value: 'x' }] } };
  p.spec.containers[0]!.livenessProbe = probe;
  const { pod: out, warnings } = mutatePod(p, plan(p));
  assert.deepEqual(out.spec.containers[0]!.livenessProbe, probe);
  assert.match(warnings.join('\n'), /livenessProbe: probe left unchanged.*httpHeaders\[0\]\.name/);
});

test('HTTPS probes on intercepted ports are left alone, with a warning', () => {
  const p = pod();
  p.spec.containers[0]!.livenessProbe = { httpGet: { path: '/', port: 8080, scheme: 'HTTPS' } };
  const { pod: out, warnings } = mutatePod(p, plan(p));
  assert.deepEqual(out.spec.containers[0]!.livenessProbe, {
    httpGet: { path: '/', port: 8080, scheme: 'HTTPS' },
  });
  assert.match(warnings[0]!, /HTTPS probe on intercepted port 8080/);
});

test('the input pod is never mutated (clone, mutate, diff)', () => {
  const p = pod();
  const before = JSON.stringify(p);
  mutatePod(p, plan(p));
  assert.equal(JSON.stringify(p), before);
});

test('listener ports step over the admin port (a pod with 25 ports never gets 15021 twice)', () => {
  const containers = [
    {
      name: 'a',
      image: 'a',
      ports: Array.from({ length: 25 }, (_, i) => ({ name: `http-${i}`, containerPort: 8000 + i })),
    },
  ];
  const p = plan(pod({}, containers));
  const ports = p.listeners.map((l) => l.listenPort);
  assert.ok(!ports.includes(Defaults.adminPort));
  assert.equal(new Set(ports).size, 25);
  assert.equal(ports[19], 15020);
  assert.equal(ports[20], 15022);
});

// Issue 13, deliberately changed: this was denied (INJ_PORT_CONFLICT); the listeners now step
// over every port the pod declares.
test('an app port inside the listener range is stepped over', () => {
  const containers = [
    {
      name: 'a',
      image: 'a',
      ports: [
        { name: 'http-a', containerPort: 15001 },
        { name: 'http', containerPort: 8080 },
      ],
    },
  ];
  const r = decide(pod({}, containers), TEST_DEFAULTS);
  assert.ok(r.inject);
  assert.deepEqual(
    r.plan.listeners.map((l) => `${l.listenPort}:${l.appPort}`),
    ['15002:8080', '15003:15001'],
  );
});

test('fuzz: pod-shaped objects with nulls and odd values never make admit() throw', async () => {
  const fc = (await import('fast-check')).default;
  const { admit } = await import('../../webhook/admission/admit.ts');
  const odd = fc.oneof(fc.constant(null), fc.jsonValue({ maxDepth: 2 }));
  const portRef = fc.oneof(
    fc.integer({ min: 0, max: 70000 }),
    fc.constantFrom('http', 'web', 'pg', '8080', ''),
    odd,
  );
  const probe = fc.oneof(
    odd,
    fc.record(
      {
        httpGet: fc.oneof(
          odd,
          fc.record(
            {
              port: portRef,
              path: fc.oneof(fc.string(), odd),
              host: fc.oneof(fc.constant(''), odd),
              scheme: fc.oneof(fc.constantFrom('HTTP', 'HTTPS', 'https'), odd),
            },
            { requiredKeys: ['port'] },
          ),
        ),
        tcpSocket: fc.oneof(odd, fc.record({ port: portRef, host: odd }, { requiredKeys: ['port'] })),
        periodSeconds: odd,
      },
      { requiredKeys: [] },
    ),
  );
  const container = fc.record(
    {
      name: fc.constantFrom('app', 'realip-sidecar', 'x', 'realip-init'),
      image: fc.string(),
      ports: fc.oneof(
        odd,
        fc.array(
          fc.record(
            {
              containerPort: fc.integer({ min: -1, max: 70000 }),
              name: fc.oneof(
                fc.constantFrom('http', 'http-api', 'web', 'metrics', 'a-very-long-port-name'),
                odd,
              ),
              protocol: fc.oneof(fc.constantFrom('TCP', 'UDP'), odd),
            },
            { requiredKeys: ['containerPort'] },
          ),
          { maxLength: 4 },
        ),
      ),
      livenessProbe: probe,
      readinessProbe: probe,
      startupProbe: probe,
    },
    { requiredKeys: ['name'] },
  );
  const annotationValue = fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.constantFrom('8080=http,5432', '10.0.0.0/8', 'optional', 'port', 'v1', '64Mi', 'false', 'true'),
  );
  const annotations = fc.dictionary(
    fc.constantFrom(
      'realip.dev/ports',
      'realip.dev/trusted-cidrs',
      'realip.dev/proxy',
      'realip.dev/steering',
      'realip.dev/emit',
      'realip.dev/redirect-from',
      'realip.dev/sidecar-cpu-limit',
      'realip.dev/inject',
      'realip.dev/status',
      'realip.dev/x',
      'kubernetes.io/config.mirror',
    ),
    annotationValue,
  );
  const podArb = fc.record({
    metadata: fc.oneof(
      fc.constant(undefined),
      fc.record(
        { annotations: fc.oneof(annotations, fc.constant(null)), name: fc.string() },
        { requiredKeys: [] },
      ),
    ),
    spec: fc.record(
      {
        containers: fc.array(container, { maxLength: 3 }),
        initContainers: fc.oneof(fc.constant(null), fc.array(container, { maxLength: 2 })),
        hostNetwork: fc.oneof(fc.boolean(), fc.constant(null)),
      },
      { requiredKeys: ['containers'] },
    ),
  });
  fc.assert(
    fc.property(podArb, fc.boolean(), (object, native) => {
      const review = {
        apiVersion: 'admission.k8s.io/v1' as const,
        request: {
          uid: 'u',
          kind: { group: '', version: 'v1', kind: 'Pod' },
          operation: 'CREATE',
          object: JSON.parse(JSON.stringify(object)),
        },
      };
      const out = admit(review, { ...TEST_DEFAULTS, nativeSidecar: native });
      assert.ok(['injected', 'skipped', 'denied'].includes(out.result));
      for (const l of out.listeners ?? []) {
        const [, listen, app] = l.split(':').map(Number) as [number, number, number];
        assert.ok(listen >= 15001 && app >= 1 && app <= 65535, l);
      }
    }),
    { numRuns: 3000 },
  );
});

test('port mode on a cluster whose Services cannot see named ports of native sidecars (< 1.32): regular sidecar', () => {
  const d = { ...TEST_DEFAULTS, nativeSidecar: true, nativeSidecarNamedPorts: false };
  const portMode = mutatePod(
    pod({ 'realip.dev/steering': 'port' }),
    plan(pod({ 'realip.dev/steering': 'port' }), d),
  ).pod;
  assert.equal(portMode.spec.containers[0]!.name, SIDECAR_CONTAINER, 'named ports on a regular container');
  assert.equal(portMode.spec.initContainers, undefined);
  const redirect = mutatePod(pod(), plan(pod(), d)).pod;
  assert.equal(
    redirect.spec.initContainers![1]!.name,
    SIDECAR_CONTAINER,
    'redirect mode keeps the native sidecar',
  );
});

test('probe fields of the wrong type (regression: scheme 7 crashed the rewrite) leave the probe alone', () => {
  for (const httpGet of [
    { port: 8080, scheme: 7 },
    { port: 8080, path: ['x'] },
    { port: 8080, host: {} },
    { port: null },
  ]) {
    const p = pod();
    p.spec.containers[0]!.livenessProbe = { httpGet } as never;
    const out = mutatePod(p, plan(p)).pod;
    assert.deepEqual(out.spec.containers[0]!.livenessProbe, { httpGet });
  }
  const p = pod();
  p.spec.containers[0]!.readinessProbe = { tcpSocket: { port: 8080, host: 5 } } as never;
  assert.deepEqual(mutatePod(p, plan(p)).pod.spec.containers[0]!.readinessProbe, {
    tcpSocket: { port: 8080, host: 5 },
  });
});

test('CIDR annotations: a mapped CIDR below /96 or host bits set deny; a mapped /128 reaches the sidecar as one host', () => {
  // Regression: realip.dev/trusted-cidrs ::ffff:10.0.0.5/32 reached the sidecar, which read 0.0.0.0/0.
  const r = decide(
    pod({
      'realip.dev/trusted-cidrs': '::ffff:10.0.0.5/32',
      'realip.dev/redirect-from': '10.0.0.1/8',
    }),
    TEST_DEFAULTS,
  );
  assert.ok(!r.inject && r.denied);
  const text = r.problems.join('\n');
  assert.match(
    text,
    /realip\.dev\/trusted-cidrs: .*"::ffff:10\.0\.0\.5\/32" is an IPv4-mapped address with a prefix below \/96/,
  );
  assert.match(
    text,
    /realip\.dev\/redirect-from: .*"10\.0\.0\.1\/8" has host bits set; did you mean 10\.0\.0\.0\/8\?/,
  );

  const p = plan(pod({ 'realip.dev/trusted-cidrs': '::ffff:10.0.0.5/128' }));
  const sidecar = mutatePod(pod(), p).pod.spec.initContainers!.find((c) => c.name === SIDECAR_CONTAINER)!;
  const { config } = parseSidecarConfig([], {
    REALIP_LISTENERS: 'tcp:1:2',
    [Env.trustedCidrs]: envOf(sidecar)[Env.trustedCidrs]!,
  });
  const trusted = (config as SidecarConfig).trusted;
  assert.ok(trusted.has('10.0.0.5') && trusted.has('::ffff:10.0.0.5'));
  assert.ok(!trusted.has('10.0.0.6') && !trusted.has('203.0.113.1'));
});
