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
// In a source checkout Node 24 runs the TypeScript sources directly (always current); an installed
// package has no sources (and Node will not strip types under node_modules), so it runs dist/; the
// sidecar image has neither, only the bundle (packages/sidecar-image/bundle.ts).
const source = new URL('../cli/main.ts', import.meta.url);
const compiled = new URL('../dist/cli/main.js', import.meta.url);
const entry =
  existsSync(source) && !source.pathname.includes('/node_modules/')
    ? source
    : existsSync(compiled)
      ? compiled
      : new URL('../dist/bundle/main.js', import.meta.url);
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
