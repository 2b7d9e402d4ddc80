/**
 * Cleanup on every exit path for a bench: every registered process tree (nginx's master and its
 * workers, taskset's exec'd child, a load generator) is SIGKILLed and every registered directory
 * removed, synchronously, on normal exit, on an uncaught error, and on SIGINT/SIGTERM/SIGHUP (an
 * exit handler cannot wait, and a signal would otherwise skip the bench's `finally`).
 */
import { rmSync } from 'node:fs';
import { processTree } from './procs.ts';

const pids = new Set<number>();
const dirs = new Set<string>();
let armed = false;

function cleanupNow(): void {
  for (const pid of pids) {
    // Children first: a worker must not outlive its master.
    for (const p of processTree(pid).reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  pids.clear();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs.clear();
}

function arm(name: string): void {
  if (armed) return;
  armed = true;
  process.on('exit', cleanupNow);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      process.stderr.write(`\n${name}: ${sig}, cleaning up\n`);
      cleanupNow();
      process.exit(130);
    });
  }
}

/** Kills `pid`'s whole tree when the bench exits, however it exits. */
export function killOnExit(name: string, pid: number | undefined): void {
  arm(name);
  if (pid !== undefined) pids.add(pid);
}

/** The process ended by itself (or was stopped): nothing left to kill. */
export function forget(pid: number | undefined): void {
  if (pid !== undefined) pids.delete(pid);
}

/** Removes `dir` when the bench exits. */
export function removeOnExit(name: string, dir: string): void {
  arm(name);
  dirs.add(dir);
}
