// Which way imports go between the dev-only folders and the rest: bench/ may use devkit/ and
// production code but never test/; production folders (what the package ships) never import from
// test/, bench/ or devkit/. Read as text: a relative import that leaves its folder names the folder.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const ROOT = new URL('../../', import.meta.url).pathname;
const PRODUCTION = ['cli', 'common', 'sidecar', 'webhook'];

function tsFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** The top-level folder of every relative import (static, dynamic or re-export) of a file. */
function importedFolders(file: string): Set<string> {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const out = new Set<string>();
  for (const m of text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = relative(ROOT, resolve(dirname(join(ROOT, file)), m[1]!));
    out.add(target.split('/')[0]!);
  }
  return out;
}

function offenders(folders: readonly string[], banned: readonly string[]): string[] {
  return folders.flatMap((f) =>
    tsFiles(f).flatMap((file) =>
      [...importedFolders(file)].filter((t) => banned.includes(t)).map((t) => `${file} -> ${t}/`),
    ),
  );
}

test('bench/ does not import from test/ (shared code lives in devkit/)', () => {
  assert.deepEqual(offenders(['bench'], ['test']), []);
});

test('production folders do not import from test/, bench/ or devkit/', () => {
  assert.deepEqual(offenders(PRODUCTION, ['test', 'bench', 'devkit']), []);
});

test('devkit/ imports nothing of the tests, benches or production code', () => {
  assert.deepEqual(offenders(['devkit'], ['test', 'bench', ...PRODUCTION]), []);
});

test('sidecar/ and webhook/ never import each other; common/ imports neither, nor cli/', () => {
  assert.deepEqual(offenders(['sidecar'], ['webhook', 'cli']), []);
  assert.deepEqual(offenders(['webhook'], ['sidecar', 'cli']), []);
  assert.deepEqual(offenders(['common'], ['sidecar', 'webhook', 'cli']), []);
});

test('each command file imports one component (so an image loads only its own)', () => {
  const bad = tsFiles('cli/commands').flatMap((file) => {
    const components = [...importedFolders(file)].filter((f) => f === 'sidecar' || f === 'webhook');
    return components.length === 1 ? [] : [`${file} -> ${components.join(', ') || 'none'}`];
  });
  assert.deepEqual(bad, []);
});

test('the checker sees a relative import that leaves its folder', () => {
  // A guard on the guard: bench/http.ts does import devkit/ and sidecar/ today.
  const seen = importedFolders('bench/http.ts');
  assert.ok(seen.has('devkit') && seen.has('sidecar'), [...seen].join(', '));
});
