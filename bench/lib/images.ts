/**
 * The sidecar and the webhook as their images run them, for every bench that measures them: a
 * folder laid out as each runtime stage lays out /app, and the final stage's ENV (NODE_ENV,
 * NODE_OPTIONS) read from the Dockerfile, so a change to either reaches the benches.
 * - sidecar: the bundle in dist/bundle/, bin/realip.js, package.json, the native helper; no
 *   node_modules, no TypeScript;
 * - webhook: dist/ compiled by tsc, bin/realip.js, package.json, node_modules (a link to the
 *   checkout's: the same versions as the image's workspace install; only what the code imports is
 *   loaded).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleSidecar } from '../../packages/sidecar-image/bundle.ts';

const REPO = new URL('../..', import.meta.url).pathname;
const ADDON = 'sidecar/tcp/native/build/Release/realip_transparent.node';

/** The final stage's ENV of a Dockerfile (NODE_ENV, NODE_OPTIONS). */
export function imageEnv(dockerfile: string): Record<string, string> {
  const text = readFileSync(join(REPO, dockerfile), 'utf8').replace(/\\\n/g, ' ');
  const final = text.split(/^FROM\s/m).at(-1) ?? '';
  const env: Record<string, string> = {};
  for (const m of final.matchAll(/^ENV\s+(\w+)=(.*)$/gm)) env[m[1]!] = m[2]!.trim().replace(/^"(.*)"$/, '$1');
  return env;
}

/** The parent's environment without its Node and realip settings, plus the image's and `extra`. */
export function childEnv(
  image: Record<string, string>,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('NODE_') && !k.startsWith('REALIP_') && !k.startsWith('npm_')) env[k] = v;
  }
  return { ...env, ...image, ...extra };
}

/** One image's /app under .cache/, and how to run its commands. */
export interface AppImage {
  /** The folder (/app of the image). */
  readonly app: string;
  /** bin/realip.js in it: the image's entrypoint. */
  readonly entry: string;
  /** The environment to run it in: the image's ENV over the parent's (minus NODE_*, REALIP_*). */
  readonly env: NodeJS.ProcessEnv;
}

/** An empty .cache/<name> with what every runtime stage copies: bin/realip.js and package.json. */
function freshApp(name: string, dockerfile: string): AppImage {
  const app = join(REPO, '.cache', name);
  rmSync(app, { recursive: true, force: true });
  mkdirSync(join(app, 'bin'), { recursive: true });
  copyFileSync(join(REPO, 'bin/realip.js'), join(app, 'bin/realip.js'));
  copyFileSync(join(REPO, 'package.json'), join(app, 'package.json'));
  return { app, entry: join(app, 'bin/realip.js'), env: childEnv(imageEnv(dockerfile)) };
}

/** The transparent hop's native helper where Dockerfile.sidecar puts it (when it was built). */
export function copyNativeHelper(app: string): void {
  if (!existsSync(join(REPO, ADDON))) return;
  mkdirSync(join(app, 'sidecar/tcp/native/build/Release'), { recursive: true });
  copyFileSync(join(REPO, ADDON), join(app, ADDON));
}

/** Builds the sidecar image's /app under .cache/<name> (bundling the current sources). */
export async function sidecarImage(name = 'bench-sidecar-app'): Promise<AppImage> {
  const image = freshApp(name, 'Dockerfile.sidecar');
  process.stdout.write(`bundling the sidecar image's code to .cache/${name}/dist/bundle ...\n`);
  await bundleSidecar(join(image.app, 'dist/bundle'));
  copyNativeHelper(image.app);
  return image;
}

/** Builds the webhook image's /app under .cache/<name> (compiling the current sources). */
export async function webhookImage(name = 'bench-webhook-app'): Promise<AppImage> {
  const image = freshApp(name, 'Dockerfile.webhook');
  process.stdout.write(`compiling the webhook image's code to .cache/${name}/dist ...\n`);
  await promisify(execFile)(process.execPath, [
    join(REPO, 'node_modules/typescript/bin/tsc'),
    '-p',
    join(REPO, 'tsconfig.build.json'),
    '--outDir',
    join(image.app, 'dist'),
  ]);
  symlinkSync(join(REPO, 'node_modules'), join(image.app, 'node_modules'));
  return image;
}
