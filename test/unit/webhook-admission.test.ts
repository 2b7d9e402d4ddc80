// AdmissionReview fixtures (shaped like the API server's) -> response, pinned by golden patches.
// UPDATE_GOLDEN=1 npx node --test test/unit/webhook-admission.test.ts rewrites the *.patch.json files.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import jsonpatch from 'fast-json-patch';
import { Pod as PodModel } from 'kubernetes-models/v1';
import { Annotations, INIT_CONTAINER, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { version } from '../../common/version.ts';
import { admit } from '../../webhook/admission/admit.ts';
import type { PatchOp } from '../../webhook/admission/json-patch.ts';
import type { Json, Pod } from '../../webhook/admission/pod.ts';
import { type ParsedReview, parseReview } from '../../webhook/admission/review.ts';
import { defaultsFor } from '../fixtures/admission/defaults.ts';

const DIR = new URL('../fixtures/admission/', import.meta.url).pathname;

function load(name: string): ParsedReview {
  const parsed = parseReview(JSON.parse(readFileSync(join(DIR, `${name}.review.json`), 'utf8')));
  assert.ok(!('problem' in parsed), `fixture ${name} must be a valid AdmissionReview`);
  return parsed;
}

function decodePatch(patch: string | undefined): PatchOp[] | null {
  return patch === undefined
    ? null
    : (JSON.parse(Buffer.from(patch, 'base64').toString('utf8')) as PatchOp[]);
}

/** The status annotation carries the package version: pin it to a placeholder in golden files. */
function normalize(text: string): string {
  return text.split(`\\"version\\":\\"${version()}\\"`).join('\\"version\\":\\"VERSION\\"');
}

const fixtures = readdirSync(DIR)
  .filter((f) => f.endsWith('.review.json'))
  .map((f) => f.slice(0, -'.review.json'.length))
  .sort();

test('there are fixtures for every outcome', () => {
  assert.ok(fixtures.length >= 10);
});

for (const name of fixtures) {
  test(`golden: ${name}`, () => {
    const review = load(name);
    const out = admit(review, defaultsFor(name));
    assert.equal(out.review.apiVersion, review.apiVersion, 'answered in the version asked');
    assert.equal(out.review.kind, 'AdmissionReview');
    assert.equal(out.review.response.uid, review.request.uid, 'same uid');
    const { patch, ...rest } = out.review.response;
    const golden = {
      result: out.result,
      reasons: out.reasons,
      response: { ...rest, uid: undefined },
      patch: decodePatch(patch),
    };
    const text = normalize(`${JSON.stringify(golden, null, 2)}\n`);
    const file = join(DIR, `${name}.patch.json`);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
    assert.equal(
      text,
      readFileSync(file, 'utf8'),
      `${name}: differs from the golden file (UPDATE_GOLDEN=1 to accept)`,
    );
    if (patch !== undefined) assert.equal(out.review.response.patchType, 'JSONPatch');
    else assert.equal(out.review.response.patchType, undefined);
  });
}

for (const name of fixtures) {
  const review = load(name);
  const out = admit(review, defaultsFor(name));
  if (out.result !== 'injected') continue;
  const pod = review.request.object as Pod;
  const patched = jsonpatch.applyPatch(
    pod as unknown as Json,
    decodePatch(out.review.response.patch)!,
    true,
    false,
  ).newDocument as unknown as Pod;

  test(`${name}: the patched pod is valid against the Kubernetes Pod schema`, () => {
    new PodModel(patched as never).validate();
    // and the schema check itself can fail: a broken patch would be caught
    const broken = structuredClone(patched);
    (broken.spec.containers[0] as { ports?: unknown }).ports = [{ containerPort: 'eighty' }];
    assert.throws(() => new PodModel(broken as never).validate());
  });

  test(`${name}: sidecar injected exactly once, status annotation written`, () => {
    const all = [...patched.spec.containers, ...(patched.spec.initContainers ?? [])].map((c) => c.name);
    assert.equal(all.filter((n) => n === SIDECAR_CONTAINER).length, 1);
    assert.ok(all.filter((n) => n === INIT_CONTAINER).length <= 1);
    const status = JSON.parse(patched.metadata!.annotations![Annotations.status]!);
    assert.equal(status.version, version());
    assert.ok(Array.isArray(status.listeners) && status.listeners.length > 0);
  });

  test(`${name}: patching an already-patched pod is a no-op (idempotent, no patch)`, () => {
    const again = admit({ ...review, request: { ...review.request, object: patched } }, defaultsFor(name));
    assert.equal(again.result, 'skipped');
    assert.deepEqual(again.reasons, ['INJ_SKIP_ALREADY_INJECTED']);
    assert.equal(again.review.response.patch, undefined);
    // the API server re-defaults fields between invocations: still recognised, by name not equality
    const redefaulted = structuredClone(patched);
    delete redefaulted.metadata!.annotations![Annotations.status];
    for (const c of redefaulted.spec.containers) c.terminationMessagePath = '/dev/termination-log';
    const third = admit(
      { ...review, request: { ...review.request, object: redefaulted } },
      defaultsFor(name),
    );
    assert.equal(third.review.response.patch, undefined);
  });
}
