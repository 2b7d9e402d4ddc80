// `npm run soak`: the hardening suite (test/hardening) at full size (REALIP_SOAK=full), then one
// table of the figures every case reported: tried, passed, violations, errors, peak RSS, p99.
// `npm run soak -- --ci` prints the same table for the CI sizes. Exit status: non-zero when a test
// failed or a case reported a violation. Figures and how to read them: docs/hardening.md.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = new URL('../', import.meta.url).pathname;
const ci = process.argv.includes('--ci');
const dir = mkdtempSync(join(tmpdir(), 'realip-soak-'));
const report = join(dir, 'figures.jsonl');

interface Figure {
  case: string;
  tried: number;
  passed: number;
  violations: number;
  errors?: number;
  peakRssMb?: number;
  p99Ms?: number;
  note?: string;
}

const started = Date.now();
const code = await new Promise<number>((resolve) => {
  const child = spawn(
    process.execPath,
    ['--test', '--test-concurrency=1', '--test-timeout=3600000', 'test/hardening/**/*.test.ts'],
    {
      cwd: ROOT,
      stdio: 'inherit',
      env: { ...process.env, REALIP_SOAK: ci ? 'ci' : 'full', REALIP_HARDENING_REPORT: report },
    },
  );
  child.on('close', (c) => resolve(c ?? 1));
});
const minutes = ((Date.now() - started) / 60_000).toFixed(1);

const figures: Figure[] = existsSync(report)
  ? readFileSync(report, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Figure)
  : [];
rmSync(dir, { recursive: true, force: true });

const rows = figures.map((f) => [
  f.case,
  String(f.tried),
  String(f.passed),
  String(f.violations),
  f.errors === undefined ? '-' : String(f.errors),
  f.peakRssMb === undefined ? '-' : f.peakRssMb.toFixed(1),
  f.p99Ms === undefined ? '-' : f.p99Ms.toFixed(1),
]);
const head = ['case', 'tried', 'passed', 'violations', 'errors', 'peak RSS MB', 'p99 ms'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) =>
  `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
console.log(`\nrealip hardening figures (${ci ? 'CI sizes' : 'full soak'}, ${minutes} min)\n`);
console.log(line(head));
console.log(
  `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`,
);
for (const r of rows) console.log(line(r));
console.log('');
for (const f of figures) if (f.note) console.log(`- ${f.case}: ${f.note}`);
const violations = figures.reduce((n, f) => n + f.violations, 0);
console.log(`\ntest run exit ${code}; ${violations} violations in total`);
process.exitCode = code !== 0 || violations > 0 ? 1 : 0;
