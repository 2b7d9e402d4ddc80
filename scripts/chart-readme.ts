/**
 * Writes charts/realip/README.md from values.yaml's `# --` comments and Chart.yaml (helm-docs style,
 * without helm-docs: no download, no network). `--check` writes nothing and exits 1 when the README
 * is out of date. `--readme FILE` reads or writes FILE instead (tests).
 * Usage: npm run docs:chart [-- --check] [--readme FILE]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReadme } from './chart-readme/render.ts';
import { valueRows } from './chart-readme/values-doc.ts';

export const CHART_DIR = join(new URL('..', import.meta.url).pathname, 'charts/realip');
export const README = join(CHART_DIR, 'README.md');

export function expectedReadme(): string {
  const values = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8');
  const chart = readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8');
  return renderReadme(chart, valueRows(values));
}

function main(argv: readonly string[]): number {
  const at = argv.indexOf('--readme');
  const target = at >= 0 ? argv[at + 1] : README;
  if (target === undefined) {
    process.stderr.write('docs:chart: DOCS_CHART_INVALID: --readme needs a file\n');
    return 1;
  }
  let expected: string;
  try {
    expected = expectedReadme();
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'DOCS_CHART_INVALID';
    process.stderr.write(`docs:chart: ${code}: ${(err as Error).message}\n`);
    return 1;
  }
  if (argv.includes('--check')) {
    let current = '';
    try {
      current = readFileSync(target, 'utf8');
    } catch {}
    if (current === expected) return 0;
    process.stderr.write(`docs:chart: DOCS_CHART_STALE: ${target} is out of date: run npm run docs:chart\n`);
    return 1;
  }
  writeFileSync(target, expected);
  process.stdout.write(`docs:chart: wrote ${target}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
