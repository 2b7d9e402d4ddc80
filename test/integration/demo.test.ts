// `realip demo` (README's first command) runs end to end, prints its table, exits 0; and it does
// fail when the app sees something other than the real client (append policy lets the forged
// X-Forwarded-For through, so the spoofer's row must say FAIL and the exit code must be 1).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';

const MAIN = new URL('../../cli/main.ts', import.meta.url).pathname;

function demo(env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'demo'], { env, timeout: 20000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

test('realip demo: every row OK, exit 0, within 10 s', async () => {
  const r = await demo({ ...process.env, REALIP_FORWARDED: undefined });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const rows = r.stdout.split('\n').filter((l) => / (OK|FAIL)$/.test(l));
  assert.equal(rows.length, 9, r.stdout);
  assert.ok(
    rows.every((l) => l.endsWith(' OK')),
    r.stdout,
  );
  assert.match(r.stdout, /2001:db8::7 +2001:db8::7 +for="\[2001:db8::7\]" +OK/);
  assert.match(r.stdout, /spoofer 192\.0\.2\.66 .* 192\.0\.2\.66 +192\.0\.2\.66 +for=192\.0\.2\.66 +OK/);
  assert.ok(!/6\.6\.6\.6 *\|/.test(r.stdout));
  assert.ok(r.ms < 10000, `took ${r.ms} ms`);
});

test('realip demo fails (exit 1, FAIL row) when the forged header reaches the app', async () => {
  const r = await demo({ ...process.env, REALIP_FORWARDED: 'append' });
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stdout, /spoofer .*6\.6\.6\.6, 192\.0\.2\.66 .*FAIL/);
});
