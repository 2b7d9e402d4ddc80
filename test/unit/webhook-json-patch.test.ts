// The JSON Patch builder: applying diff(a, b) to a gives b, for any JSON; pointers are escaped.
// The patches are applied by fast-json-patch, an implementation independent of ours (the oracle).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import jsonpatch from 'fast-json-patch';
import { diff, escapePointer, type PatchOp } from '../../webhook/admission/json-patch.ts';
import type { Json } from '../../webhook/admission/pod.ts';

const PROTO = '__proto__';

/**
 * fast-json-patch's applyPatch, validating every operation, on a copy. It refuses `__proto__` in a
 * path (against prototype pollution), yet that is a legal JSON key, one fast-check generates on
 * purpose and one our diff must handle: so the key is renamed to one that occurs nowhere in the
 * document or the patch, the patch applied, and the name given back (as an own property). The
 * renaming is a bijection, so the oracle judges exactly the patch our diff produced.
 */
function applyPatch(doc: Json, ops: readonly PatchOp[]): Json {
  const keys = new Set<string>();
  collectKeys(doc, keys);
  for (const op of ops) if (op.op !== 'remove') collectKeys(op.value, keys);
  let alias = `${PROTO}_`;
  while (keys.has(alias)) alias += '_';
  const renamed = ops.map((op) => {
    const path = op.path
      .split('/')
      .map((s) => (s === PROTO ? alias : s))
      .join('/');
    return op.op === 'remove' ? { ...op, path } : { ...op, path, value: renameKey(op.value, PROTO, alias) };
  });
  const out = jsonpatch.applyPatch(renameKey(doc, PROTO, alias), renamed, true, false).newDocument;
  return renameKey(out, alias, PROTO);
}

function collectKeys(v: Json, keys: Set<string>): void {
  if (typeof v !== 'object' || v === null) return;
  if (Array.isArray(v)) {
    for (const x of v) collectKeys(x, keys);
    return;
  }
  for (const [k, x] of Object.entries(v)) {
    keys.add(k);
    collectKeys(x, keys);
  }
}

/** A deep copy with every member named `from` named `to` (defineProperty: `__proto__` stays an own member). */
function renameKey(v: Json, from: string, to: string): Json {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => renameKey(x, from, to));
  const out: { [key: string]: Json } = {};
  for (const [k, x] of Object.entries(v)) {
    Object.defineProperty(out, k === from ? to : k, {
      value: renameKey(x, from, to),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

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

test('property: applyPatch(a, diff(a, b)) deep-equals b (fast-json-patch applies)', () => {
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
