/**
 * Writes the option tables in docs/ from the commands' option schemas (scripts/options-doc/tables.ts
 * says which table goes where). `--check` writes nothing and exits 1 when a table is out of date.
 * Usage: npm run docs:options [-- --check]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { optionsTable, replaceTable } from './options-doc/render.ts';
import { OPTION_TABLES } from './options-doc/tables.ts';

export const ROOT = new URL('..', import.meta.url).pathname;

/** Every file that holds a table, as it should read. */
export function expectedDocs(read: (file: string) => string = (f) => readFileSync(join(ROOT, f), 'utf8')) {
  const docs = new Map<string, string>();
  for (const t of OPTION_TABLES) {
    const doc = docs.get(t.file) ?? read(t.file);
    docs.set(t.file, replaceTable(doc, t.id, optionsTable(t.specs)));
  }
  return docs;
}

function main(argv: readonly string[]): number {
  let expected: Map<string, string>;
  try {
    expected = expectedDocs();
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'DOCS_OPTIONS_INVALID';
    process.stderr.write(`docs:options: ${code}: ${(err as Error).message}\n`);
    return 1;
  }
  const check = argv.includes('--check');
  let stale = 0;
  for (const [file, text] of expected) {
    const path = join(ROOT, file);
    if (readFileSync(path, 'utf8') === text) continue;
    if (check) {
      process.stderr.write(
        `docs:options: DOCS_OPTIONS_STALE: ${file} is out of date: run npm run docs:options\n`,
      );
      stale++;
    } else {
      writeFileSync(path, text);
      process.stdout.write(`docs:options: wrote ${file}\n`);
    }
  }
  return stale > 0 ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
