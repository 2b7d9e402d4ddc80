// Pod Security admission (the API server's real PodSecurity plugin) in namespaces labelled
// `baseline` and `restricted`: an app written for them, in a namespace labelled for injection, gets
// a pod that the API server admits, that starts, and that carries traffic with the client address
// (issue 13's promise: port steering where the redirect init container is forbidden).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { curlFromClient, namespace, onePod, rollout, startEdge } from './apps.ts';
import { clusterEnv, getJson, kubectlOk, type Tracked } from './cluster.ts';

// The first two rely on the webhook choosing port steering itself (issue 13); the third asks for it
// with the pod annotation, as a user can today.
const CASES = [
  { level: 'baseline', ns: 'secure-baseline', annotate: false },
  { level: 'restricted', ns: 'secure-restricted', annotate: false },
  { level: 'restricted', ns: 'secure-port', annotate: true },
] as const;
const esc = (s: string) => s.replaceAll('.', '\\.');

describe('Pod Security baseline and restricted', () => {
  const edges: Tracked[] = [];
  after(async () => {
    for (const e of edges) await e.stop();
  });

  for (const [i, { level, ns, annotate }] of CASES.entries()) {
    describe(`${level}${annotate ? ', realip.dev/steering: port' : ''}`, () => {
      const vs = 8090 + i;
      before(async () => {
        await namespace(ns, [
          'realip.dev/inject=enabled',
          `pod-security.kubernetes.io/enforce=${level}`,
          'pod-security.kubernetes.io/enforce-version=latest',
        ]);
        await kubectlOk([
          'apply',
          '-n',
          ns,
          '-f',
          new URL('manifests/secure-shop.yaml', import.meta.url).pathname,
        ]);
        if (annotate) {
          const patch = {
            spec: { template: { metadata: { annotations: { 'realip.dev/steering': 'port' } } } },
          };
          await kubectlOk([
            '-n',
            ns,
            'patch',
            'deploy',
            'secure-shop',
            '--type=merge',
            '-p',
            JSON.stringify(patch),
          ]);
        }
      });

      test('the injected pod is admitted and becomes Ready', async () => {
        await rollout(ns, 'secure-shop', 60);
        const pod = await onePod(ns, 'app=secure-shop');
        const names = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].map(
          (c: { name: string }) => c.name,
        );
        assert.ok(names.includes('realip-sidecar'), `injected: ${names.join(', ')}`);
      });

      test('it carries traffic from the edge with the client address', async () => {
        const e = clusterEnv();
        const svc = await getJson<{ spec: { ports: { nodePort: number }[] } }>([
          'svc',
          '-n',
          ns,
          'secure-shop-edge',
        ]);
        edges.push(
          await startEdge(`psa-${level}`, [
            { port: vs, nodePort: svc.spec.ports[0]!.nodePort, proxy: 'send-proxy' },
          ]),
        );
        const r = await curlFromClient(e.CLIENT_IP, vs, '/');
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, new RegExp(`^xff=${esc(e.CLIENT_IP)} `));
      });
    });
  }
});
