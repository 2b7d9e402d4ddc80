/**
 * A tiny Prometheus text-format registry: counters, gauges and fixed-bucket histograms, with
 * labels. No dependency (prom-client costs RSS in every pod: docs/decisions.md). Hot paths bind a
 * series once (`series(labels)`) and then observe or add with no allocation at all.
 */
type Labels = Readonly<Record<string, string | number>>;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(String(labels[k]))}"`).join(',')}}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

interface Metric {
  readonly name: string;
  render(): string;
}

/** One bound counter series: inc() is a field update. */
export interface CounterSeries {
  inc(by?: number): void;
}

class CounterCell implements CounterSeries {
  value = 0;
  inc(by = 1): void {
    this.value += by;
  }
}

export class Counter implements Metric {
  private readonly values = new Map<string, CounterCell>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  series(labels?: Labels): CounterSeries {
    const k = labelKey(labels);
    let c = this.values.get(k);
    if (!c) {
      c = new CounterCell();
      this.values.set(k, c);
    }
    return c;
  }
  inc(labels?: Labels, by = 1): void {
    (this.series(labels) as CounterCell).value += by;
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
  /** The sum over every series. */
  total(): number {
    let n = 0;
    for (const c of this.values.values()) n += c.value;
    return n;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [k, c] of this.values) lines.push(`${this.name}${k} ${c.value}`);
    return lines.join('\n');
  }
}

/** One bound gauge series. */
export interface GaugeSeries {
  add(by: number): void;
}

export class Gauge implements Metric {
  private readonly values = new Map<string, CounterCell>();
  readonly name: string;
  readonly help: string;
  private readonly collect: (() => number) | undefined;
  constructor(name: string, help: string, collect?: () => number) {
    this.name = name;
    this.help = help;
    this.collect = collect;
  }
  private cell(labels: Labels | undefined): CounterCell {
    const k = labelKey(labels);
    let c = this.values.get(k);
    if (!c) {
      c = new CounterCell();
      this.values.set(k, c);
    }
    return c;
  }
  set(value: number, labels?: Labels): void {
    this.cell(labels).value = value;
  }
  add(by: number, labels?: Labels): void {
    this.cell(labels).value += by;
  }
  get(labels?: Labels): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }
  /** A bound series: add() is a field update (negative to decrease). */
  series(labels?: Labels): GaugeSeries {
    const c = this.cell(labels);
    return { add: (by: number) => c.inc(by) };
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    if (this.collect) lines.push(`${this.name} ${this.collect()}`);
    for (const [k, c] of this.values) lines.push(`${this.name}${k} ${c.value}`);
    return lines.join('\n');
  }
}

/** One bound histogram series. */
export interface HistogramSeries {
  observe(value: number): void;
}

class HistogramCell implements HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly buckets: readonly number[];
  constructor(buckets: readonly number[]) {
    this.buckets = buckets;
    this.counts = new Float64Array(buckets.length);
  }
  observe(value: number): void {
    this.sum += value;
    this.count++;
    // Non-cumulative here (one increment per observation); cumulated when rendered.
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

export class Histogram implements Metric {
  private readonly cells = new Map<string, HistogramCell>();
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  constructor(
    name: string,
    help: string,
    buckets: readonly number[] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  ) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  series(labels?: Labels): HistogramSeries {
    const k = labelKey(labels);
    let c = this.cells.get(k);
    if (!c) {
      c = new HistogramCell(this.buckets);
      this.cells.set(k, c);
    }
    return c;
  }
  observe(value: number, labels?: Labels): void {
    this.series(labels).observe(value);
  }
  /** Observations so far in one series (tests). */
  count(labels?: Labels): number {
    return this.cells.get(labelKey(labels))?.count ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const [k, c] of this.cells) {
      const inner = k === '' ? '' : `${k.slice(1, -1)},`;
      let cumulative = 0;
      for (let i = 0; i < this.buckets.length; i++) {
        cumulative += c.counts[i]!;
        lines.push(`${this.name}_bucket{${inner}le="${this.buckets[i]}"} ${cumulative}`);
      }
      lines.push(
        `${this.name}_bucket{${inner}le="+Inf"} ${c.count}`,
        `${this.name}_sum${k} ${c.sum}`,
        `${this.name}_count${k} ${c.count}`,
      );
    }
    return lines.join('\n');
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  counter(name: string, help: string): Counter {
    return this.add(new Counter(name, help));
  }
  gauge(name: string, help: string, collect?: () => number): Gauge {
    return this.add(new Gauge(name, help, collect));
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.add(buckets ? new Histogram(name, help, buckets) : new Histogram(name, help));
  }
  /** A metric family whose samples are computed at scrape time (process metrics). */
  custom(metric: Metric): void {
    this.add(metric);
  }
  private add<T extends Metric>(m: T): T {
    if (this.metrics.some((x) => x.name === m.name)) throw new Error(`metric ${m.name} registered twice`);
    this.metrics.push(m);
    return m;
  }
  /** Prometheus text exposition format 0.0.4. */
  render(): string {
    return `${this.metrics.map((m) => m.render()).join('\n')}\n`;
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
