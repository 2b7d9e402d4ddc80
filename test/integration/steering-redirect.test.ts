// The installed REDIRECT really steers: a connection from another namespace to the pod's app port
// lands on the listen port, the pod's own loopback connection to the app port reaches the app, and
// with --redirect-from only the listed sources are steered.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildWorld, type Netns, type World } from '../support/netns.ts';

/** A TCP server answering "<tag> <peer address>\n" on [::]:port (dual stack). */
async function tagServer(ns: Netns, port: number, tag: string): Promise<void> {
  const script = `require('node:net').createServer((s) => s.end(${JSON.stringify(tag)} + ' ' + s.remoteAddress + '\\n'))
    .listen({ port: ${port}, host: '::' });`;
  const p = ns.spawn([process.execPath, '-e', script]);
  await ns.waitForPort(port, 10_000, p);
}

async function ask(from: Netns, host: string, port: number, localAddress?: string): Promise<string> {
  const r = await from.connect({ host, port, send: '', ...(localAddress ? { localAddress } : {}) });
  assert.equal(r.error, undefined, `connect from ${from.name} to ${host}:${port}: ${r.error}`);
  return r.data.trim();
}

async function world(t: { after: (fn: () => Promise<void>) => void }): Promise<World> {
  const w = await buildWorld('steer');
  t.after(() => w.cleanup());
  await tagServer(w.pod, 8080, 'app');
  await tagServer(w.pod, 15001, 'sidecar');
  return w;
}

test('REDIRECT: remote connections to the app port reach the listen port; the pod itself reaches the app', async (t) => {
  const w = await world(t);
  const { addr } = w;
  // Before init everything reaches the app.
  assert.equal(await ask(w.client, addr.podV4, 8080, addr.clientV4[0]), `app ::ffff:${addr.clientV4[0]}`);

  const init = await w.pod.realip(['init', '--listener', 'http:15001:8080', '--log-level', 'warn']);
  assert.equal(init.code, 0, init.stderr);

  assert.equal(await ask(w.client, addr.podV4, 8080, addr.clientV4[0]), `sidecar ::ffff:${addr.clientV4[0]}`);
  assert.equal(await ask(w.client, addr.podV6, 8080, addr.clientV6[0]), `sidecar ${addr.clientV6[0]}`);
  assert.equal(await ask(w.other, addr.podV4, 8080), `sidecar ::ffff:${addr.otherV4}`);
  // Locally generated (the sidecar's own hop to the app): OUTPUT, not PREROUTING, so not redirected.
  assert.equal(await ask(w.pod, '127.0.0.1', 8080), 'app ::ffff:127.0.0.1');
  assert.equal(await ask(w.pod, '::1', 8080), 'app ::1');
  assert.equal(await ask(w.pod, addr.podV4, 8080), `app ::ffff:${addr.podV4}`);

  const cleanup = await w.pod.realip(['init', '--cleanup', '--log-level', 'warn']);
  assert.equal(cleanup.code, 0, cleanup.stderr);
  assert.equal(await ask(w.client, addr.podV4, 8080, addr.clientV4[0]), `app ::ffff:${addr.clientV4[0]}`);
});

test('--redirect-from: only the listed sources are steered, others (kubelet, in-cluster) reach the app', async (t) => {
  const w = await world(t);
  const { addr } = w;
  const init = await w.pod.realip([
    'init',
    '--listener',
    'http:15001:8080',
    '--redirect-from',
    '198.51.100.0/24,2001:db8::/64',
    '--log-level',
    'warn',
  ]);
  assert.equal(init.code, 0, init.stderr);
  // The client network's connections are routed by the node (no source NAT here), so they keep
  // their source and match; the other pod and the node itself do not.
  assert.equal(await ask(w.client, addr.podV4, 8080, addr.clientV4[0]), `sidecar ::ffff:${addr.clientV4[0]}`);
  assert.equal(await ask(w.client, addr.podV6, 8080, addr.clientV6[0]), `sidecar ${addr.clientV6[0]}`);
  assert.equal(await ask(w.other, addr.podV4, 8080), `app ::ffff:${addr.otherV4}`);
  assert.equal(await ask(w.other, addr.podV6, 8080), `app ${addr.otherV6}`);
  assert.equal(await ask(w.edge, addr.podV4, 8080), `app ::ffff:${addr.nodeV4}`);
});
