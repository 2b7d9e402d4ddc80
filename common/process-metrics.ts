/**
 * The standard process_* metrics (names and meaning as prom-client's and the Go client's, so the
 * usual dashboards work), nodejs_eventloop_lag_seconds, and realip_build_info{component,version}. Values
 * are read at scrape time: nothing runs between scrapes except the event-loop lag timer.
 * Process state is read here rather than in main.ts because it is what is measured, not configured.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { Registry } from './metrics.ts';
import { version } from './version.ts';

// Milliseconds; the lag timer fires this often (a 100 ms tick costs nothing measurable).
const LAG_RESOLUTION_MS = 100;

/**
 * Event-loop lag as the lateness of a repeating timer. Our own rather than perf_hooks'
 * monitorEventLoopDelay: loading node:perf_hooks costs ~1.6 MB of RSS in every pod.
 */
class LagMonitor {
  private last = performance.now();
  private sum = 0;
  private count = 0;
  private maxLag = 0;
  constructor() {
    setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.last - LAG_RESOLUTION_MS);
      this.last = now;
      this.sum += lag;
      this.count++;
      if (lag > this.maxLag) this.maxLag = lag;
    }, LAG_RESOLUTION_MS).unref();
  }
  /** Mean and max lag in seconds since the previous call, then reset. */
  take(): { mean: number; max: number } {
    // A loop blocked right now shows as the lateness of the tick still pending.
    const pending = Math.max(0, performance.now() - this.last - LAG_RESOLUTION_MS);
    const max = Math.max(this.maxLag, pending);
    const mean = this.count > 0 ? this.sum / this.count : pending;
    this.sum = 0;
    this.count = 0;
    this.maxLag = 0;
    return { mean: mean / 1000, max: max / 1000 };
  }
}

function gaugeText(name: string, help: string, value: number, type = 'gauge'): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}`;
}

function openFds(): number {
  try {
    // readdir opens the directory itself: one entry is ours.
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return Number.NaN;
  }
}

function maxFds(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m) return Number.NaN;
    return m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
  } catch {
    return Number.NaN;
  }
}

/** `component`: sidecar or webhook, a label of realip_build_info (one name for both). */
export function registerProcessMetrics(registry: Registry, component: 'sidecar' | 'webhook'): void {
  const startTime = Math.round((Date.now() - performance.now()) / 1000);
  const lag = new LagMonitor();
  const add = (name: string, render: () => string) => registry.custom({ name, render });
  add('process_cpu_seconds_total', () => {
    const u = process.cpuUsage();
    return gaugeText(
      'process_cpu_seconds_total',
      'Total user and system CPU time spent in seconds',
      (u.user + u.system) / 1e6,
      'counter',
    );
  });
  add('process_resident_memory_bytes', () =>
    gaugeText('process_resident_memory_bytes', 'Resident memory size in bytes', process.memoryUsage.rss()),
  );
  add('process_open_fds', () => gaugeText('process_open_fds', 'Number of open file descriptors', openFds()));
  add('process_max_fds', () =>
    gaugeText('process_max_fds', 'Maximum number of open file descriptors', maxFds()),
  );
  add('process_start_time_seconds', () =>
    gaugeText(
      'process_start_time_seconds',
      'Start time of the process since unix epoch in seconds',
      startTime,
    ),
  );
  add('nodejs_eventloop_lag_seconds', () => {
    const { mean, max } = lag.take();
    return [
      gaugeText('nodejs_eventloop_lag_seconds', 'Mean event loop delay since the previous scrape', mean),
      gaugeText(
        'nodejs_eventloop_lag_max_seconds',
        'Largest event loop delay since the previous scrape',
        max,
      ),
    ].join('\n');
  });
  const info = `realip_build_info{component="${component}",version="${version()}",nodejs="${process.versions.node}"} 1`;
  add('realip_build_info', () =>
    [
      '# HELP realip_build_info Version of this build (always 1)',
      '# TYPE realip_build_info gauge',
      info,
    ].join('\n'),
  );
}
