// The one bin: help, version, unknown commands, and a clear refusal on an old Node.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO } from '../support/procs.ts';

const run = promisify(execFile);
const BIN = `${REPO}bin/realip.js`;
const pkg = JSON.parse(readFileSync(`${REPO}package.json`, 'utf8')) as { version: string };

async function realip(args: string[], node = process.execPath) {
  try {
    const r = await run(node, [BIN, ...args]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err: unknown) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('tests run on Node 24', () => {
  assert.equal(
    process.versions.node.split('.')[0],
    '24',
    'run the tests through npm so node_modules/.bin/node (v24) is used',
  );
});

test('realip --help lists the subcommands', async () => {
  const r = await realip(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: realip <command>/);
  assert.match(r.stdout, /\bsidecar\b/);
});

test('realip --version prints the package version', async () => {
  const r = await realip(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), pkg.version);
});

test('an unknown command exits 2 with the usage', async () => {
  const r = await realip(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
});

test('an old Node is refused with a clear message', async () => {
  // The machine's own Node (20) if present: the bin must say what it needs, not crash on syntax.
  const old = '/usr/bin/node';
  const v = await run(old, ['--version']).catch(() => undefined);
  assert.ok(v, 'expected the system Node at /usr/bin/node (these machines ship Node 20)');
  const r = await realip(['--help'], old);
  if (Number(v.stdout.trim().slice(1).split('.')[0]) >= 24) {
    assert.equal(r.code, 0, 'a system Node >= 24 runs the bin');
    return;
  }
  assert.equal(r.code, 1);
  assert.match(r.stderr, /Node\.js 24 or newer is required/);
});
