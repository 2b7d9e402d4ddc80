// Each image ships only its own component's production dependencies (issue 17). The images' deps
// stage installs one npm workspace (packages/sidecar-image, packages/webhook-image) from the root
// lockfile; this test runs that stage's commands, read from the Dockerfile, in a clean folder, puts
// together what the runtime stage copies (dist/, bin/realip.js, package.json, node_modules), runs the
// image's commands' --help through bin/realip.js in the image's environment (NODE_ENV, NODE_OPTIONS)
// and checks that the sidecar's set holds none of the webhook's libraries. A static check beside it
// keeps each workspace's list equal to the packages its code imports, lazy imports included (a
// --help run does not reach the lazily loaded hops).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

const ROOT = new URL('../..', import.meta.url).pathname;
const NODE = join(ROOT, 'node_modules/.bin/node');

interface Image {
  readonly dockerfile: string;
  readonly workspace: string;
  /**
   * The component folder whose code the image runs; common/ counts for both, and so does every file
   * of cli/ that does not import the other component (a command file imports only its own).
   */
  readonly component: 'sidecar' | 'webhook';
  readonly commands: readonly string[];
}

const IMAGES: readonly Image[] = [
  {
    dockerfile: 'Dockerfile.sidecar',
    workspace: 'packages/sidecar-image',
    component: 'sidecar',
    commands: ['sidecar', 'init', 'sidecar-wait'],
  },
  {
    dockerfile: 'Dockerfile.webhook',
    workspace: 'packages/webhook-image',
    component: 'webhook',
    commands: ['webhook', 'check', 'inject'],
  },
];

function run(cmd: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return r;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function dependencies(path: string): Record<string, string> {
  return (readJson(path).dependencies ?? {}) as Record<string, string>;
}

/** The Dockerfile's instructions with continuation lines joined, split into stages. */
function stages(dockerfile: string): { name: string; lines: string[] }[] {
  const out: { name: string; lines: string[] }[] = [];
  const text = readFileSync(join(ROOT, dockerfile), 'utf8').replace(/\\\n/g, ' ');
  for (const line of text.split('\n')) {
    if (/^\s*(#|$)/.test(line)) continue;
    const from = /^FROM\s+\S+(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) out.push({ name: from[1] ?? '', lines: [] });
    else out.at(-1)?.lines.push(line.trim());
  }
  return out;
}

/**
 * The deps stage's shell steps, as the Dockerfile writes them. Two departures, both about the npm
 * cache rather than the result: npm may use the machine's cache (--prefer-offline), and the cache is
 * not cleaned (it is the machine's, not a throw-away layer's).
 */
function depsSteps(dockerfile: string): string[] {
  const deps = stages(dockerfile).find((s) => s.name === 'deps');
  assert.ok(deps, `${dockerfile} has a deps stage`);
  const steps = deps.lines
    .filter((l) => l.startsWith('RUN '))
    .flatMap((l) => l.slice('RUN '.length).split('&&'))
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => !/^npm cache clean\b/.test(s))
    .map((s) => (/^npm ci\b/.test(s) ? `${s} --prefer-offline` : s));
  assert.equal(steps.filter((s) => /^npm ci --omit=dev\b/.test(s)).length, 1, 'one production install');
  return steps;
}

/** The runtime stage's ENV, e.g. NODE_ENV and NODE_OPTIONS. */
function runtimeEnv(dockerfile: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const l of stages(dockerfile).at(-1)!.lines) {
    const m = /^ENV\s+(\w+)=(.*)$/.exec(l);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

/** Package names under a node_modules folder, nested ones included. */
function installed(nodeModules: string): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        for (const sub of readdirSync(join(dir, entry))) {
          names.add(`${entry}/${sub}`);
          walk(join(dir, entry, sub, 'node_modules'));
        }
      } else {
        names.add(entry);
        walk(join(dir, entry, 'node_modules'));
      }
    }
  };
  walk(nodeModules);
  return names;
}

function bytes(path: string): number {
  const st = lstatSync(path);
  if (!st.isDirectory()) return st.size;
  let sum = 0;
  for (const entry of readdirSync(path)) sum += bytes(join(path, entry));
  return sum;
}

/** Every package the lockfile says the named packages pull in, themselves included. */
function closure(names: Iterable<string>): Set<string> {
  const lock = readJson(join(ROOT, 'package-lock.json')).packages as Record<
    string,
    { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }
  >;
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const entry = lock[`node_modules/${name}`];
    for (const dep of Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })) visit(dep);
  };
  for (const n of names) visit(n);
  return seen;
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.split('/').includes('node_modules'))
    .map((f) => join(ROOT, folder, f));
}

// Static and side-effect imports and re-exports (type-only ones are erased, so they cost nothing at
// run time), and dynamic import() with a literal.
const STATIC_IMPORT = /^\s*(?:import|export)\s+(type\s+)?(?:[^;'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
const DYNAMIC_IMPORT = /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Relative imports of a component folder, e.g. '../../webhook/x.ts' for 'webhook'. */
function importsComponent(text: string, component: string): boolean {
  return new RegExp(`['"](?:\\.\\./)+${component}/`).test(text);
}

/** The npm packages an image's code loads at run time. */
function importedPackages(component: 'sidecar' | 'webhook'): string[] {
  const other = component === 'sidecar' ? 'webhook' : 'sidecar';
  const cli = sourceFiles('cli').filter((f) => !importsComponent(readFileSync(f, 'utf8'), other));
  const specifiers: string[] = [];
  for (const file of [...cli, ...sourceFiles('common'), ...sourceFiles(component)]) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(STATIC_IMPORT)) if (!m[1]) specifiers.push(m[2]!);
    for (const m of text.matchAll(DYNAMIC_IMPORT)) specifiers.push(m[1]!);
  }
  const packages = specifiers
    .filter((s) => !s.startsWith('.') && !s.startsWith('/') && !s.startsWith('node:'))
    .map((s) =>
      s
        .split('/')
        .slice(0, s.startsWith('@') ? 2 : 1)
        .join('/'),
    );
  return [...new Set(packages)].sort();
}

describe('each image ships only its own production dependencies', () => {
  const work = mkdtempSync(join(tmpdir(), 'realip-image-deps-'));
  const dist = join(work, 'dist');
  after(() => rmSync(work, { recursive: true, force: true }));

  before(() => {
    // What the build stage makes: dist/ from tsc (into a folder of our own, so a stale or partial
    // dist/ in the checkout cannot pass or fail this test).
    const tsc = run(
      NODE,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json', '--outDir', dist],
      ROOT,
    );
    assert.equal(tsc.status, 0, `tsc: ${tsc.stdout}${tsc.stderr}`);
  });

  test('each workspace lists exactly what its code imports, at the root package.json versions', () => {
    const root = dependencies(join(ROOT, 'package.json'));
    for (const image of IMAGES) {
      const listed = dependencies(join(ROOT, image.workspace, 'package.json'));
      assert.deepEqual(Object.keys(listed).sort(), importedPackages(image.component), image.workspace);
      for (const [name, version] of Object.entries(listed)) {
        assert.equal(version, root[name], `${image.workspace}: ${name} is pinned as in package.json`);
      }
    }
    // The root's production dependencies are what the published package needs: the union of both.
    const union = [
      ...new Set(IMAGES.flatMap((i) => Object.keys(dependencies(join(ROOT, i.workspace, 'package.json'))))),
    ];
    assert.deepEqual(Object.keys(root).sort(), union.sort(), 'root dependencies = the images’ union');
  });

  const sets = new Map<string, Set<string>>();
  for (const image of IMAGES) {
    test(`${image.dockerfile}: the deps stage installs a set that runs ${image.commands.join(', ')} --help`, (t) => {
      // The deps stage: package.json, the lockfile and the workspaces, then its RUN steps.
      const deps = join(work, `${image.workspace.split('/').at(-1)}-deps`);
      mkdirSync(deps);
      for (const f of ['package.json', 'package-lock.json', 'packages']) {
        cpSync(join(ROOT, f), join(deps, f), { recursive: true });
      }
      for (const step of depsSteps(image.dockerfile)) {
        const r = run('bash', ['-c', step], deps);
        assert.equal(r.status, 0, `${image.dockerfile} deps stage: ${step}: ${r.stderr}`);
      }
      // The runtime stage: node_modules from deps, dist/ from build, package.json, bin/realip.js.
      const app = join(work, `${image.workspace.split('/').at(-1)}-app`);
      mkdirSync(join(app, 'bin'), { recursive: true });
      cpSync(join(deps, 'node_modules'), join(app, 'node_modules'), {
        recursive: true,
        verbatimSymlinks: true,
      });
      cpSync(dist, join(app, 'dist'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
      cpSync(join(ROOT, 'bin/realip.js'), join(app, 'bin/realip.js'));

      const names = installed(join(app, 'node_modules'));
      sets.set(image.dockerfile, names);
      assert.ok(!names.has('typescript'), 'no devDependencies');
      assert.ok(!names.has('proxy-protocol-js'), 'proxy-protocol-js is a devDependency (tests and a bench)');
      const wanted = Object.keys(dependencies(join(ROOT, image.workspace, 'package.json')));
      for (const name of wanted) assert.ok(names.has(name), `${name} installed`);
      const extra = [...names].filter((n) => !closure(wanted).has(n));
      assert.deepEqual(extra, [], `only what ${wanted.join(', ')} pull in`);
      t.diagnostic(
        `${image.dockerfile}: node_modules ${bytes(join(app, 'node_modules'))} bytes, ${names.size} packages`,
      );

      const env = { ...process.env, ...runtimeEnv(image.dockerfile) };
      assert.equal(env.NODE_ENV, 'production');
      for (const command of image.commands) {
        const r = run(NODE, [join(app, 'bin/realip.js'), command, '--help'], app, env);
        assert.equal(r.status, 0, `realip ${command} --help exited ${r.status}: ${r.stderr}`);
        assert.match(
          `${r.stdout}${r.stderr}`,
          new RegExp(command),
          `realip ${command} --help names the command`,
        );
      }
    });
  }

  test("the sidecar's set holds none of the webhook's libraries", () => {
    const sidecar = sets.get('Dockerfile.sidecar');
    const webhook = sets.get('Dockerfile.webhook');
    assert.ok(sidecar && webhook, 'both sets were installed');
    const sidecarDirect = new Set(
      Object.keys(dependencies(join(ROOT, 'packages/sidecar-image/package.json'))),
    );
    const webhookOnly = Object.keys(dependencies(join(ROOT, 'packages/webhook-image/package.json'))).filter(
      (n) => !sidecarDirect.has(n),
    );
    assert.ok(webhookOnly.includes('fastify') && webhookOnly.includes('@kubernetes/client-node'));
    // Neither the webhook's own libraries nor anything only they pull in.
    const theirs = [...webhook].filter((n) => !closure(sidecarDirect).has(n));
    assert.deepEqual(
      [...sidecar].filter((n) => theirs.includes(n)),
      [],
    );
  });
});
