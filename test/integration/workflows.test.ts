// The GitHub Actions workflows, checked by a real actionlint (github.com/rhysd/actionlint, built from the
// Go module proxy by test/setup.d/40-actionlint.sh) with shellcheck on every run: block, and by what
// the release must do (images, chart, npm package, SBOM, signatures). Any finding fails the test.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { parse as loadYaml } from 'yaml';

const ROOT = new URL('../..', import.meta.url).pathname;
const WORKFLOWS = join(ROOT, '.github/workflows');
const SETUP_SCRIPT = 'test/setup.d/40-actionlint.sh';

interface Finding {
  message: string;
  filepath: string;
  line: number;
  column: number;
  kind: string;
}

function actionlintPath(): string {
  const p = execFileSync('bash', [join(ROOT, SETUP_SCRIPT), '--print-path'], { encoding: 'utf8' }).trim();
  if (!existsSync(p)) {
    assert.fail(
      `actionlint not found at ${p}: build it with "bash ${SETUP_SCRIPT}" (or "bash test/setup.sh")`,
    );
  }
  return p;
}

function shellcheckPath(): string {
  const r = spawnSync('bash', ['-c', 'command -v shellcheck'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || p === '') {
    assert.fail(
      'shellcheck not found on PATH: install it with "bash test/setup.sh" (Debian package shellcheck)',
    );
  }
  return p;
}

/** Runs actionlint in `dir` (a git repository with .github/workflows) and returns its findings. */
function actionlint(dir: string): Finding[] {
  const r = spawnSync(actionlintPath(), ['-format', '{{json .}}', '-shellcheck', shellcheckPath()], {
    cwd: dir,
    encoding: 'utf8',
  });
  // 0: no finding, 1: findings; anything else is actionlint itself failing (bad flag, no project).
  assert.ok(r.status === 0 || r.status === 1, `actionlint exited ${r.status}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout.trim() || '[]') as Finding[];
}

function show(findings: Finding[]): string {
  return findings.map((f) => `${f.filepath}:${f.line}:${f.column}: ${f.message} [${f.kind}]`).join('\n');
}

const scratch: string[] = [];
/** A throwaway git repository holding the given workflow files (actionlint looks for the project root). */
function repoWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'realip-actionlint-'));
  scratch.push(dir);
  execFileSync('git', ['init', '-q', dir]);
  cpSync(WORKFLOWS, join(dir, '.github/workflows'), { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, '.github/workflows', name), text);
  return dir;
}
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A GitHub Actions expression as written in a workflow: `${{ e }}`. */
const gh = (e: string): string => `\${{ ${e} }}`;

// biome-ignore lint/suspicious/noExplicitAny: workflow files are untyped YAML
type Obj = any;
function workflow(name: string): Obj {
  return loadYaml(readFileSync(join(WORKFLOWS, name), 'utf8'));
}
function steps(wf: Obj): Obj[] {
  return Object.values(wf.jobs as Record<string, Obj>).flatMap((j) => (j.steps ?? []) as Obj[]);
}
function runText(wf: Obj): string {
  return steps(wf)
    .map((s) => s.run ?? '')
    .join('\n');
}
function usesOf(wf: Obj): string[] {
  return steps(wf)
    .map((s) => s.uses as string | undefined)
    .filter((u): u is string => u !== undefined);
}

describe('workflows', () => {
  const files = readdirSync(WORKFLOWS).filter((f) => f.endsWith('.yml'));

  test('ci.yml and release.yml exist', () => {
    assert.deepEqual(files.sort(), ['ci.yml', 'release.yml']);
  });

  test('actionlint (with shellcheck) reports nothing', () => {
    const findings = actionlint(ROOT);
    assert.equal(findings.length, 0, `actionlint findings:\n${show(findings)}`);
  });

  // actionlint checks the inputs of popular actions only when they are referenced by major version
  // (actions/checkout@v4); ours are pinned to exact versions, so check a copy rewritten to majors too.
  test('actionlint reports nothing with the actions at their major versions (input checks)', () => {
    const rewritten: Record<string, string> = {};
    for (const f of files) {
      const text = readFileSync(join(WORKFLOWS, f), 'utf8');
      rewritten[f] = text.replace(/(uses: [^@\s]+@v\d+)\.\d+\.\d+/g, '$1');
    }
    const findings = actionlint(repoWith(rewritten));
    assert.equal(findings.length, 0, `actionlint findings:\n${show(findings)}`);
  });

  test('actionlint is live: a bad workflow is reported, shellcheck included', () => {
    const bad = [
      'on: push',
      'jobs:',
      '  a:',
      '    runs-on: ubuntu-24.04',
      '    steps:',
      '      - uses: actions/checkout@v4',
      '        with: { no-such-input: 1 }',
      '      - run: echo $UNQUOTED',
      `      - run: echo "${gh('github.event.no_such_context.x')}" > ${gh('env.X')}`,
      '',
    ].join('\n');
    const kinds = new Set(actionlint(repoWith({ 'bad.yml': bad })).map((f) => f.kind));
    assert.ok(kinds.has('action'), `no action finding: ${[...kinds].join(', ')}`);
    assert.ok(
      kinds.has('shellcheck'),
      `no shellcheck finding (is shellcheck used?): ${[...kinds].join(', ')}`,
    );
  });

  test('every run: step runs under bash -eo pipefail (shell: bash named)', () => {
    for (const f of files) assert.equal(workflow(f).defaults?.run?.shell, 'bash', `${f}: defaults.run.shell`);
  });

  test('every action is pinned to an exact version', () => {
    for (const f of files) {
      for (const u of usesOf(workflow(f))) {
        if (u.startsWith('./')) continue;
        assert.match(
          u,
          /^[\w.-]+\/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$/,
          `${f}: ${u} is not pinned to a version`,
        );
      }
    }
  });

  test('ci.yml runs the README test command as root and caches the tools and Go caches', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    assert.match(readme, /npm run test:all/);
    const ci = workflow('ci.yml');
    const run = runText(ci);
    assert.match(run, /sudo\b[^\n]*npm run test:all/);
    assert.ok('workflow_call' in ci.on, 'release.yml reuses ci.yml: it needs workflow_call');
    const cached = steps(ci)
      .filter((s) => String(s.uses).startsWith('actions/cache@'))
      .map((s) => String(s.with.path))
      .join('\n');
    for (const p of ['.cache/realip-tools', 'go/pkg/mod', '.cache/go-build']) {
      assert.ok(cached.includes(p), `ci.yml does not cache ${p}`);
    }
    // The cached paths must be the ones the (sudo) run writes to.
    const env = ci.jobs.test.env as Record<string, string>;
    assert.ok(
      env.REALIP_TOOLS_DIR && cached.includes(env.REALIP_TOOLS_DIR),
      'REALIP_TOOLS_DIR is not cached',
    );
    assert.ok(env.GOMODCACHE && cached.includes(env.GOMODCACHE), 'GOMODCACHE is not cached');
    assert.ok(env.GOCACHE && cached.includes(env.GOCACHE), 'GOCACHE is not cached');
    assert.match(run, /--preserve-env=[^\s]*REALIP_TOOLS_DIR/);
  });

  test('release.yml publishes both images multi-arch, signed, with SBOMs; the chart; the npm package', () => {
    const rel = workflow('release.yml');
    assert.deepEqual(rel.on.push.tags, ['v*.*.*']);
    const images = rel.jobs.images;
    assert.deepEqual(images.strategy.matrix.image, ['sidecar', 'webhook']);
    for (const i of images.strategy.matrix.image as string[]) {
      assert.ok(existsSync(join(ROOT, `Dockerfile.${i}`)), `Dockerfile.${i} missing`);
    }
    const build = (images.steps as Obj[]).find((s) => String(s.uses).startsWith('docker/build-push-action@'));
    assert.ok(build, 'no docker/build-push-action step');
    assert.equal(build.with.file, `Dockerfile.${gh('matrix.image')}`);
    assert.equal(build.with.platforms, 'linux/amd64,linux/arm64');
    assert.equal(build.with.push, true);
    assert.match(images.env.IMAGE, /^ghcr\.io\//);
    assert.equal(images.permissions['id-token'], 'write', 'keyless signing needs id-token: write');
    assert.ok(
      usesOf(rel).some((u) => u.startsWith('anchore/sbom-action@')),
      'no SBOM step',
    );
    const run = runText(rel);
    assert.match(run, /cosign sign --yes "\$IMAGE@\$DIGEST"/);
    assert.match(run, /cosign attest --yes --type spdxjson/);
    assert.match(run, /helm push "[^"]+" "oci:\/\/ghcr\.io\/\$OWNER\/charts"/);
    assert.match(run, /npm publish --provenance/);
    assert.equal(rel.jobs.npm.permissions['id-token'], 'write', 'npm provenance needs id-token: write');
    // Nothing is published before the tests pass.
    assert.equal(rel.jobs.test.uses, './.github/workflows/ci.yml');
    assert.ok(rel.jobs.images.needs.includes('test'), 'images do not need test');
    assert.ok(rel.jobs.chart.needs.includes('images'), 'the chart is pushed before its images exist');
    assert.ok(
      rel.jobs.npm.needs.includes('images'),
      'the CLI is published before its default sidecar image exists',
    );
  });

  test('the chart default image repositories are the GHCR names release.yml pushes', () => {
    const values = loadYaml(readFileSync(join(ROOT, 'charts/realip/values.yaml'), 'utf8')) as Obj;
    assert.equal(values.image.repository, 'ghcr.io/realip/realip-webhook');
    assert.equal(values.injection.sidecar.image.repository, 'ghcr.io/realip/realip-sidecar');
    const images = workflow('release.yml').jobs.images;
    assert.equal(
      images.env.IMAGE,
      `ghcr.io/${gh('needs.version.outputs.owner')}/realip-${gh('matrix.image')}`,
    );
  });
});
