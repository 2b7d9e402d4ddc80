#!/usr/bin/env node
// The one entry point. Plain JavaScript so it can say clearly when the runtime is too old.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `realip: Node.js 24 or newer is required (this is ${process.version}).\n` +
      '  In a checkout, run it through npm (npx realip ...) after "npm ci": the project installs Node 24 for its scripts.\n',
  );
  process.exit(1);
}
const built = new URL('../dist/cli/main.js', import.meta.url);
// From a source checkout without a build, Node 24 runs the TypeScript sources directly.
const entry = existsSync(built) ? built : new URL('../cli/main.ts', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
