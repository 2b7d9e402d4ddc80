// The netns world helper cleans up after itself: namespaces and the processes in them are gone after
// cleanup(), also when the test that built the world fails.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildWorld, IP, run } from '../support/netns.ts';

async function namespacesWith(prefix: string): Promise<string[]> {
  const r = await run(IP, ['netns', 'list']);
  return r.stdout.split('\n').filter((l) => l.startsWith(prefix));
}

test('cleanup() kills the processes started in the world and deletes its namespaces', async (t) => {
  const w = await buildWorld('wld');
  t.after(() => w.cleanup());
  assert.equal((await namespacesWith(w.prefix)).length, 4);
  const sleeper = w.pod.spawn(['sleep', '600']);
  // The world routes: the client reaches the other pod through the node (a RST from a closed port).
  const r = await w.client.connect({ host: w.addr.otherV4, port: 9, send: '' });
  assert.equal(r.error, 'ECONNREFUSED');
  const r6 = await w.client.connect({ host: w.addr.otherV6, port: 9, send: '' });
  assert.equal(r6.error, 'ECONNREFUSED');
  await w.cleanup();
  assert.deepEqual(await namespacesWith(w.prefix), []);
  assert.notEqual(sleeper.child.exitCode ?? sleeper.child.signalCode, null, 'the process was killed');
});

test('a failing test that built a world still removes its namespaces', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'realip-world-'));
  try {
    const helper = pathToFileURL(new URL('../support/netns.ts', import.meta.url).pathname).href;
    const file = join(dir, 'fails.test.ts');
    writeFileSync(
      file,
      `import { test } from 'node:test';
import { writeFileSync } from 'node:fs';
import { buildWorld } from ${JSON.stringify(helper)};
test('fails on purpose', async (t) => {
  const w = await buildWorld('fail');
  t.after(() => w.cleanup());
  writeFileSync(${JSON.stringify(join(dir, 'prefix'))}, w.prefix);
  w.pod.spawn(['sleep', '600']);
  throw new Error('deliberate failure');
});
`,
    );
    // A test runner of its own: without NODE_TEST_CONTEXT, which would make it report to ours.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] => e[0] !== 'NODE_TEST_CONTEXT' && e[1] !== undefined,
      ),
    );
    const r = await run(process.execPath, ['--test', file], { timeoutMs: 60_000, env });
    assert.notEqual(r.code, 0, 'the inner test must fail');
    assert.match(r.stdout, /deliberate failure/);
    const prefix = readFileSync(join(dir, 'prefix'), 'utf8');
    assert.match(prefix, /^realip-fail-[0-9a-f]{6}$/);
    assert.deepEqual(await namespacesWith(prefix), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
