// The day-1 path works as written (issue 13): the chart's NOTES, rendered by real helm at
// `helm install`, and the commands of docs/install.md are run, as a user pastes them, against the
// test API server (kubectl, helm and `realip` on PATH). The one thing a test cluster cannot do is
// reach the webhook through its Service (no pod network): the webhook runs from this checkout and
// the configuration's clientConfig is pointed at it, as the other k8s suites do.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  type KubernetesObject,
  KubernetesObjectApi,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { SIDECAR_CONTAINER } from '../../common/contract.ts';
import { DEFAULT_SIDECAR_IMAGE } from '../../webhook/config-schema.ts';
import {
  CHART_DIR,
  type ControlPlane,
  chartWebhookEnv,
  helm,
  helmTemplate,
  type RunningWebhook,
  realipArgv,
  serviceAccountKubeconfig,
  startControlPlane,
  startRealipWebhook,
  toolPath,
} from '../support/k8s.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * Commands as a user would paste them: lines starting with a tool (in NOTES, indented ones only:
 * prose may start with "realip"), `\` continuations joined.
 */
function notesCommands(notes: string, indented = true): string[] {
  const out: string[] = [];
  const lines = notes.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (indented && !/^\s/.test(lines[i]!)) continue;
    let line = lines[i]!.trim();
    if (!/^(kubectl|helm|realip) /.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length)
      line = `${line.slice(0, -1).trim()} ${lines[++i]!.trim()}`;
    out.push(line);
  }
  return out;
}

/** The ```sh blocks of a Markdown file, one command per line (comments after # dropped). */
function shBlocks(markdown: string): string[][] {
  const blocks: string[][] = [];
  for (const m of markdown.matchAll(/^```sh\n([\s\S]*?)^```/gm)) blocks.push(notesCommands(m[1]!, false));
  return blocks;
}

function kubectlPath(): string {
  const r = spawnSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' });
  const p = r.stdout.trim();
  if (r.status !== 0 || p === '')
    throw new Error('kubectl is needed on PATH to run the NOTES commands (apt-get install kubectl)');
  return p;
}

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata: {name: shop, namespace: shop}
spec:
  selector: {matchLabels: {app: shop}}
  template:
    metadata: {labels: {app: shop}}
    spec:
      containers:
        - name: shop
          image: registry.example/shop:1.4
          ports: [{name: http, containerPort: 8080}, {name: https, containerPort: 8443}]
`;

describe('day-1 path: NOTES and docs/install.md commands on a real kube-apiserver', () => {
  let cp: ControlPlane;
  let dir: string;
  let env: Record<string, string>;
  const webhooks: RunningWebhook[] = [];

  const run = (cmd: string) => {
    const r = spawnSync('bash', ['-o', 'pipefail', '-c', cmd], {
      cwd: dir,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
  };

  /** Runs the release's webhook from this checkout and points its configuration at it. */
  const serveRelease = async (release: string, namespace: string, values: string[]) => {
    const rendered = helmTemplate(values, { release, namespace });
    const name = release.includes('realip') ? release : `${release}-realip`;
    const webhook = await startRealipWebhook(
      {
        ...chartWebhookEnv(rendered),
        REALIP_WEBHOOK_NAMESPACE: namespace,
        KUBECONFIG: await serviceAccountKubeconfig(cp, namespace, name),
        REALIP_TLS_EXTRA_SANS: '127.0.0.1',
        REALIP_LOG_LEVEL: 'warn',
      },
      cp.dir,
    );
    webhooks.push(webhook);
    await cp.kc.makeApiClient(AdmissionregistrationV1Api).patchMutatingWebhookConfiguration({
      name,
      body: [
        { op: 'remove', path: '/webhooks/0/clientConfig/service' },
        { op: 'add', path: '/webhooks/0/clientConfig/url', value: webhook.url },
      ],
    });
    return webhook;
  };

  before(async () => {
    cp = await startControlPlane();
    dir = join(cp.dir, 'user');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    // `realip` as an installed CLI: this checkout's sources on the project's Node 24.
    const [node, argv] = realipArgv([]);
    writeFileSync(
      join(dir, 'bin', 'realip'),
      `#!/bin/sh\nexec ${[node, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')} "$@"\n`,
    );
    chmodSync(join(dir, 'bin', 'realip'), 0o755);
    writeFileSync(join(dir, 'deployment.yaml'), DEPLOYMENT);
    env = {
      PATH: [
        join(dir, 'bin'),
        dirname(toolPath('helm')),
        dirname(kubectlPath()),
        '/usr/sbin:/usr/bin:/sbin:/bin',
      ].join(':'),
      HOME: dir,
      KUBECONFIG: cp.kubeconfigPath,
      HELM_CACHE_HOME: join(dir, '.cache/helm'),
      HELM_CONFIG_HOME: join(dir, '.config/helm'),
      HELM_DATA_HOME: join(dir, '.local/share/helm'),
    };
    // The user's existing app, in the namespace they are about to label.
    const core = cp.kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'shop' } } });
    const api = KubernetesObjectApi.makeApiClient(cp.kc);
    for (const o of parseAllDocuments(DEPLOYMENT).map((d) => d.toJS() as KubernetesObject))
      await api.create(o);
  });
  after(async () => {
    for (const w of webhooks) await w.stop();
    await cp?.stop();
  });

  test("realip inject's default image is the chart's sidecar image", () => {
    const rendered = helmTemplate();
    assert.equal(chartWebhookEnv(rendered).REALIP_SIDECAR_IMAGE, DEFAULT_SIDECAR_IMAGE);
  });

  test('NOTES: every command it prints runs, in order, and the check passes', async () => {
    const values = ['--set', 'injection.trustedCidrs={10.20.0.0/16}'];
    const install = helm([
      'install',
      'edge',
      CHART_DIR,
      '-n',
      'edge-system',
      '--create-namespace',
      '--kubeconfig',
      cp.kubeconfigPath,
      ...values,
    ]);
    assert.equal(install.status, 0, install.stderr);
    const commands = notesCommands(install.stdout);
    assert.deepEqual(
      commands.map((c) => c.split(' ').slice(0, 2).join(' ')),
      ['kubectl label', 'kubectl -n', 'realip check', 'realip inject'],
      install.stdout,
    );
    await serveRelease('edge', 'edge-system', values);
    for (const cmd of commands) {
      const r = run(cmd);
      assert.equal(r.status, 0, `${cmd}\n${r.out}`);
      if (cmd.startsWith('realip check')) {
        assert.match(r.out, /all checks passed/, r.out);
        assert.match(r.out, /dry-run pod is injected: in namespace shop/, r.out);
      }
      if (cmd.startsWith('realip inject')) {
        assert.match(r.out, /port 8443\/https: left alone \(INJ_PORT_TLS\)/, r.out);
      }
    }
    const dep = await cp.kc
      .makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'shop', namespace: 'shop' });
    assert.ok(
      dep.spec?.template.metadata?.annotations?.['kubectl.kubernetes.io/restartedAt'],
      'rollout restart ran',
    );
    // The NOTES of a release without trusted CIDRs add one command (its chart placeholder filled in).
    const dry = helm([
      'install',
      'edge2',
      CHART_DIR,
      '-n',
      'edge-system',
      '--dry-run=client',
      '--kubeconfig',
      cp.kubeconfigPath,
    ]);
    assert.equal(dry.status, 0, dry.stderr);
    const upgrade = notesCommands(dry.stdout).filter((c) => c.startsWith('helm upgrade'));
    assert.equal(upgrade.length, 1, dry.stdout);
    // Give back the Service-based clientConfig the chart rendered (the test pointed it at a URL).
    await cp.kc.makeApiClient(AdmissionregistrationV1Api).patchMutatingWebhookConfiguration({
      name: 'edge-realip',
      body: [
        { op: 'remove', path: '/webhooks/0/clientConfig/url' },
        {
          op: 'add',
          path: '/webhooks/0/clientConfig/service',
          value: { name: 'edge-realip', namespace: 'edge-system', path: '/mutate', port: 443 },
        },
      ],
    });
    const r = run(upgrade[0]!.replace('edge2', 'edge').replace('<chart>', CHART_DIR));
    assert.equal(r.status, 0, r.out);
    assert.equal(run('helm uninstall edge -n edge-system').status, 0);
  });

  test('docs/install.md: install, opt in, preview, check, uninstall, as written', async () => {
    const blocks = shBlocks(readFileSync(join(ROOT, 'docs/install.md'), 'utf8'));
    const find = (prefix: string) => {
      const b = blocks.find((cmds) => cmds[0]?.startsWith(prefix));
      assert.ok(b, `a sh block starting with "${prefix}" in docs/install.md`);
      return b;
    };
    const install = find('helm install realip charts/realip --namespace');
    const optIn = find('kubectl label namespace shop');
    const preview = find('realip inject -f deployment.yaml');
    const check = find('realip check');
    const uninstall = find('helm uninstall realip');
    const docs = (cmd: string) => cmd.replace(/ #.*$/, '').replace('charts/realip', CHART_DIR);
    for (const cmd of install) assert.equal(run(docs(cmd)).status, 0, cmd);
    await serveRelease('realip', 'realip-system', ['--set', 'injection.trustedCidrs={10.20.0.0/16}']);
    for (const cmd of [...optIn, ...preview]) {
      const r = run(docs(cmd));
      assert.equal(r.status, 0, `${cmd}\n${r.out}`);
    }
    const injected = readFileSync(join(dir, 'injected.yaml'), 'utf8');
    assert.match(injected, new RegExp(SIDECAR_CONTAINER));
    for (const cmd of check) {
      const r = run(docs(cmd));
      assert.equal(r.status, 0, `${cmd}\n${r.out}`);
      assert.match(r.out, /Pod Security enforcement: shop: privileged, redirect mode as configured/);
    }
    for (const cmd of uninstall) {
      const r = run(docs(cmd));
      assert.equal(r.status, 0, `${cmd}\n${r.out}`);
    }
  });
});
