// The sidecar's life with the real kubelet: rewritten probes keep the pod Ready; a pod restart
// re-runs realip-init without duplicating rules; pod deletion and a rolling update drain requests
// in flight; 1,000 connections stay under the sidecar's default memory limit (the kubelet's cgroup).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyFile, curlFromClient, type K8sObject, namespace, onePod, rollout, startEdge } from './apps.ts';
import { clusterEnv, getJson, inNs, kubectlOk, type Tracked, waitFor } from './cluster.ts';
import { memoryStats, podIptables, sandboxPids } from './node.ts';

const VS = 8081;
const esc = (s: string) => s.replaceAll('.', '\\.');

function ready(pod: K8sObject): boolean {
  return pod.status.conditions?.some(
    (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
  );
}

function redirectRules(iptables: string): string[] {
  return iptables.split('\n').filter((l) => l.startsWith('-A') && /REDIRECT|REALIP|realip/i.test(l));
}

describe('lifecycle with the real kubelet', () => {
  let edge: Tracked | undefined;
  before(async () => {
    await namespace('life', ['realip.dev/inject=enabled']);
    await applyFile('slow.yaml');
    await rollout('life', 'slow');
    edge = await startEdge('life', [{ port: VS, nodePort: 30081, proxy: 'send-proxy' }]);
  });
  after(async () => {
    await edge?.stop();
  });

  test('rewritten probes keep the pod Ready, with no restarts', async () => {
    const dep = await getJson<K8sObject>(['deploy', '-n', 'life', 'slow']);
    const pod = await onePod('life', 'app=slow');
    const asWritten = dep.spec.template.spec.containers[0];
    const injected = pod.spec.containers[0];
    assert.notDeepEqual(
      injected.livenessProbe,
      asWritten.livenessProbe,
      'the webhook rewrote the liveness probe',
    );
    // Four liveness periods with failureThreshold 2: a probe refused by the sidecar would have
    // restarted the app by now.
    await new Promise((r) => setTimeout(r, 13_000));
    const later = await getJson<K8sObject>(['pod', '-n', 'life', pod.metadata.name]);
    assert.ok(ready(later), 'still Ready');
    for (const s of [...later.status.containerStatuses, ...later.status.initContainerStatuses]) {
      assert.equal(s.restartCount, 0, `${s.name} restarted`);
    }
  });

  test('a pod restart (sandbox killed) re-runs realip-init without error and without duplicate rules', async () => {
    const e = clusterEnv();
    const pod = await onePod('life', 'app=slow');
    const rulesBefore = redirectRules(await podIptables(pod, 'slow'));
    assert.ok(rulesBefore.length > 0, 'realip-init installed rules');
    // The pod's first restart here: later ones would wait out the kubelet's back-off (10 s, 20 s, ...).
    const restartsBefore = pod.status.containerStatuses[0].restartCount as number;
    const pids = sandboxPids(pod);
    assert.ok(pids.length > 0, 'found the sandbox');
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const restarted = await waitFor(
      'the pod to come back Ready in a new sandbox',
      async () => {
        const p = await getJson<K8sObject>(['pod', '-n', 'life', pod.metadata.name]);
        const app = p.status.containerStatuses?.[0];
        if (!ready(p) || !(app?.restartCount > restartsBefore)) return undefined;
        // Ready in the new sandbox, its processes visible (the kubelet's status can lead them).
        return sandboxPids(p).some((x) => pids.includes(x)) ? undefined : p;
      },
      90_000,
    );
    const init = restarted.status.initContainerStatuses.find(
      (s: { name: string }) => s.name === 'realip-init',
    );
    assert.equal(init.state.terminated?.exitCode, 0, 'realip-init succeeded again');
    const rulesAfter = redirectRules(await podIptables(restarted, 'slow'));
    assert.deepEqual(rulesAfter, rulesBefore, 'the same rules, once');
    const r = await curlFromClient(e.CLIENT_IP, VS, '/slow?ms=1');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^xff=${esc(e.CLIENT_IP)} `));
  });

  for (const how of ['kubectl delete pod', 'kubectl rollout restart'] as const) {
    test(`${how} drains a request in flight (SIGTERM within the grace period)`, async () => {
      const e = clusterEnv();
      const pod = await onePod('life', 'app=slow');
      const inFlight = curlFromClient(e.CLIENT_IP2, VS, '/slow?ms=6000');
      await new Promise((r) => setTimeout(r, 1500));
      if (how === 'kubectl delete pod')
        await kubectlOk(['-n', 'life', 'delete', 'pod', pod.metadata.name, '--wait=false']);
      else await kubectlOk(['-n', 'life', 'rollout', 'restart', 'deploy/slow']);
      const r = await inFlight;
      assert.equal(r.code, 0, `the request in flight failed: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^xff=${esc(e.CLIENT_IP2)} path=/slow waited=6000`));
      await rollout('life', 'slow');
      await waitFor(
        'the old pod to be gone',
        async () => {
          const r2 = await getJson<{ items: K8sObject[] }>(['pods', '-n', 'life', '-l', 'app=slow']);
          return r2.items.some((p) => p.metadata.name === pod.metadata.name) ? undefined : true;
        },
        60_000,
      );
      const next = await curlFromClient(e.CLIENT_IP, VS, '/slow?ms=1');
      assert.match(next.stdout, new RegExp(`^xff=${esc(e.CLIENT_IP)} `), next.stderr);
    });
  }

  test('1,000 concurrent connections: the sidecar stays under its default memory limit', async () => {
    const e = clusterEnv();
    const pod = await onePod('life', 'app=slow');
    const p0 = pod;
    const N = 1000;
    const script = `
      const http = require('node:http');
      const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
      let ok = 0, bad = 0, done = 0; const errors = {};
      for (let i = 0; i < ${N}; i++) {
        const req = http.get({ host: ${JSON.stringify(e.EDGE_CLIENT_SIDE_IP)}, port: ${VS}, path: '/slow?ms=12000', agent, localAddress: ${JSON.stringify(e.CLIENT_IP)} }, (res) => {
          let body = ''; res.setEncoding('utf8'); res.on('data', (c) => body += c);
          res.on('end', () => { if (res.statusCode === 200 && body.startsWith('xff=${e.CLIENT_IP} ')) ok++; else bad++; if (++done === ${N}) finish(); });
        });
        req.setTimeout(60000, () => req.destroy(new Error('timeout')));
        req.on('error', (err) => { bad++; errors[err.message] = (errors[err.message] || 0) + 1; if (++done === ${N}) finish(); });
      }
      function finish() { console.log(JSON.stringify({ ok, bad, errors })); process.exit(0); }`;
    const load = inNs(e.CLIENT_NS, process.execPath, ['-e', script], { timeoutMs: 120_000 });
    await new Promise((r) => setTimeout(r, 8000));
    const during = memoryStats(pod, 'realip-sidecar');
    const result = await load;
    assert.equal(result.code, 0, result.stderr);
    const counts = JSON.parse(result.stdout) as { ok: number; bad: number; errors: Record<string, number> };
    const after = memoryStats(pod, 'realip-sidecar');
    const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
    process.stderr.write(
      `sidecar memory at ${N} connections: ${mib(during.usage)} in use, peak ${mib(after.max)}, limit ${mib(after.limit)}\n`,
    );
    assert.equal(counts.ok, N, `all requests answered with the client address: ${JSON.stringify(counts)}`);
    const spec = p0.spec.initContainers.find((c: { name: string }) => c.name === 'realip-sidecar');
    const declared = /^(\d+)Mi$/.exec(spec.resources.limits.memory as string);
    assert.ok(declared, `the sidecar's default memory limit is in Mi: ${spec.resources.limits.memory}`);
    assert.equal(after.limit, Number(declared[1]) * 1048576, 'the default limit is the cgroup limit');
    assert.ok(after.max < after.limit, `peak ${mib(after.max)} under the limit`);
    const p = await getJson<K8sObject>(['pod', '-n', 'life', pod.metadata.name]);
    const side = p.status.initContainerStatuses.find((s: { name: string }) => s.name === 'realip-sidecar');
    assert.equal(side.restartCount, 0, 'the sidecar was not OOM-killed');
    assert.match(after.oom, /oom_kill 0/);
  });
});
