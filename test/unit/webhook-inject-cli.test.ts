// `realip inject`: same result as the webhook for the same pod; every workload kind; other
// documents pass through byte for byte; errors name the document and the field.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import { parseAllDocuments, stringify } from 'yaml';
import { Annotations, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { admit } from '../../webhook/admission/admit.ts';
import type { PatchOp } from '../../webhook/admission/json-patch.ts';
import type { Json, Pod } from '../../webhook/admission/pod.ts';
import { type ParsedReview, parseReview } from '../../webhook/admission/review.ts';
import { injectYaml } from '../../webhook/inject-cli.ts';
import { defaultsFor, TEST_DEFAULTS } from '../fixtures/admission/defaults.ts';

const FIX = new URL('../fixtures/admission/', import.meta.url).pathname;
const ROOT = new URL('../../', import.meta.url).pathname;

function review(name: string): ParsedReview {
  const r = parseReview(JSON.parse(readFileSync(`${FIX}${name}.review.json`, 'utf8')));
  assert.ok(!('problem' in r));
  return r;
}

// biome-ignore lint/suspicious/noExplicitAny: walking parsed YAML in assertions
type AnyDoc = Record<string, any>;
const docs = (text: string) => parseAllDocuments(text) as unknown as { toJS(): unknown }[];

for (const name of ['web-deployment', 'bare-pod', 'annotated-ports', 'port-mode', 'legacy-web']) {
  test(`inject output equals the webhook's patched pod: ${name}`, () => {
    const r = review(name);
    const pod = r.request.object as Pod;
    const out = admit(r, defaultsFor(name));
    const ops = JSON.parse(Buffer.from(out.review.response.patch!, 'base64').toString()) as PatchOp[];
    const viaWebhook = jsonpatch.applyPatch(pod as unknown as Json, ops, true, false).newDocument;
    const result = injectYaml(stringify(pod), defaultsFor(name));
    assert.deepEqual(result.errors, []);
    const [viaInject] = docs(result.output).map((d) => d.toJS());
    assert.deepEqual(viaInject, viaWebhook);
  });
}

const template = {
  metadata: { labels: { app: 'web' } },
  spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ name: 'http', containerPort: 8080 }] }] },
};
const workloads = {
  Deployment: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' }, spec: { template } },
  StatefulSet: { apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'web' }, spec: { template } },
  DaemonSet: { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'web' }, spec: { template } },
  ReplicaSet: { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web' }, spec: { template } },
  Job: { apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'web' }, spec: { template } },
  CronJob: {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: { name: 'web' },
    spec: { schedule: '* * * * *', jobTemplate: { spec: { template } } },
  },
};

test('every workload kind gets its pod template injected; other documents pass through unchanged', () => {
  const service =
    '# the edge Service\napiVersion: v1\nkind: Service\nmetadata:\n  name: web # keep me\nspec:\n  ports: [{port: 80}]\n';
  const input = [service, ...Object.values(workloads).map((w) => stringify(w))].join('---\n');
  const result = injectYaml(input, TEST_DEFAULTS);
  assert.deepEqual(result.errors, []);
  const parts = result.output.split(/^---\n/m);
  assert.equal(parts[0], service, 'non-workload document kept byte for byte (comments included)');
  const objs = docs(result.output).map((d) => d.toJS() as AnyDoc);
  assert.equal(objs.length, 7);
  for (const o of objs.slice(1)) {
    const t = o.kind === 'CronJob' ? o.spec.jobTemplate.spec.template : o.spec.template;
    assert.ok(t.metadata.annotations[Annotations.status], `${o.kind}: status annotation`);
    assert.equal(
      t.spec.initContainers.filter((c: { name: string }) => c.name === SIDECAR_CONTAINER).length,
      1,
    );
  }
  // and running it again changes nothing
  const again = injectYaml(result.output, TEST_DEFAULTS);
  assert.deepEqual(
    docs(again.output).map((d) => d.toJS()),
    objs,
  );
  const lines = again.notes.filter((n) => n.startsWith('  '));
  assert.equal(lines.length, 6);
  assert.ok(lines.every((n) => n.includes('INJ_SKIP_ALREADY_INJECTED')));
});

test('a List has its items injected', () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [workloads.Deployment, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }],
  };
  const result = injectYaml(stringify(list), TEST_DEFAULTS);
  const out = docs(result.output)[0]!.toJS() as AnyDoc;
  assert.ok(out.items[0].spec.template.metadata.annotations[Annotations.status]);
  assert.deepEqual(out.items[1], { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } });
});

test('errors name the document and the field', () => {
  const bad = [
    stringify({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'ok' }, spec: { template } }),
    stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'broken', namespace: 'shop' },
      spec: {},
    }),
    stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', annotations: { 'realip.dev/proxy': 'maybe' } },
      spec: template.spec,
    }),
    'kind: [unclosed\n',
  ].join('---\n');
  const result = injectYaml(bad, TEST_DEFAULTS);
  assert.ok(
    result.errors.some((e) => e === 'document 2 (Deployment shop/broken): spec.template: expected an object'),
    result.errors.join('\n'),
  );
  assert.ok(
    result.errors.some((e) =>
      /^document 3 \(Pod p\): metadata\.annotations: annotation realip\.dev\/proxy: "maybe" is not valid/.test(
        e,
      ),
    ),
    result.errors.join('\n'),
  );
  assert.ok(
    result.errors.some((e) => e.startsWith('document 4: YAML:')),
    result.errors.join('\n'),
  );
});

test('realip inject -f - reads stdin and writes YAML (the real command)', () => {
  const r = spawnSync(
    process.execPath,
    [
      `${ROOT}bin/realip.js`,
      'inject',
      '-f',
      '-',
      '--sidecar-image',
      'img:1',
      '--trusted-cidrs',
      '10.0.0.0/8',
    ],
    { input: stringify(workloads.Deployment), encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  const out = docs(r.stdout)[0]!.toJS() as AnyDoc;
  const sidecar = out.spec.template.spec.initContainers.find(
    (c: { name: string }) => c.name === SIDECAR_CONTAINER,
  );
  assert.equal(sidecar.image, 'img:1');
  assert.equal(sidecar.restartPolicy, 'Always', 'auto means native sidecars offline');
  // the per-workload summary on stderr
  assert.match(
    r.stderr,
    /^document 1 \(Deployment web\):\n {2}realip: injected \(redirect mode, only connections from 10\.0\.0\.0\/8 steered; admin port 15021\)\n {2}realip: port 8080\/http: intercepted, http hop on sidecar port 15001\n$/,
  );
  // Issue 13, deliberately changed: without --trusted-cidrs this used to inject a sidecar that
  // redirected every source and refused them all; it is now skipped, with the reason.
  const off = spawnSync(
    process.execPath,
    [`${ROOT}bin/realip.js`, 'inject', '-', '--native-sidecar', 'off', '--trusted-cidrs', '10.0.0.0/8'],
    {
      input: stringify(workloads.Deployment),
      encoding: 'utf8',
    },
  );
  assert.equal(off.status, 0, off.stderr);
  const o2 = docs(off.stdout)[0]!.toJS() as AnyDoc;
  assert.equal(o2.spec.template.spec.containers[0].name, SIDECAR_CONTAINER);
  const untrusted = spawnSync(process.execPath, [`${ROOT}bin/realip.js`, 'inject', '-'], {
    input: stringify(workloads.Deployment),
    encoding: 'utf8',
  });
  assert.equal(untrusted.status, 0, untrusted.stderr);
  assert.match(untrusted.stderr, /not injected \(INJ_SKIP_NO_TRUSTED_SOURCES\)/);
  const o3 = docs(untrusted.stdout)[0]!.toJS() as AnyDoc;
  assert.equal(o3.spec.template.spec.initContainers, undefined);
  const bad = spawnSync(
    process.execPath,
    [`${ROOT}bin/realip.js`, 'inject', '-f', '-', '--proxy', 'maybe', '--steering', 'x'],
    {
      input: '',
      encoding: 'utf8',
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--proxy \/ REALIP_PROXY = "maybe"/);
  assert.match(bad.stderr, /--steering \/ REALIP_STEERING = "x"/);
});

test('fuzz: arbitrary text and mangled workloads never throw (errors are reported, not raised)', async () => {
  const fc = (await import('fast-check')).default;
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (text) => {
      const r = injectYaml(text, TEST_DEFAULTS);
      assert.ok(Array.isArray(r.errors));
    }),
    { numRuns: 500 },
  );
  const kinds = fc.constantFrom('Pod', 'Deployment', 'CronJob', 'List', 'Job', 'Service');
  fc.assert(
    fc.property(kinds, fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3 }), (kind, spec, meta) => {
      const doc = stringify({ apiVersion: 'v1', kind, metadata: meta, spec, items: [spec] });
      const r = injectYaml(doc, TEST_DEFAULTS);
      assert.ok(
        r.errors.every((e) => e.startsWith('document 1')),
        r.errors.join('\n'),
      );
    }),
    { numRuns: 500 },
  );
});
