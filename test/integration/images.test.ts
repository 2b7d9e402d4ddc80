// The two images, checked without a Docker engine (none runs here): every path each Dockerfile copies
// exists (in the repository, or in the build output the build stage makes), .dockerignore does not
// hide one, the runtime stages are non-root, and a production install of the packed package (what
// `npm install realip` gets: `npm ci --omit=dev` on package.json + package-lock.json) runs every
// command. Each image's own deps stage (one workspace's set) is run by image-deps.test.ts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { commands } from '../../cli/commands.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const NODE = join(ROOT, 'node_modules/.bin/node');

interface Instruction {
  readonly op: string;
  readonly args: string;
  readonly line: number;
}

function instructions(file: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let text = lines[i]!;
    if (/^\s*(#|$)/.test(text)) continue;
    while (text.endsWith('\\') && i + 1 < lines.length) text = `${text.slice(0, -1)} ${lines[++i]!.trim()}`;
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(text);
    if (m) out.push({ op: m[1]!, args: m[2]!.trim(), line: start + 1 });
  }
  return out;
}

interface Copy {
  readonly from: string | undefined;
  readonly sources: string[];
  readonly line: number;
}

function copies(file: string): Copy[] {
  return instructions(file)
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.args.split(/\s+/);
      let from: string | undefined;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
      }
      words.pop(); // destination
      return { from, sources: words, line: i.line };
    });
}

/** Paths matching a COPY source with at most a `*` in the last segment. */
function matches(path: string): string[] {
  const clean = path.replace(/\/$/, '');
  if (!clean.includes('*')) return existsSync(join(ROOT, clean)) ? [clean] : [];
  const dir = clean.slice(0, clean.lastIndexOf('/'));
  const re = new RegExp(
    `^${clean
      .slice(dir.length + 1)
      .replace(/\./g, '\\.')
      .replace(/\*/g, '.*')}$`,
  );
  if (!existsSync(join(ROOT, dir))) return [];
  return readdirSync(join(ROOT, dir))
    .filter((n) => re.test(n))
    .map((n) => `${dir}/${n}`);
}

/** Working directories of the build stages map onto the repository root. */
const STAGE_ROOTS = ['/src/', '/app/'];

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

for (const dockerfile of ['Dockerfile.sidecar', 'Dockerfile.webhook']) {
  describe(dockerfile, () => {
    test('every COPY source exists in the repository or in the build output', () => {
      // The build stage's outputs: dist/ comes from "prepare" at npm ci; the native helper is built
      // here the same way the build stage does if nothing built it yet.
      if (matches('sidecar/tcp/native/build/Release/*.node').length === 0) {
        const r = run('bash', ['sidecar/tcp/native/build.sh'], ROOT);
        assert.equal(r.status, 0, `sidecar/tcp/native/build.sh: ${r.stderr}`);
      }
      // The sidecar image's bundle, made the way its build stage makes it (npm run build:sidecar-bundle).
      if (!existsSync(join(ROOT, 'dist/bundle/main.js'))) {
        const r = run(NODE, ['packages/sidecar-image/bundle.ts', 'dist/bundle'], ROOT);
        assert.equal(r.status, 0, `packages/sidecar-image/bundle.ts: ${r.stderr}`);
      }
      const missing: string[] = [];
      for (const c of copies(dockerfile)) {
        for (const src of c.sources) {
          let rel = src;
          if (c.from !== undefined) {
            const root = STAGE_ROOTS.find((r) => src.startsWith(r));
            assert.ok(root, `${dockerfile}:${c.line}: COPY --from=${c.from} ${src} is outside /src and /app`);
            rel = src.slice(root.length);
          }
          if (matches(rel).length === 0) missing.push(`${dockerfile}:${c.line}: ${src} (${rel})`);
        }
      }
      assert.deepEqual(
        missing,
        [],
        'run "npm run build" (and the native build) if only build output is missing',
      );
    });

    test('.dockerignore hides no path copied from the build context', () => {
      const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !l.startsWith('#'));
      for (const c of copies(dockerfile).filter((x) => x.from === undefined)) {
        for (const src of c.sources) {
          for (const pattern of ignored) {
            const p = pattern.replace(/^\*\*\//, '');
            const hit = src === p || src.startsWith(`${p}/`) || src.replace(/\/$/, '') === p;
            assert.ok(!hit, `${dockerfile}:${c.line}: ${src} is excluded by .dockerignore "${pattern}"`);
          }
        }
      }
    });

    test('scripts run by RUN exist; Node 24 bases; the runtime stage is non-root', () => {
      const ins = instructions(dockerfile);
      for (const r of ins.filter((i) => i.op === 'RUN')) {
        for (const m of r.args.matchAll(/bash\s+(\S+\.sh)/g)) {
          assert.ok(existsSync(join(ROOT, m[1]!)), `${dockerfile}:${r.line}: ${m[1]} missing`);
        }
      }
      // Base images are global ARGs (local stand-ins for test/cluster/); their defaults are the
      // public images.
      const args = new Map<string, string>();
      for (const a of ins
        .slice(
          0,
          ins.findIndex((i) => i.op === 'FROM'),
        )
        .filter((i) => i.op === 'ARG')) {
        const [name, value] = a.args.split('=', 2);
        if (name && value !== undefined) args.set(name, value);
      }
      const froms = ins
        .filter((i) => i.op === 'FROM')
        .map((i) =>
          i.args.split(/\s+/)[0]!.replace(/^\$\{(\w+)\}$/, (_, n: string) => args.get(n) ?? `unset ARG ${n}`),
        );
      assert.ok(froms.length >= 2, 'multi-stage');
      for (const f of froms)
        assert.match(f, /^(node:24-bookworm(-slim)?|gcr\.io\/distroless\/nodejs24-debian12.*)$/);
      const runtime = ins.slice(ins.findLastIndex((i) => i.op === 'FROM'));
      const user = runtime.findLast((i) => i.op === 'USER');
      assert.ok(user, 'runtime stage sets USER');
      const uid = Number(user.args.split(':')[0]);
      assert.ok(uid > 0, `runtime user ${user.args} is not root`);
      if (dockerfile === 'Dockerfile.sidecar') {
        assert.equal(uid, 1337, 'the sidecar runs as 1337 (common/contract.ts SIDECAR_UID)');
        const install = runtime.find((i) => i.op === 'RUN' && /apt-get install/.test(i.args));
        assert.match(install?.args ?? '', /\biptables\b/);
        assert.match(install?.args ?? '', /\biproute2\b/);
        assert.ok(
          copies(dockerfile).some((c) => c.sources.some((s) => /native\/build\/Release\/\*\.node$/.test(s))),
          'the sidecar image carries the native helper',
        );
      } else {
        assert.ok(
          !copies(dockerfile).some((c) => c.sources.some((s) => s.includes('native'))),
          'the webhook image carries no native helper',
        );
      }
      const deps = ins.filter((i) => i.op === 'RUN' && /npm ci --omit=dev/.test(i.args));
      if (dockerfile === 'Dockerfile.sidecar') {
        // The sidecar image runs the bundle, which carries its packages: no node_modules at all.
        assert.equal(deps.length, 0, 'no production install: the bundle carries pino and env-var');
        assert.ok(
          ins.some(
            (i) => i.op === 'RUN' && /node packages\/sidecar-image\/bundle\.ts dist\/bundle/.test(i.args),
          ),
          'the build stage makes dist/bundle',
        );
        assert.ok(!copies(dockerfile).some((c) => c.sources.some((s) => s.includes('node_modules'))));
      } else assert.equal(deps.length, 1, 'one production install');
    });
  });
}

describe('production install of the packed package', () => {
  test('npm ci --omit=dev on the tarball runs realip and its image commands', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'realip-pack-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // --ignore-scripts: the checkout is already built (dist/ comes from "prepare" at npm ci); the
    // tarball must carry dist/, not build it.
    const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json'], ROOT);
    assert.equal(pack.status, 0, pack.stderr);
    const [{ filename }] = JSON.parse(pack.stdout) as [{ filename: string }];
    const unpack = run('tar', ['-xzf', join(dir, filename), '-C', dir], dir);
    assert.equal(unpack.status, 0, unpack.stderr);
    const app = join(dir, 'package');
    // The published package's install: package.json + the lockfile, production dependencies only
    // (every command's; the images install one workspace's set each: image-deps.test.ts).
    cpSync(join(ROOT, 'package-lock.json'), join(app, 'package-lock.json'));
    const ci = run(
      'npm',
      ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'],
      app,
    );
    assert.equal(ci.status, 0, `npm ci --omit=dev: ${ci.stderr}`);
    assert.ok(existsSync(join(app, 'dist/cli/main.js')), 'the package carries the compiled dist/');
    assert.ok(!existsSync(join(app, 'node_modules/typescript')), 'no devDependencies installed');
    assert.ok(!existsSync(join(app, 'cli/main.ts')), 'no TypeScript sources shipped');

    const realip = (...args: string[]) => run(NODE, [join(app, 'bin/realip.js'), ...args], app);
    const help = realip('--help');
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: realip/);
    // The commands the images run (sidecar image: sidecar, init; webhook image: webhook) plus every
    // other registered command: each loads from dist/ with production dependencies only.
    const required = ['sidecar', 'init', 'sidecar-wait', 'webhook', 'inject', 'check'];
    const names = [...new Set([...required, ...Object.keys(commands)])];
    for (const name of names) {
      assert.ok(name in commands, `"realip ${name}" is not registered in cli/commands.ts`);
      const r = realip(name, '--help');
      assert.equal(r.status, 0, `realip ${name} --help exited ${r.status}: ${r.stderr}`);
      assert.match(`${r.stdout}${r.stderr}`, new RegExp(name), `realip ${name} --help names the command`);
    }
  });
});
