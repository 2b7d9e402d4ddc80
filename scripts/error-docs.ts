/**
 * `npm run docs:errors`: regenerates the tables of docs/errors.md from the error registry
 * (common/error-codes/). `--check` writes nothing and exits 1 when the doc is out of date
 * (test/unit/errors-doc.test.ts checks the same).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderDoc } from './error-docs/render.ts';

export const ERRORS_DOC = new URL('../docs/errors.md', import.meta.url).pathname;

function main(argv: readonly string[]): number {
  const current = readFileSync(ERRORS_DOC, 'utf8');
  const expected = renderDoc(current);
  if (argv.includes('--check')) {
    if (current === expected) return 0;
    process.stderr.write(
      `docs:errors: DOCS_ERRORS_STALE: ${ERRORS_DOC} is out of date: run npm run docs:errors\n`,
    );
    return 1;
  }
  writeFileSync(ERRORS_DOC, expected);
  process.stdout.write(`docs:errors: wrote ${ERRORS_DOC}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
