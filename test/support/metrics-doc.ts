/**
 * Reads the metric tables of docs/metrics.md and parses Prometheus text exposition, so tests can
 * compare what is documented with what /metrics really serves.
 */
import { readFileSync } from 'node:fs';

export interface DocumentedMetric {
  readonly name: string;
  readonly type: string;
  readonly labels: readonly string[];
  readonly when: string;
}

const DOC = new URL('../../docs/metrics.md', import.meta.url);

/** The rows of the table under `## <section>`. */
export function documentedMetrics(section: 'Sidecar' | 'Webhook'): DocumentedMetric[] {
  const text = readFileSync(DOC, 'utf8');
  const start = text.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`docs/metrics.md has no "## ${section}" section`);
  const next = text.indexOf('\n## ', start + 4);
  const body = text.slice(start, next < 0 ? undefined : next);
  const rows: DocumentedMetric[] = [];
  for (const line of body.split('\n')) {
    const m = /^\| `([a-z_:]+)` \| (\w+) \|([^|]*)\|([^|]*)\|/.exec(line);
    if (!m) continue;
    const labels = [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!);
    rows.push({ name: m[1]!, type: m[2]!, labels: labels.sort(), when: m[4]!.trim() });
  }
  return rows;
}

export interface Family {
  readonly name: string;
  readonly type: string;
  /** Label names seen on samples (`le` of histogram buckets left out). */
  readonly labels: Set<string>;
  readonly samples: {
    readonly suffix: string;
    readonly labels: Record<string, string>;
    readonly value: number;
  }[];
}

/** Parses exposition text into families keyed by name (histogram samples folded into theirs). */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)$/.exec(line);
    if (t) {
      if (families.has(t[1]!)) throw new Error(`metric family ${t[1]} declared twice`);
      families.set(t[1]!, { name: t[1]!, type: t[2]!, labels: new Set(), samples: [] });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const s = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!s) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (s[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    let name = s[1]!;
    let suffix = '';
    if (!families.has(name)) {
      const h = /^(.*)(_bucket|_sum|_count)$/.exec(name);
      if (h && families.get(h[1]!)?.type === 'histogram') {
        name = h[1]!;
        suffix = h[2]!;
      }
    }
    const f = families.get(name);
    if (!f) throw new Error(`sample ${s[1]} without a # TYPE line`);
    for (const k of Object.keys(labels)) if (k !== 'le' || f.type !== 'histogram') f.labels.add(k);
    f.samples.push({ suffix, labels, value: Number(s[3]) });
  }
  return families;
}

/** Label values of `label` on the samples of `family` that match `where`. */
export function labelValues(
  families: Map<string, Family>,
  family: string,
  label: string,
  where: Record<string, string> = {},
): string[] {
  const f = families.get(family);
  if (!f) return [];
  const out = new Set<string>();
  for (const s of f.samples) {
    if (Object.entries(where).every(([k, v]) => s.labels[k] === v) && s.labels[label] !== undefined)
      out.add(s.labels[label]!);
  }
  return [...out].sort();
}

/** The value of one sample (suffix '' or _count/_sum/_bucket), or undefined. */
export function sample(
  families: Map<string, Family>,
  family: string,
  suffix: string,
  where: Record<string, string>,
): number | undefined {
  const f = families.get(family);
  const s = f?.samples.find(
    (x) => x.suffix === suffix && Object.entries(where).every(([k, v]) => x.labels[k] === v),
  );
  return s?.value;
}
