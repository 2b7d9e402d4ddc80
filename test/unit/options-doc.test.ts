// The option tables in docs/ are generated from the commands' option schemas (npm run docs:options):
// a schema change that is not regenerated fails here, and so does a table edited by hand.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { optionList } from '../../common/option-schema.ts';
import { expectedDocs, ROOT } from '../../scripts/options-doc.ts';
import { optionsTable, replaceTable } from '../../scripts/options-doc/render.ts';
import { OPTION_TABLES } from '../../scripts/options-doc/tables.ts';
import { SIDECAR_SCHEMA } from '../../sidecar/config-schema.ts';
import { INIT_SCHEMA } from '../../sidecar/steering/config.ts';
import { WEBHOOK_SCHEMA } from '../../webhook/config-schema.ts';

describe('docs option tables', () => {
  test('every table in docs/ is what the schemas generate (run npm run docs:options)', () => {
    for (const [file, text] of expectedDocs()) {
      assert.equal(readFileSync(join(ROOT, file), 'utf8'), text, `${file} is stale: npm run docs:options`);
    }
  });

  test('every option of sidecar, init and webhook is in a docs table', () => {
    const tabulated = new Set(OPTION_TABLES.flatMap((t) => t.specs));
    for (const schema of [SIDECAR_SCHEMA, INIT_SCHEMA, WEBHOOK_SCHEMA]) {
      for (const spec of optionList(schema)) assert.ok(tabulated.has(spec), `--${spec.flag} is in no table`);
    }
  });

  test('a table edited by hand is regenerated; --check passes on the committed docs', () => {
    const table = OPTION_TABLES[0]!;
    const edited = (file: string) => {
      const text = readFileSync(join(ROOT, file), 'utf8');
      return file === table.file ? text.replace('| `--', '| `--x') : text;
    };
    const regenerated = expectedDocs(edited).get(table.file);
    assert.equal(regenerated, readFileSync(join(ROOT, table.file), 'utf8'));
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/options-doc.ts'), '--check'], {
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
  });

  test('a default change shows in the table, and missing markers are an error', () => {
    const spec = { ...SIDECAR_SCHEMA.drainTimeoutMs, default: 1234 };
    assert.match(optionsTable([spec]), /\| `--drain-timeout` \| `REALIP_DRAIN_TIMEOUT_MS` \| 1234 \|/);
    assert.throws(() => replaceTable('no markers here', 'sidecar', ''), { code: 'DOCS_OPTIONS_INVALID' });
  });
});
