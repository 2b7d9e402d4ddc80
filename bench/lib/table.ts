import { loadavg } from 'node:os';

/** The benches' figures: medians, "median (min-max)" spreads over rounds, and aligned tables. */

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** "median (min-max)" or just the value for one sample. */
export function spread(xs: readonly number[], digits: number): string {
  if (xs.length === 0) return '-';
  if (xs.length === 1) return xs[0]!.toFixed(digits);
  return `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}-${Math.max(...xs).toFixed(digits)})`;
}

/** Prints rows as left-aligned columns; the first row is the header. */
export function print(rows: readonly (readonly string[])[]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
}

/** A load generator's duration ("850us", "1.2ms", "2s") in ms; NaN if it is not one. */
export function durationMs(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec((text ?? '').trim());
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/** The 1, 5 and 15 minute load averages, "1.2 0.8 0.5". */
export function loadAverage(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
}
