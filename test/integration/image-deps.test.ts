// Each image ships only its own component's production dependencies (issue 17). The webhook image's
// deps stage installs one npm workspace (packages/webhook-image) from the root lockfile; this test
// runs that stage's commands, read from the Dockerfile, in a clean folder. The sidecar image runs a
// bundle instead (packages/sidecar-image/bundle.ts: its code with the packages of
// packages/sidecar-image inside, no node_modules); this test makes it as the build stage does and
// reads from esbuild's metafile which packages went in. For each it puts together what the runtime
// stage copies (dist/ or dist/bundle/, bin/realip.js, package.json, node_modules if any), runs the
// image's commands' --help through bin/realip.js in the image's environment (NODE_ENV, NODE_OPTIONS)
// and checks that the sidecar's set holds none of the webhook's libraries. A static check beside it
// keeps each workspace's list equal to the packages its code imports, lazy imports included (a
// --help run does not reach the lazily loaded hops).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
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
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';
import { sidecarArgv } from '../../devkit/sidecar-argv.ts';
import { bundleSidecar } from '../../packages/sidecar-image/bundle.ts';

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
  /** The image runs a bundle of its code and packages (no deps stage, no node_modules). */
  readonly bundle: boolean;
}

const IMAGES: readonly Image[] = [
  {
    dockerfile: 'Dockerfile.sidecar',
    workspace: 'packages/sidecar-image',
    component: 'sidecar',
    commands: ['sidecar', 'init', 'sidecar-wait'],
    bundle: true,
  },
  {
    dockerfile: 'Dockerfile.webhook',
    workspace: 'packages/webhook-image',
    component: 'webhook',
    commands: ['webhook', 'check', 'inject'],
    bundle: false,
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

/** The packages whose files esbuild put in a bundle (inputs under node_modules/). */
function bundledPackages(inputs: Iterable<string>): Set<string> {
  const names = new Set<string>();
  for (const input of inputs) {
    const parts = input.split('/');
    const at = parts.lastIndexOf('node_modules');
    if (at < 0) continue;
    const first = parts[at + 1]!;
    names.add(first.startsWith('@') ? `${first}/${parts[at + 2]}` : first);
  }
  return names;
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
    const what = image.bundle ? 'the bundle holds' : 'the deps stage installs';
    test(`${image.dockerfile}: ${what} a set that runs ${image.commands.join(', ')} --help`, async (t) => {
      const name = image.workspace.split('/').at(-1)!;
      const app = join(work, `${name}-app`);
      mkdirSync(join(app, 'bin'), { recursive: true });
      const wanted = Object.keys(dependencies(join(ROOT, image.workspace, 'package.json')));
      let names: Set<string>;
      if (image.bundle) {
        // The build stage's bundle step; the runtime stage copies dist/bundle/ and nothing else of
        // the build's (no node_modules, no dist/cli/).
        const meta = await bundleSidecar(join(app, 'dist/bundle'));
        names = bundledPackages(Object.keys(meta.inputs));
        assert.ok(!existsSync(join(app, 'node_modules')));
        t.diagnostic(
          `${image.dockerfile}: dist/bundle ${bytes(join(app, 'dist/bundle'))} bytes, ${names.size} packages inside`,
        );
      } else {
        // The deps stage: package.json, the lockfile and the workspaces, then its RUN steps.
        const deps = join(work, `${name}-deps`);
        mkdirSync(deps);
        for (const f of ['package.json', 'package-lock.json', 'packages']) {
          cpSync(join(ROOT, f), join(deps, f), { recursive: true });
        }
        for (const step of depsSteps(image.dockerfile)) {
          const r = run('bash', ['-c', step], deps);
          assert.equal(r.status, 0, `${image.dockerfile} deps stage: ${step}: ${r.stderr}`);
        }
        // The runtime stage: node_modules from deps, dist/ from build.
        cpSync(join(deps, 'node_modules'), join(app, 'node_modules'), {
          recursive: true,
          verbatimSymlinks: true,
        });
        cpSync(dist, join(app, 'dist'), { recursive: true });
        names = installed(join(app, 'node_modules'));
        t.diagnostic(
          `${image.dockerfile}: node_modules ${bytes(join(app, 'node_modules'))} bytes, ${names.size} packages`,
        );
      }
      cpSync(join(ROOT, 'package.json'), join(app, 'package.json'));
      cpSync(join(ROOT, 'bin/realip.js'), join(app, 'bin/realip.js'));
      sets.set(image.dockerfile, names);
      assert.ok(!names.has('typescript'), 'no devDependencies');
      assert.ok(!names.has('esbuild'), 'no devDependencies');
      assert.ok(!names.has('proxy-protocol-js'), 'proxy-protocol-js is a devDependency (tests and a bench)');
      for (const n of wanted) assert.ok(names.has(n), `${n} in the image`);
      const extra = [...names].filter((n) => !closure(wanted).has(n));
      assert.deepEqual(extra, [], `only what ${wanted.join(', ')} pull in`);

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

  test('Dockerfile.sidecar: the bundle runs the sidecar: http and tcp listeners carry the PROXY client to the app', async (t) => {
    // What --help cannot show: the lazily loaded hops, pino, the native helper (the tcp hop's
    // splice relay) from the image's layout (/app/sidecar/tcp/native/build/Release/).
    const app = join(work, 'sidecar-image-app');
    assert.ok(existsSync(join(app, 'dist/bundle/main.js')), 'the bundle was made');
    const addon = 'sidecar/tcp/native/build/Release/realip_transparent.node';
    if (!existsSync(join(ROOT, addon))) {
      const r = run('bash', ['sidecar/tcp/native/build.sh'], ROOT);
      assert.equal(r.status, 0, `sidecar/tcp/native/build.sh: ${r.stderr}`);
    }
    mkdirSync(join(app, 'sidecar/tcp/native/build/Release'), { recursive: true });
    cpSync(join(ROOT, addon), join(app, addon));

    const httpApp = http.createServer((req, res) => res.end(`xff=${req.headers['x-forwarded-for']}`));
    const tcpApp = net.createServer((s) =>
      s.once('data', (d) => s.end(Buffer.concat([Buffer.from('got '), d]))),
    );
    for (const srv of [httpApp, tcpApp]) await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.after(() => {
      httpApp.close();
      tcpApp.close();
    });
    const portOf = (srv: net.Server) => (srv.address() as net.AddressInfo).port;
    const [httpPort, tcpPort, admin] = [
      await freePortBelowEphemeral(),
      await freePortBelowEphemeral(),
      await freePortBelowEphemeral(),
    ];
    const args = sidecarArgv(join(app, 'bin/realip.js'), {
      listeners: [`http:${httpPort}:${portOf(httpApp)}`, `tcp:${tcpPort}:${portOf(tcpApp)}`],
      trusted: '127.0.0.0/8',
      adminPort: admin!,
      adminHost: '127.0.0.1',
    });
    const env = { ...process.env, ...runtimeEnv('Dockerfile.sidecar') };
    const child = spawn(NODE, args, { cwd: app, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    t.after(() => child.kill('SIGKILL'));
    const deadline = Date.now() + 15_000;
    while (!err.includes('"msg":"sidecar ready"')) {
      assert.ok(child.exitCode === null, `the bundled sidecar exited ${child.exitCode}: ${err}`);
      assert.ok(Date.now() < deadline, `not ready within 15 s: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const exchange = (port: number, bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const c = net.connect(port, '127.0.0.1', () => c.end(bytes));
        let got = '';
        c.on('data', (d) => {
          got += d.toString('latin1');
        });
        c.on('end', () => resolve(got));
        c.on('error', reject);
      });
    const header = 'PROXY TCP4 198.51.100.7 10.0.0.1 4242 80\r\n';
    const viaHttp = await exchange(
      httpPort!,
      `${header}GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`,
    );
    assert.match(viaHttp, /^HTTP\/1.1 200 [\s\S]*xff=198\.51\.100\.7$/);
    // The tcp hop's default: a fresh PROXY v2 header (its 12-byte signature; the client 198.51.100.7
    // is its first address), then the bytes.
    const viaTcp = Buffer.from(await exchange(tcpPort!, `${header}hello`), 'latin1');
    const v2 = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
    assert.ok(viaTcp.subarray(4, 16).equals(v2), `a PROXY v2 header: ${viaTcp.toString('hex')}`);
    assert.equal(viaTcp.subarray(4 + 16, 4 + 20).toString('hex'), 'c6336407', 'its source is the client');
    assert.ok(viaTcp.toString('latin1').endsWith('hello'));
  });

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
