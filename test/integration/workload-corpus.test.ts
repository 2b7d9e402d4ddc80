// Do no harm, on realistic workloads (issue 13): manifests modelled on widely used public charts
// (test/fixtures/workloads/) through `realip inject --trusted-cidrs 10.20.0.0/16` with every other
// setting at its default, pinned by golden injections and summaries. For every manifest:
//   - no PROXY header to an app that did not opt in (a tcp listener only where realip.dev/ports,
//     on the pod or its namespace, says tcp);
//   - no TLS or HTTP/2 port through the HTTP/1.1 hop;
//   - sources outside the trusted ranges are not steered: `realip init --dry-run`, run with the
//     injected init container's own environment in a fresh network namespace, renders REDIRECT
//     rules only for sources inside 10.20.0.0/16;
//   - no sidecar port or uid collides with what the pod declares;
//   - injecting twice equals injecting once;
//   - ports named http / http-* still get the HTTP hop, grpc / http2 / h2c (and -*) the http2 hop.
// UPDATE_GOLDEN=1 node_modules/.bin/node --test test/integration/workload-corpus.test.ts rewrites
// test/fixtures/workloads/golden/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CidrSet } from '../../common/cidr.ts';
import { Annotations, Env, INIT_CONTAINER, parseListener, SIDECAR_CONTAINER } from '../../common/contract.ts';
import { version } from '../../common/version.ts';
import type { Container, Pod } from '../../webhook/admission/pod.ts';
import { classifyPortName } from '../../webhook/admission/port-rules.ts';
import { declaredUids } from '../../webhook/admission/sidecar-ports.ts';
import { parseInjectConfig, resolveDefaults } from '../../webhook/config.ts';
import { injectYaml } from '../../webhook/inject-yaml.ts';
import { realipArgv } from '../support/k8s.ts';

const DIR = new URL('../fixtures/workloads/', import.meta.url).pathname;
const GOLDEN = join(DIR, 'golden');
const TRUSTED = '10.20.0.0/16';
const defaults = resolveDefaults(
  parseInjectConfig(['-f', '-', '--trusted-cidrs', TRUSTED], {}).config.injection,
  { nativeSidecar: true, nativeSidecarNamedPorts: true },
);

// biome-ignore lint/suspicious/noExplicitAny: walking parsed YAML in assertions
type AnyDoc = Record<string, any>;
const TEMPLATE: Record<string, string[]> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

function objects(text: string): AnyDoc[] {
  return parseAllDocuments(text).map((d) => d.toJS() as AnyDoc);
}

function templateOf(o: AnyDoc): Pod | undefined {
  const path = TEMPLATE[o.kind as string];
  if (path === undefined) return undefined;
  let t: AnyDoc = o;
  for (const k of path) t = t[k];
  return t as Pod;
}

const normalize = (text: string) => text.split(version()).join('VERSION');

const manifests = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('the corpus has at least 12 realistic manifests covering the workload kinds', () => {
  assert.ok(manifests.length >= 12, `${manifests.length} manifests`);
  const kinds = new Set(
    manifests.flatMap((f) => objects(readFileSync(join(DIR, f), 'utf8')).map((o) => o.kind)),
  );
  for (const k of ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob', 'Namespace']) {
    assert.ok(kinds.has(k), `a ${k} in the corpus`);
  }
});

/** The ports realip.dev/ports (pod, else namespace) opts in as MODE, and whether `*=MODE` is there. */
function optIns(
  pod: Pod,
  nsAnnotation: string | undefined,
  mode: string,
): { ports: Set<number>; all: boolean } {
  const text = pod.metadata?.annotations?.[Annotations.ports] ?? nsAnnotation ?? '';
  const ports = new Set<number>();
  let all = false;
  for (const e of text.split(',').map((s) => s.trim())) {
    const [p, m] = e.split('=').map((s) => s.trim());
    if (m !== mode) continue;
    if (p === '*') all = true;
    else ports.add(Number(p));
  }
  return { ports, all };
}

function portNames(pod: Pod): Map<number, string | undefined> {
  const out = new Map<number, string | undefined>();
  for (const c of pod.spec.containers)
    for (const p of c.ports ?? []) if (!out.has(p.containerPort)) out.set(p.containerPort, p.name);
  return out;
}

function env(c: Container): Record<string, string> {
  return Object.fromEntries(
    ((c.env ?? []) as { name: string; value: string }[]).map((e) => [e.name, e.value]),
  );
}

function initDryRun(init: Container): string {
  const [node, argv] = realipArgv(['init', '--dry-run']);
  const r = spawnSync('unshare', ['-n', node, ...argv], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...env(init) },
    timeout: 60_000,
  });
  if (r.error)
    throw new Error(`unshare (util-linux) is needed to run realip init in a fresh netns: ${r.error.message}`);
  assert.equal(r.status, 0, `realip init --dry-run: ${r.stderr}`);
  return r.stdout;
}

for (const file of manifests) {
  test(`corpus: ${file}`, () => {
    const input = readFileSync(join(DIR, file), 'utf8');
    const result = injectYaml(input, defaults);
    assert.deepEqual(result.errors, [], 'no manifest of the corpus is denied');
    const base = file.replace(/\.yaml$/, '');
    const summary = `${result.notes.join('\n')}\n`;
    mkdirSync(GOLDEN, { recursive: true });
    if (process.env.UPDATE_GOLDEN === '1') {
      writeFileSync(join(GOLDEN, `${base}.injected.yaml`), normalize(result.output));
      writeFileSync(join(GOLDEN, `${base}.summary.txt`), normalize(summary));
    }
    assert.equal(
      normalize(result.output),
      readFileSync(join(GOLDEN, `${base}.injected.yaml`), 'utf8'),
      'golden injection',
    );
    assert.equal(
      normalize(summary),
      readFileSync(join(GOLDEN, `${base}.summary.txt`), 'utf8'),
      'golden summary',
    );

    // Injecting twice equals injecting once.
    assert.equal(injectYaml(result.output, defaults).output, result.output, 'idempotent');

    const before = objects(input);
    const after = objects(result.output);
    const namespaces = new Map(before.filter((o) => o.kind === 'Namespace').map((o) => [o.metadata.name, o]));
    assert.equal(after.length, before.length);
    before.forEach((orig, i) => {
      const original = templateOf(orig);
      const injected = templateOf(after[i]!);
      if (original === undefined || injected === undefined) return;
      const what = `${orig.kind} ${orig.metadata?.name}`;
      const all = [...(injected.spec.initContainers ?? []), ...injected.spec.containers];
      const sidecar = all.find((c) => c.name === SIDECAR_CONTAINER);
      const init = all.find((c) => c.name === INIT_CONTAINER);
      if (sidecar === undefined) {
        assert.equal(init, undefined, `${what}: no init container without a sidecar`);
        return;
      }
      const nsAnn = namespaces.get(orig.metadata?.namespace)?.metadata?.annotations?.[Annotations.ports];
      const names = portNames(original);
      const listeners = env(sidecar)
        [Env.listeners]!.split(',')
        .map((l) => {
          const spec = parseListener(l);
          assert.ok(typeof spec !== 'string', spec as string);
          return spec;
        });

      // No PROXY header to an app that did not opt in.
      const tcpOptIn = optIns(original, nsAnn, 'tcp');
      for (const l of listeners.filter((x) => x.mode === 'tcp')) {
        const unknownName = classifyPortName(names.get(l.appPort)) === 'unknown';
        assert.ok(
          tcpOptIn.ports.has(l.appPort) || (tcpOptIn.all && unknownName),
          `${what}: tcp listener for ${l.appPort} without an opt-in`,
        );
      }
      // No TLS or HTTP/2 port through the HTTP/1.1 hop.
      for (const l of listeners.filter((x) => x.mode === 'http')) {
        const cls = classifyPortName(names.get(l.appPort));
        assert.ok(
          cls !== 'tls' && cls !== 'http2',
          `${what}: ${l.appPort} (${names.get(l.appPort)}) on the http hop`,
        );
      }
      // HTTP ports still get the HTTP hop (unless the annotation leaves them out on purpose).
      const podAnn = original.metadata?.annotations?.[Annotations.ports] ?? nsAnn;
      for (const [port, name] of names) {
        const cls = classifyPortName(name);
        if ((cls !== 'http' && cls !== 'http2') || podAnn !== undefined) continue;
        assert.ok(
          listeners.some((l) => l.appPort === port && l.mode === cls),
          `${what}: ${cls} port ${port} (${name}) not on the ${cls} hop`,
        );
      }
      // No collision with ports or uids the pod declares.
      const declared = new Set(
        [...original.spec.containers, ...(original.spec.initContainers ?? [])].flatMap((c) =>
          (c.ports ?? []).map((p) => p.containerPort),
        ),
      );
      const adminPort = Number(env(sidecar)[Env.adminPort]);
      for (const port of [...listeners.map((l) => l.listenPort), adminPort]) {
        assert.ok(!declared.has(port), `${what}: sidecar port ${port} is declared by the pod`);
      }
      const sc = sidecar.securityContext as { runAsUser: number };
      if (sc.runAsUser !== 0) {
        assert.ok(
          !declaredUids(original).has(sc.runAsUser),
          `${what}: sidecar uid ${sc.runAsUser} is the pod's`,
        );
      }
      // Sources outside the trusted ranges are not steered.
      if (init !== undefined) {
        const rules = initDryRun(init)
          .split('\n')
          .filter((l) => l.includes('-j REDIRECT'));
        assert.ok(rules.length >= listeners.length, `${what}: a REDIRECT rule per listener`);
        const trusted = CidrSet.parse([TRUSTED]).set;
        for (const rule of rules) {
          const m = / -s (\S+) /.exec(rule);
          assert.ok(m, `${what}: REDIRECT rule without a source match steers every source: ${rule}`);
          const [addr] = m[1]!.split('/');
          assert.ok(trusted.has(addr!), `${what}: ${rule} steers a source outside ${TRUSTED}`);
        }
      }
    });
  });
}
