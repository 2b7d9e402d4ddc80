// charts/realip/README.md is generated from values.yaml's `# --` comments (npm run docs:chart): it
// must be current, and the reader must follow helm-docs' rules and refuse undocumented values.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { expectedReadme, README } from '../../scripts/chart-readme.ts';
import { cell } from '../../scripts/chart-readme/render.ts';
import { readDescriptions, ValuesDocError, valueRows } from '../../scripts/chart-readme/values-doc.ts';

const ROOT = new URL('../..', import.meta.url).pathname;

describe('chart README', () => {
  test('charts/realip/README.md is up to date (run npm run docs:chart)', () => {
    assert.equal(
      readFileSync(README, 'utf8'),
      expectedReadme(),
      'charts/realip/README.md is stale: npm run docs:chart',
    );
  });

  test('every leaf value of values.yaml has a row, or a documented ancestor', () => {
    const rows = valueRows(readFileSync(join(ROOT, 'charts/realip/values.yaml'), 'utf8'));
    const keys = new Set(rows.map((r) => r.key));
    for (const k of [
      'injection.trustedCidrs',
      'webhook.failurePolicy',
      'tls.certManager.issuerRef',
      'resources',
    ]) {
      assert.ok(keys.has(k), `no row for ${k}`);
    }
    assert.ok(
      !keys.has('resources.requests.cpu'),
      'children of a documented map without their own docs are folded',
    );
  });

  test('npm run docs:chart -- --check passes on the committed README, fails on a stale one naming the fix', () => {
    const script = join(ROOT, 'scripts/chart-readme.ts');
    const ok = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' });
    assert.equal(ok.status, 0, ok.stderr);
    const dir = mkdtempSync(join(tmpdir(), 'realip-chart-readme-'));
    try {
      const stale = join(dir, 'README.md');
      writeFileSync(stale, expectedReadme().replace('injection.trustedCidrs', 'injection.trustedCIDRs'));
      const r = spawnSync(process.execPath, [script, '--check', '--readme', stale], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /DOCS_CHART_STALE: .* is out of date: run npm run docs:chart/);
      const w = spawnSync(process.execPath, [script, '--readme', stale], { encoding: 'utf8' });
      assert.equal(w.status, 0, w.stderr);
      assert.equal(readFileSync(stale, 'utf8'), expectedReadme());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('values.yaml comments (helm-docs rules)', () => {
  test('a `# --` block documents the key below it; continuation lines join; notes before `# --` are not published', () => {
    const d = readDescriptions(
      [
        '# a file header, not attached (blank line follows)',
        '',
        '# an editor note',
        '# -- The first line',
        '# continues here.',
        'a: 1',
        'b:',
        '  # -- Nested.',
        '  c: x',
        '  d: y',
        '# -- Back at the top.',
        'e: []',
      ].join('\n'),
    );
    assert.deepEqual(Object.fromEntries(d), {
      a: 'The first line continues here.',
      'b.c': 'Nested.',
      e: 'Back at the top.',
    });
  });

  test('a comment separated by a blank line documents nothing', () => {
    assert.equal(readDescriptions('# -- Detached.\n\nx: 1\n').size, 0);
  });

  test('an undocumented value is an error naming every such key', () => {
    const text = ['# -- Documented.', 'a: 1', 'b:', '  c: 2', '  # -- ok', '  d: 3', 'e: ""'].join('\n');
    assert.throws(
      () => valueRows(text),
      (err: unknown) =>
        err instanceof ValuesDocError &&
        err.code === 'DOCS_CHART_UNDOCUMENTED' &&
        err.keys.join() === 'b.c,e' &&
        /b\.c, e/.test(err.message),
    );
  });

  test('types and defaults as helm-docs writes them; a documented map with documented keys is a section', () => {
    const rows = valueRows(
      [
        '# -- s',
        's: ""',
        '# -- i',
        'i: 3',
        '# -- f',
        'f: 0.5',
        '# -- b',
        'b: false',
        '# -- l',
        'l: [1]',
        '# -- section',
        'm:',
        '  # -- inner',
        '  k: v',
      ].join('\n'),
    );
    assert.deepEqual(
      rows.map((r) => [r.key, r.type, r.defaultJson]),
      [
        ['s', 'string', '""'],
        ['i', 'int', '3'],
        ['f', 'float', '0.5'],
        ['b', 'bool', 'false'],
        ['l', 'list', '[1]'],
        ['m', 'object', ''],
        ['m.k', 'string', '"v"'],
      ],
    );
  });

  test('table cells: pipes escaped, HTML-looking text shown, code spans left as written', () => {
    assert.equal(cell('a | b'), 'a \\| b');
    assert.equal(cell('"<fullname>-tls" and `<kept>`'), '"&lt;fullname&gt;-tls" and `<kept>`');
  });
});
