// Every error code used in the source must be documented in docs/errors.md (as fastify does).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const SOURCE_DIRS = ['cli', 'common', 'sidecar', 'webhook'];
/** Families of our codes; see common/errors.ts. */
const CODE = /['"`]((?:PP|CFG|HTTP|TCP|STEER|WH|INJ|CERT|CHK|CLI|ADMIN)_[A-Z0-9_]+)['"`]/g;

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'build') continue;
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

test('every error code in the source is documented in docs/errors.md', () => {
  const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
  const found = new Map<string, string>();
  for (const dir of SOURCE_DIRS) {
    for (const file of walk(join(ROOT, dir))) {
      for (const m of readFileSync(file, 'utf8').matchAll(CODE)) found.set(m[1]!, file.slice(ROOT.length));
    }
  }
  assert.ok(found.size > 10, `expected to find error codes in the source, found ${found.size}`);
  const missing = [...found].filter(([code]) => !new RegExp(`\\b${code}\\b`).test(doc));
  assert.deepEqual(
    missing,
    [],
    `codes missing from docs/errors.md: ${missing.map(([c, f]) => `${c} (${f})`).join(', ')}`,
  );
});
