// The error registry (common/error-codes/) and docs/errors.md agree both ways, and the source uses
// no code the registry does not declare (fastify tests its errors registry against its doc the same way).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  type DeclaredCode,
  ERRORS,
  FAMILIES,
  type HttpCode,
  isErrorCode,
  type StatusBeside,
} from '../../common/error-codes/registry.ts';
import { RealipError } from '../../common/errors.ts';
import { markedFamilies, renderDoc } from '../../scripts/error-docs/render.ts';
import { answer } from '../../sidecar/http/answers.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SOURCE_DIRS = ['cli', 'common', 'sidecar', 'webhook', 'scripts'];
/** Prefixes of our codes; see common/errors.ts. */
const PREFIX = '(?:PP|CFG|HTTP|H2|TCP|STEER|WH|INJ|CERT|CHK|CLI|ADMIN|DOCS)';
const QUOTED = new RegExp(`['"\`](${PREFIX}_[A-Z0-9_]+)['"\`]`, 'g');
/** A code at the start of a `CODE: message` text inside a string, e.g. 'realip x: CLI_Y: ...'. */
const IN_TEXT = new RegExp(`['"\`][^'"\`\\n]*?: (${PREFIX}_[A-Z0-9_]+):`, 'g');
const IN_DOC = new RegExp(`\`(${PREFIX}_[A-Z0-9_]*)(\\*?)\``, 'g');
const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules' || name === 'build') continue;
    if (statSync(p).isDirectory()) yield* walk(p);
    else if (p.endsWith('.ts')) yield p;
  }
}

test('every error code in the source is declared in the registry (and so documented)', () => {
  const found = new Map<string, string>();
  for (const dir of SOURCE_DIRS) {
    for (const file of walk(join(ROOT, dir))) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(QUOTED)) found.set(m[1]!, file.slice(ROOT.length));
      for (const m of text.matchAll(IN_TEXT)) found.set(m[1]!, file.slice(ROOT.length));
    }
  }
  assert.ok(found.size > 10, `expected to find error codes in the source, found ${found.size}`);
  const missing = [...found].filter(([code]) => !isErrorCode(code));
  assert.deepEqual(
    missing,
    [],
    `codes not declared in common/error-codes/: ${missing.map(([c, f]) => `${c} (${f})`).join(', ')}`,
  );
});

test('docs/errors.md tables are the ones the registry generates (npm run docs:errors)', () => {
  assert.deepEqual(markedFamilies(doc), Object.keys(FAMILIES), 'one marked table per family, in order');
  assert.equal(renderDoc(doc), doc, 'docs/errors.md is stale: run npm run docs:errors');
});

test('every code docs/errors.md names is declared in the registry', () => {
  const unknown: string[] = [];
  for (const m of doc.matchAll(IN_DOC)) {
    const [, name, star] = m;
    // `TCP_` and `TCP_*` name a family, `INJ_PORT_*` a group; the prose lists CERT_ among the
    // families (the webhook's certificate code), though no CERT_ code is declared yet.
    if (name === 'CERT_') continue;
    if (star || name!.endsWith('_')) {
      if (!Object.keys(ERRORS).some((c) => c.startsWith(name!))) unknown.push(`${name}${star}`);
    } else if (!Object.hasOwn(ERRORS, name!)) unknown.push(name!);
  }
  assert.deepEqual(unknown, []);
});

test('each code is declared once, in the family its prefix names', () => {
  const all = Object.values(FAMILIES).flatMap((f) => Object.keys(f));
  assert.equal(new Set(all).size, all.length, 'a code is declared in two families');
  assert.equal(all.length, Object.keys(ERRORS).length);
  for (const [family, codes] of Object.entries(FAMILIES)) {
    const prefixes = new Set(Object.keys(codes).map((c) => c.split('_')[0]));
    assert.ok(prefixes.size <= 2, `${family}: ${[...prefixes].join(', ')}`);
  }
  const retired = (Object.keys(ERRORS) as DeclaredCode[]).filter((c) => ERRORS[c].retired !== undefined);
  assert.ok(retired.includes('HTTP_CONNECT_WITH_BODY'));
  for (const c of retired) assert.equal(isErrorCode(c), false, c);
});

test('every status the HTTP hop answers with has its reason phrase', () => {
  // The status beside each code in sidecar/http/ is checked against the registry by tsc (fail()).
  let n = 0;
  for (const [code, spec] of Object.entries(FAMILIES.http)) {
    if (!('http' in spec) || spec.http === 0 || isErrorCode(code) === false) continue;
    n++;
    const head = answer(spec.http, code as HttpCode)
      .toString('latin1')
      .split('\r\n')[0]!;
    assert.match(head, new RegExp(`^HTTP/1\\.1 ${spec.http} [A-Z]`), code);
    assert.doesNotMatch(head, / Error$/, `${code}: no reason phrase for ${spec.http} in answers.ts`);
  }
  assert.ok(n > 10, `expected answered codes, found ${n}`);
});

test('a code the registry does not declare, or has retired, does not compile (npm run check)', () => {
  // Each @ts-expect-error fails `tsc` if the line below it ever compiles.
  // @ts-expect-error: not declared
  const unknown = new RealipError('HTTP_NO_SUCH_CODE', 'x');
  // @ts-expect-error: retired in 0.2.0, never reused
  const retired = new RealipError('HTTP_CONNECT_WITH_BODY', 'x');
  // @ts-expect-error: the registry declares 405 for HTTP_CONNECT_REFUSED
  const status: StatusBeside<'HTTP_CONNECT_REFUSED'> = 400;
  assert.equal(isErrorCode(unknown.code), false);
  assert.equal(isErrorCode(retired.code), false);
  assert.equal(status, 400);
});
