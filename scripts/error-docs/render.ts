/**
 * docs/errors.md's tables, rendered from the error registry (pure). Each table sits between
 * `<!-- errors:FAMILY -->` and `<!-- /errors:FAMILY -->`; the prose around them is the doc's own.
 */
import { FAMILIES } from '../../common/error-codes/registry.ts';
import type { CodeSpec } from '../../common/error-codes/spec.ts';

export type FamilyName = keyof typeof FAMILIES;

interface Column {
  readonly title: string;
  readonly cell: (code: string, spec: CodeSpec) => string;
}

function statusColumn(family: FamilyName, specs: readonly CodeSpec[]): Column | undefined {
  if (family === 'http') {
    return {
      title: 'status',
      cell: (_, s) => (s.http === undefined ? '-' : `${s.http}${s.orClose ? '/0' : ''}`),
    };
  }
  if (family === 'check') return { title: 'level', cell: (_, s) => s.level ?? `exit ${s.exit}` };
  if (!specs.some((s) => s.exit !== undefined || s.http !== undefined)) return undefined;
  return {
    title: 'status',
    cell: (_, s) => (s.exit !== undefined ? `exit ${s.exit}` : s.http !== undefined ? `HTTP ${s.http}` : '-'),
  };
}

function columns(family: FamilyName, specs: readonly CodeSpec[]): Column[] {
  const status = statusColumn(family, specs);
  return [
    { title: 'code', cell: (code) => `\`${code}\`` },
    ...(status ? [status] : []),
    { title: family === 'tcp' ? 'when' : 'meaning', cell: (_, s) => s.meaning },
    ...(specs.some((s) => s.action !== undefined)
      ? [{ title: 'what to do', cell: (_: string, s: CodeSpec) => s.action ?? '' }]
      : []),
  ];
}

/** One family's table: short columns padded to their width, text columns left as they are. */
export function renderTable(family: FamilyName): string {
  const entries = Object.entries(FAMILIES[family]) as [string, CodeSpec][];
  const cols = columns(
    family,
    entries.map(([, s]) => s),
  );
  const rows = [cols.map((c) => c.title), ...entries.map(([code, s]) => cols.map((c) => c.cell(code, s)))];
  const widths = cols.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join(' | ')} |`;
  const rule = `| ${widths.map((w, i) => '-'.repeat(i < widths.length - 1 ? w : 3)).join(' | ')} |`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

const BLOCK = /<!-- errors:([a-z0-9-]+) -->\n[\s\S]*?<!-- \/errors:\1 -->/g;

/** The doc with each marked table replaced by the registry's; throws on an unknown family. */
export function renderDoc(doc: string): string {
  return doc.replace(BLOCK, (_, name: string) => {
    if (!Object.hasOwn(FAMILIES, name)) throw new Error(`docs/errors.md: unknown family "${name}"`);
    return `<!-- errors:${name} -->\n${renderTable(name as FamilyName)}\n<!-- /errors:${name} -->`;
  });
}

/** The families whose table the doc marks, in the doc's order. */
export function markedFamilies(doc: string): string[] {
  return [...doc.matchAll(BLOCK)].map((m) => m[1]!);
}
