// The sidecar image's code: cli/main.ts and everything it loads (sidecar/, common/, pino, env-var)
// bundled by esbuild into a few ESM files, one per lazily loaded part (a hop mode, a command), so a
// pod's sidecar starts without resolving some 90 files and their package.json files one by one.
// Measured with `npm run bench:footprint` (docs/decisions.md, "The sidecar image runs a bundle").
//
//   node packages/sidecar-image/bundle.ts <outdir>     (Dockerfile.sidecar: dist/bundle)
//
// The webhook's libraries (the packages only packages/webhook-image lists) stay external: the
// webhook's commands are in the bundle as chunks that are never loaded, and fail as they did before
// the bundle if one is run in the sidecar image (its libraries are not there). The bundle holds only
// packages of this workspace's dependency closure (test/integration/image-deps.test.ts).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function dependencies(workspace: string): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, workspace, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(pkg.dependencies ?? {});
}

/** Packages the webhook image has and this one does not: left as imports, never bundled. */
export function webhookOnlyPackages(): string[] {
  const own = new Set(dependencies('packages/sidecar-image'));
  return dependencies('packages/webhook-image').filter((n) => !own.has(n));
}

/** Builds the bundle into `outdir`; returns esbuild's metafile (every input, every output). */
export async function bundleSidecar(outdir: string): Promise<Metafile> {
  const result = await build({
    absWorkingDir: ROOT,
    entryPoints: { main: 'cli/main.ts' },
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    external: webhookOnlyPackages(),
    // CommonJS packages (pino, env-var) call require() for Node's own modules; an ESM bundle has
    // no require of its own.
    banner: {
      js: "import { createRequire as __realipRequire } from 'node:module';\nconst require = __realipRequire(import.meta.url);",
    },
    // Names are kept (stack traces and pino's serializers read them); no minification: the bytes
    // saved would be a few hundred KB of page cache, and the logs would lose their stack frames.
    keepNames: true,
    legalComments: 'eof',
    metafile: true,
    logLevel: 'warning',
  });
  return result.metafile;
}

if (import.meta.main) {
  const outdir = process.argv[2];
  if (!outdir) {
    process.stderr.write('usage: node packages/sidecar-image/bundle.ts <outdir>\n');
    process.exit(2);
  }
  const meta = await bundleSidecar(outdir);
  const bytes = Object.values(meta.outputs).reduce((n, o) => n + o.bytes, 0);
  process.stdout.write(`bundle: ${Object.keys(meta.outputs).length} files, ${bytes} bytes in ${outdir}\n`);
}
