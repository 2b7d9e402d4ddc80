// The Helm chart, rendered by a real helm (built from helm.sh/helm/v3): lint, schema, golden renders,
// and the properties the issue asks of each object. Regenerate the golden files with UPDATE_GOLDEN=1.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse as loadYaml, parseAllDocuments } from 'yaml';
import { WEBHOOK_OPTIONS } from '../../webhook/config.ts';
import { CHART_DIR, helm, helmTemplate } from '../support/k8s.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/chart');

// biome-ignore lint/suspicious/noExplicitAny: rendered manifests are untyped YAML
type Obj = any;

function objects(yaml: string): Obj[] {
  return parseAllDocuments(yaml)
    .map((d) => d.toJS() as Obj)
    .filter((o) => o && typeof o === 'object');
}
function find(objs: Obj[], kind: string): Obj {
  const o = objs.find((x) => x.kind === kind);
  assert.ok(o, `no ${kind} rendered`);
  return o;
}
function envOf(objs: Obj[]): Record<string, string> {
  const c = find(objs, 'Deployment').spec.template.spec.containers[0];
  return Object.fromEntries(c.env.map((e: Obj) => [e.name, e.value ?? `<${Object.keys(e.valueFrom)[0]}>`]));
}

/** Non-default value sets, each rendered to a golden file. */
const CASES: Record<string, string[]> = {
  default: [],
  'port-certmanager-fail': ['-f', join(FIXTURES, 'values-port-certmanager-fail.yaml')],
  'secret-url': ['-f', join(FIXTURES, 'values-secret-url.yaml')],
};

describe('chart', () => {
  test('appVersion equals the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const chart = loadYaml(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as Obj;
    assert.equal(chart.appVersion, pkg.version);
  });

  test('every key in values.yaml is typed in values.schema.json', () => {
    const values = loadYaml(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8')) as Obj;
    const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Obj;
    const resolve = (node: Obj): Obj => {
      while (node?.$ref) {
        const path = String(node.$ref).replace(/^#\//, '').split('/');
        node = path.reduce((n: Obj, k: string) => n[k], schema);
      }
      return node;
    };
    const missing: string[] = [];
    const walk = (value: Obj, node: Obj, path: string) => {
      node = resolve(node);
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
      for (const [k, v] of Object.entries(value)) {
        const child = node?.properties?.[k];
        if (!child) missing.push(`${path}${k}`);
        else walk(v, child, `${path}${k}.`);
      }
    };
    walk(values, schema, '');
    assert.deepEqual(missing, [], `values without a schema entry: ${missing.join(', ')}`);
    // Typos must fail, not be ignored: every object in the schema with fixed keys is closed.
    assert.equal(schema.additionalProperties, false);
  });

  test('every value in values.yaml is documented with a "# --" comment', () => {
    const lines = readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8').split('\n');
    // A leaf is documented by its own "# --" comment or by one on an enclosing key (e.g. the
    // requests/limits under "# -- Resources of each webhook pod.").
    const stack: { indent: number; documented: boolean }[] = [];
    const undocumented: string[] = [];
    lines.forEach((line, i) => {
      const m = /^(\s*)([A-Za-z][\w-]*):(\s*(\S.*))?$/.exec(line);
      if (!m) return;
      const indent = m[1]!.length;
      while (stack.length > 0 && stack[stack.length - 1]!.indent >= indent) stack.pop();
      let own = false;
      for (let j = i - 1; j >= 0 && /^\s*#/.test(lines[j]!); j--) {
        if (/^\s*# -- /.test(lines[j]!)) own = true;
      }
      const documented = own || stack.some((s) => s.documented);
      const isLeaf = m[4] !== undefined && !m[4].startsWith('#');
      if (isLeaf && !documented) undocumented.push(`line ${i + 1}: ${m[2]}`);
      stack.push({ indent, documented });
    });
    assert.deepEqual(undocumented, []);
  });

  test('helm lint passes (strict) with default and non-default values', () => {
    for (const [name, args] of Object.entries(CASES)) {
      const r = helm(['lint', '--strict', CHART_DIR, ...args]);
      assert.equal(r.status, 0, `helm lint ${name}:\n${r.stdout}${r.stderr}`);
    }
  });

  for (const [name, args] of Object.entries(CASES)) {
    test(`golden render: ${name}`, () => {
      const out = helmTemplate(args);
      const file = join(FIXTURES, `${name}.yaml`);
      if (process.env.UPDATE_GOLDEN === '1' || !existsSync(file)) {
        if (process.env.UPDATE_GOLDEN !== '1') assert.fail(`${file} missing: run with UPDATE_GOLDEN=1`);
        writeFileSync(file, out);
      }
      assert.equal(
        out,
        readFileSync(file, 'utf8'),
        `render differs from ${file} (UPDATE_GOLDEN=1 to accept)`,
      );
    });
  }

  test('bad values fail with a message naming the value', () => {
    // [values, expected message, caught by the schema (so `helm lint` fails too; lint does not
    // report `fail` calls in templates)]
    const bad: [string[], RegExp, boolean?][] = [
      [['--set', 'webhook.failurePolicy=Maybe'], /failurePolicy.*(Ignore|must be one of)/s],
      [['--set', 'webhook.timeoutSeconds=60'], /timeoutSeconds/],
      [['--set', 'injection.steering=nat'], /steering/],
      [['--set', 'injection.proxy=sometimes'], /proxy/],
      [['--set', 'injection.nativeSidecar=maybe'], /nativeSidecar/],
      [['--set', 'injection.trustedCidrs={10.0.0.0}'], /trustedCidrs/],
      // Host bits set, and an IPv4-mapped CIDR below /96 (which once widened to 0.0.0.0/0).
      [['--set', 'injection.trustedCidrs={10.0.0.1/8}'], /trustedCidrs/],
      [['--set', 'injection.trustedCidrs={::ffff:10.0.0.5/32}'], /trustedCidrs/],
      [['--set', 'replicas=3'], /replicas/],
      [['--set', 'injection.sidecar.resources.requests.memory=lots'], /memory/],
      [['--set', 'tls.mode=vault'], /mode/],
      [['--set', 'tls.mode=secret'], /tls\.mode=secret needs tls\.secretName/, false],
      [['--set', 'tls.mode=secret', '--set', 'tls.secretName=x'], /needs tls\.caBundle/, false],
      [['--set', 'tls.caBundle=-----BEGIN CERTIFICATE-----'], /only used with tls\.mode=secret/, false],
      [['--set', 'webhook.url=http://127.0.0.1/mutate'], /url/],
    ];
    for (const [args, message, bySchema = true] of bad) {
      const t = helm(['template', 'realip', CHART_DIR, ...args]);
      assert.notEqual(t.status, 0, `helm template ${args.join(' ')} should fail`);
      assert.match(t.stderr, message, `helm template ${args.join(' ')}: ${t.stderr}`);
      if (bySchema) {
        const l = helm(['lint', CHART_DIR, ...args]);
        assert.notEqual(l.status, 0, `helm lint ${args.join(' ')} should fail`);
        assert.match(l.stdout + l.stderr, message);
      }
    }
  });

  test('default render: the webhook configuration the issue asks for', () => {
    const objs = objects(helmTemplate());
    const mwc = find(objs, 'MutatingWebhookConfiguration');
    assert.equal(mwc.webhooks.length, 1);
    const wh = mwc.webhooks[0];
    assert.equal(wh.sideEffects, 'NoneOnDryRun');
    assert.deepEqual(wh.admissionReviewVersions, ['v1']);
    assert.equal(wh.reinvocationPolicy, 'IfNeeded');
    assert.equal(wh.failurePolicy, 'Ignore');
    assert.equal(wh.timeoutSeconds, 5);
    assert.deepEqual(wh.rules, [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    assert.deepEqual(wh.namespaceSelector.matchExpressions, [
      { key: 'realip.dev/inject', operator: 'In', values: ['enabled'] },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'realip-system'] },
    ]);
    assert.deepEqual(wh.clientConfig.service, {
      name: 'realip',
      namespace: 'realip-system',
      path: '/mutate',
      port: 443,
    });
    assert.equal(wh.clientConfig.caBundle, undefined, 'self-managed: the webhook patches the caBundle');
  });

  test('default render: deployment, service, PDB, RBAC', () => {
    const objs = objects(helmTemplate());
    const dep = find(objs, 'Deployment');
    const pod = dep.spec.template.spec;
    assert.equal(dep.spec.replicas, 2);
    assert.ok(pod.affinity.podAntiAffinity, 'anti-affinity');
    assert.equal(pod.securityContext.runAsNonRoot, true);
    const c = pod.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
    assert.ok(c.resources.requests.cpu && c.resources.limits.memory);
    const env = envOf(objs);
    assert.deepEqual(env, {
      REALIP_WEBHOOK_PORT: '8443',
      REALIP_METRICS_PORT: '9090',
      REALIP_LOG_LEVEL: 'info',
      REALIP_WEBHOOK_NAMESPACE: '<fieldRef>',
      REALIP_WEBHOOK_SERVICE_NAME: 'realip',
      REALIP_WEBHOOK_CONFIG_NAME: 'realip',
      REALIP_TLS_MODE: 'self-managed',
      REALIP_TLS_SECRET_NAME: 'realip-tls',
      REALIP_SIDECAR_IMAGE: 'ghcr.io/realip/realip-sidecar:0.1.0',
      REALIP_SIDECAR_IMAGE_PULL_POLICY: 'IfNotPresent',
      REALIP_LISTENER_PORT_BASE: '15001',
      REALIP_SIDECAR_ADMIN_PORT: '15021',
      REALIP_SIDECAR_UID: '1337',
      REALIP_PROXY: 'required',
      REALIP_STEERING: 'redirect',
      REALIP_NATIVE_SIDECAR: 'auto',
      // Issue 13, deliberately changed (was 10m / 32Mi / 128Mi): from the measured RSS.
      REALIP_SIDECAR_CPU_REQUEST: '50m',
      REALIP_SIDECAR_MEMORY_REQUEST: '96Mi',
      REALIP_SIDECAR_MEMORY_LIMIT: '256Mi',
    });
    const svc = find(objs, 'Service');
    assert.deepEqual(svc.spec.ports[0], { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP' });
    assert.equal(find(objs, 'PodDisruptionBudget').spec.minAvailable, 1);
    const role = find(objs, 'Role');
    assert.deepEqual(role.rules, [
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['realip-tls'],
        verbs: ['get', 'update', 'patch'],
      },
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
    ]);
    const cr = find(objs, 'ClusterRole');
    assert.deepEqual(cr.rules, [
      { nonResourceURLs: ['/version'], verbs: ['get'] },
      // the namespaces of admitted pods: Pod Security, mesh labels, realip.dev/ports (issue 13)
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
      // Events for skips and denials on the pod's owner (issue 15): create only
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
      {
        apiGroups: ['admissionregistration.k8s.io'],
        resources: ['mutatingwebhookconfigurations'],
        resourceNames: ['realip'],
        verbs: ['get', 'patch'],
      },
    ]);
  });

  test('every variable the chart sets is an option of realip webhook (the contract cannot drift)', () => {
    const known = new Set(WEBHOOK_OPTIONS.map((o) => o.env));
    for (const args of Object.values(CASES)) {
      const unknown = Object.keys(envOf(objects(helmTemplate(args)))).filter((name) => !known.has(name));
      assert.deepEqual(
        unknown,
        [],
        `the chart sets variables realip webhook does not read: ${unknown.join(', ')}`,
      );
    }
  });

  test('non-default render: port mode, cert-manager, Fail, trusted CIDRs', () => {
    const objs = objects(helmTemplate(CASES['port-certmanager-fail']!));
    const mwc = find(objs, 'MutatingWebhookConfiguration');
    assert.equal(mwc.metadata.annotations['cert-manager.io/inject-ca-from'], 'realip-system/realip');
    assert.equal(mwc.webhooks[0].failurePolicy, 'Fail');
    assert.equal(mwc.webhooks[0].timeoutSeconds, 3);
    assert.deepEqual(mwc.webhooks[0].namespaceSelector.matchExpressions[1].values, [
      'kube-system',
      'realip-system',
      'monitoring',
    ]);
    const cert = find(objs, 'Certificate');
    assert.ok(cert.spec.dnsNames.includes('realip.realip-system.svc'));
    assert.equal(find(objs, 'Issuer').spec.selfSigned !== undefined, true);
    const env = envOf(objs);
    assert.equal(env.REALIP_TLS_MODE, 'files');
    assert.equal(env.REALIP_TLS_CERT_FILE, '/etc/realip/tls/tls.crt');
    assert.equal(env.REALIP_TLS_KEY_FILE, '/etc/realip/tls/tls.key');
    assert.equal(env.REALIP_TLS_SECRET_NAME, undefined);
    assert.equal(env.REALIP_STEERING, 'port');
    assert.equal(env.REALIP_PROXY, 'optional');
    assert.equal(env.REALIP_TRUSTED_CIDRS, '10.20.0.0/16,192.0.2.10/32');
    assert.equal(env.REALIP_SIDECAR_CPU_LIMIT, '500m');
    assert.equal(env.REALIP_SIDECAR_IMAGE, 'registry.example/realip-sidecar:dev');
    // Files mode needs no Secret or webhook-configuration rights.
    assert.equal(
      objs.find((o) => o.kind === 'Role'),
      undefined,
    );
    assert.deepEqual(find(objs, 'ClusterRole').rules, [
      { nonResourceURLs: ['/version'], verbs: ['get'] },
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get'] },
      { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create'] },
    ]);
    assert.equal(find(objs, 'Deployment').spec.replicas, 3);
  });

  test('secret mode: the caBundle value, base64-encoded, and the url client config', () => {
    const objs = objects(helmTemplate(CASES['secret-url']!));
    const wh = find(objs, 'MutatingWebhookConfiguration').webhooks[0];
    const values = loadYaml(readFileSync(join(FIXTURES, 'values-secret-url.yaml'), 'utf8')) as Obj;
    assert.equal(Buffer.from(wh.clientConfig.caBundle, 'base64').toString(), values.tls.caBundle);
    assert.equal(wh.clientConfig.url, 'https://127.0.0.1:8443/mutate');
    assert.equal(wh.clientConfig.service, undefined);
    assert.equal(wh.objectSelector, undefined);
    const dep = find(objs, 'Deployment');
    assert.deepEqual(dep.spec.template.spec.volumes[1], {
      name: 'tls',
      secret: { secretName: 'my-webhook-tls' },
    });
    assert.equal(
      objs.find((o) => o.kind === 'PodDisruptionBudget'),
      undefined,
      'no PDB with one replica',
    );
  });
});
