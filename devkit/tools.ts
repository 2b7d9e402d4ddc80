/** Tools the tests and benches run as real peers (nginx, HAProxy, curl, ip ...). */
import { spawnSync } from 'node:child_process';

/**
 * The path of `name` on PATH; a missing tool fails with a message naming it and the setup script
 * (tests never skip for a missing peer).
 */
export function requireTool(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(
      `required tool "${name}" is not installed: run "sudo bash test/setup.sh" (npm run test:all does)`,
    );
  }
  return path;
}
