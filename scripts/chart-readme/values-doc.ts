/**
 * The documentation of a chart's values, read from values.yaml the way helm-docs reads it: a comment
 * block directly above a key (no blank line between) whose line starts with `# --` documents that
 * key; the `#` lines after it continue the description. Lines of the block before `# --` are notes
 * for whoever edits the file and are not published.
 *
 * Pure: text in, rows out. Every value must be documented, by its own comment or an ancestor's: an
 * undocumented value is an error naming it, so the README can never silently miss one.
 */
import { parse as loadYaml } from 'yaml';
import type { ErrorCode } from '../../common/error-codes/registry.ts';

export interface ValueRow {
  /** Dotted path, e.g. `injection.sidecar.image.repository`. */
  readonly key: string;
  /** helm-docs' type names: string, int, float, bool, list, object. */
  readonly type: string;
  /** The default as JSON, or '' for a section whose keys are listed after it. */
  readonly defaultJson: string;
  readonly description: string;
}

export class ValuesDocError extends Error {
  readonly code: ErrorCode = 'DOCS_CHART_UNDOCUMENTED';
  readonly keys: readonly string[];
  constructor(keys: readonly string[]) {
    super(`values.yaml: no "# --" comment documents ${keys.join(', ')}`);
    this.keys = keys;
  }
}

const KEY_LINE = /^(\s*)([A-Za-z0-9_][A-Za-z0-9_.-]*):(?:\s|$)/;
const COMMENT_LINE = /^\s*#\s?(.*)$/;

/** Descriptions by dotted key path, from the `# --` comment blocks of a values.yaml. */
export function readDescriptions(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const stack: { indent: number; key: string }[] = [];
  let block: string[] = [];
  for (const line of text.split('\n')) {
    const comment = COMMENT_LINE.exec(line);
    if (comment) {
      block.push(comment[1] ?? '');
      continue;
    }
    const key = KEY_LINE.exec(line);
    if (key) {
      const indent = (key[1] ?? '').length;
      while (stack.length > 0 && (stack.at(-1)?.indent ?? -1) >= indent) stack.pop();
      const path = [...stack.map((s) => s.key), key[2] ?? ''].join('.');
      const description = descriptionOf(block);
      if (description !== undefined) out.set(path, description);
      stack.push({ indent, key: key[2] ?? '' });
    }
    // A blank line, a list item or a continuation detaches any comment above it.
    block = [];
  }
  return out;
}

function descriptionOf(block: readonly string[]): string | undefined {
  const start = block.findIndex((l) => l === '--' || l.startsWith('-- '));
  if (start < 0) return undefined;
  const lines = [(block[start] ?? '').slice(2), ...block.slice(start + 1)];
  return lines
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' ');
}

function typeOf(v: unknown): string {
  if (Array.isArray(v)) return 'list';
  if (v === null) return 'string';
  switch (typeof v) {
    case 'boolean':
      return 'bool';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'float';
    case 'object':
      return 'object';
    default:
      return 'string';
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The rows of the values table, in file order; throws ValuesDocError listing every undocumented value. */
export function valueRows(valuesYaml: string): ValueRow[] {
  const values: unknown = loadYaml(valuesYaml);
  if (!isMap(values)) throw new Error('values.yaml: not a map');
  const docs = readDescriptions(valuesYaml);
  const rows: ValueRow[] = [];
  const undocumented: string[] = [];
  const hasDocumentedBelow = (prefix: string): boolean =>
    [...docs.keys()].some((k) => k.startsWith(`${prefix}.`));

  const walk = (map: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(map)) {
      const key = prefix === '' ? name : `${prefix}.${name}`;
      const description = docs.get(key);
      const section = isMap(value) && Object.keys(value).length > 0 && hasDocumentedBelow(key);
      if (description !== undefined) {
        rows.push({
          key,
          type: typeOf(value),
          defaultJson: section ? '' : JSON.stringify(value),
          description,
        });
      }
      if (section) walk(value as Record<string, unknown>, key);
      else if (description === undefined) {
        if (isMap(value) && Object.keys(value).length > 0) walk(value, key);
        else undocumented.push(key);
      }
    }
  };
  walk(values, '');
  if (undocumented.length > 0) throw new ValuesDocError(undocumented);
  return rows;
}
