// The JSON Patch builder: applying diff(a, b) to a gives b, for any JSON; pointers are escaped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyPatch, diff, escapePointer } from '../../webhook/admission/json-patch.ts';
import type { Json } from '../../webhook/admission/pod.ts';

test('RFC 6901 escaping: ~ before /', () => {
  assert.equal(escapePointer('realip.dev/status'), 'realip.dev~1status');
  assert.equal(escapePointer('a~/b'), 'a~0~1b');
  const ops = diff(
    { metadata: { annotations: { 'x~y/z': '1' } } },
    { metadata: { annotations: { 'x~y/z': '1', 'a/b': '2' } } },
  );
  assert.deepEqual(ops, [{ op: 'add', path: '/metadata/annotations/a~1b', value: '2' }]);
});

test('a container inserted first is one add, not a cascade of replaces', () => {
  const a = { containers: [{ name: 'app', image: 'x' }] };
  const b = {
    containers: [
      { name: 'sidecar', image: 's' },
      { name: 'app', image: 'y' },
    ],
  };
  assert.deepEqual(diff(a, b), [
    { op: 'add', path: '/containers/0', value: { name: 'sidecar', image: 's' } },
    { op: 'replace', path: '/containers/1/image', value: 'y' },
  ]);
});

test('missing arrays and maps are added whole', () => {
  assert.deepEqual(diff({ spec: {} }, { spec: { initContainers: [{ name: 'i' }] } }), [
    { op: 'add', path: '/spec/initContainers', value: [{ name: 'i' }] },
  ]);
});

test('equal documents give an empty patch', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => diff(v as Json, structuredClone(v) as Json).length === 0));
});

test('property: applyPatch(a, diff(a, b)) deep-equals b', () => {
  const json = fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>;
  fc.assert(
    fc.property(json, json, (a, b) => {
      const out = applyPatch(a, diff(a, b));
      assert.deepEqual(JSON.parse(JSON.stringify(out)), JSON.parse(JSON.stringify(b)));
    }),
    { numRuns: 2000 },
  );
});

test('property: growing named lists patch correctly too', () => {
  const item = fc.record({ name: fc.constantFrom('a', 'b', 'c', 'd'), v: fc.integer() });
  fc.assert(
    fc.property(
      fc.array(item, { maxLength: 5 }),
      fc.array(item, { maxLength: 3 }),
      fc.nat(),
      (a, extra, at) => {
        const k = a.length === 0 ? 0 : at % (a.length + 1);
        const b = [...a.slice(0, k), ...extra, ...a.slice(k)].map((x, i) =>
          i % 2 ? { ...x, v: x.v + 1 } : x,
        );
        const plain = (x: unknown) => JSON.parse(JSON.stringify(x));
        assert.deepEqual(plain(applyPatch({ list: a }, diff({ list: a }, { list: b }))), plain({ list: b }));
      },
    ),
    { numRuns: 2000 },
  );
});

test('regression: a "__proto__" member is added as an own property (found by the property test, seed -873034196)', () => {
  const b = JSON.parse('{"__proto__":null}') as Json;
  const out = applyPatch({}, diff({}, b));
  assert.deepEqual(JSON.parse(JSON.stringify(out)), JSON.parse(JSON.stringify(b)));
});
