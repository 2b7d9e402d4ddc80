/**
 * node --test global setup of `npm run test:cluster`: builds the images from this checkout, brings
 * the one-node cluster up, installs the chart with helm as a user would, and on the way out tears
 * everything down and fails the run if anything was left on the host (docs/test-cluster.md).
 */
import { clusterDown, clusterUp, run } from './cluster.ts';
import { installChart } from './chart.ts';
import { type HostSnapshot, leftovers, snapshot } from './leftovers.ts';

let before: HostSnapshot | undefined;

function log(msg: string): void {
  process.stderr.write(`test:cluster: ${msg}\n`);
}

async function timed<T>(what: string, f: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const v = await f();
  log(`${what} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return v;
}

function downOnSignal(signal: NodeJS.Signals): void {
  process.once(signal, () => {
    log(`${signal}: tearing the cluster down`);
    clusterDown();
    process.exit(130);
  });
}

export async function globalSetup(): Promise<void> {
  downOnSignal('SIGINT');
  downOnSignal('SIGTERM');
  await timed('images', async () => {
    const r = await run('bash', [new URL('build-images.sh', import.meta.url).pathname], {
      timeoutMs: 1_800_000,
    });
    if (r.code !== 0) throw new Error(`image build failed:\n${r.stderr}\n${r.stdout}`);
    process.stderr.write(r.stdout.replace(/^/gm, '  '));
  });
  // Leftovers of an earlier crashed run are removed first (never a live run's cluster: down.sh
  // refuses, and so does up.sh); measure the host without them.
  const pre = clusterDown();
  if (pre.code !== 0) throw new Error(`cannot start the test cluster: ${pre.stderr}`);
  before = snapshot();
  const start = before;
  await timed('a failed start cleaned up after itself', async () => {
    const r = await run('bash', [new URL('up.sh', import.meta.url).pathname], {
      timeoutMs: 600_000,
      env: { REALIP_CLUSTER_FAULT: 'kubelet', REALIP_CLUSTER_OWNER: String(process.pid) },
    });
    if (r.code === 0) throw new Error('up.sh succeeded although the kubelet was made to fail');
    const left = leftovers(start, snapshot());
    if (left.length > 0) throw new Error(`a failed start left behind:\n  ${left.join('\n  ')}`);
  });
  try {
    await timed('cluster up', async () => process.stderr.write((await clusterUp()).replace(/^/gm, '  ')));
    await timed('helm install', installChart);
  } catch (err) {
    clusterDown();
    throw err;
  }
}

export async function globalTeardown(): Promise<void> {
  if (process.env.REALIP_KEEP_CLUSTER) {
    log('REALIP_KEEP_CLUSTER set: the cluster stays up (bash test/cluster/down.sh removes it)');
    return;
  }
  const r = await timed('teardown', async () => clusterDown());
  if (r.code !== 0) throw new Error(`teardown failed: ${r.stderr}`);
  if (before) {
    const left = leftovers(before, snapshot());
    if (left.length > 0) throw new Error(`the test cluster left behind:\n  ${left.join('\n  ')}`);
  }
}
