// `realip init` against real iptables (nft and legacy) and iproute2 in network namespaces created
// here: re-entrant, atomic, --dry-run changes nothing, --cleanup restores, errors are exact.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Netns, steeringState, uniqueName } from '../support/netns.ts';

const LISTENERS = 'http:15001:8080,transparent:15002:6379';

async function freshNs(t: { after: (fn: () => Promise<void>) => void }): Promise<Netns> {
  const ns = await Netns.create(uniqueName('steer'));
  t.after(() => ns.destroy());
  return ns;
}

function ok(r: { code: number; stderr: string }, what: string): void {
  assert.equal(r.code, 0, `${what} exited ${r.code}: ${r.stderr}`);
}

test('init installs exactly the planned rules and routes; twice gives identical state; --cleanup restores', async (t) => {
  const ns = await freshNs(t);
  const before = await steeringState(ns);
  const env = { REALIP_LISTENERS: LISTENERS, REALIP_LOG_LEVEL: 'warn', PATH: process.env.PATH ?? '' };

  ok(await ns.realip(['init'], { env }), 'init');
  const once = await steeringState(ns);
  assert.notEqual(once, before);
  const nat4 = await ns.must(['iptables-save', '-t', 'nat']);
  const ours4 = nat4.split('\n').filter((l) => l.includes('REALIP_PREROUTING'));
  assert.deepEqual(ours4, [
    ':REALIP_PREROUTING - [0:0]',
    '-A PREROUTING -j REALIP_PREROUTING',
    '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 6379 -j REDIRECT --to-ports 15002',
  ]);
  const nat6 = await ns.must(['ip6tables-save', '-t', 'nat']);
  assert.deepEqual(
    nat6.split('\n').filter((l) => l.includes('REALIP_PREROUTING')),
    ours4,
  );
  assert.match(await ns.must(['ip', '-4', 'rule']), /^\d+:\s+from 127\.0\.0\.1\/8 iif lo lookup 15100\s*$/m);
  assert.match(await ns.must(['ip', '-6', 'rule']), /^\d+:\s+from ::1 iif lo lookup 15100\s*$/m);
  assert.match(await ns.must(['ip', '-4', 'route', 'show', 'table', '15100']), /^local default dev lo /m);
  assert.match(await ns.must(['ip', '-6', 'route', 'show', 'table', '15100']), /^local default dev lo /m);

  ok(await ns.realip(['init'], { env }), 'init again');
  assert.equal(await steeringState(ns), once, 're-running init must leave byte-identical rules');

  const dry = await ns.realip(['init', '--cleanup', '--dry-run'], { env });
  ok(dry, 'cleanup dry-run');
  assert.match(dry.stdout, /-X REALIP_PREROUTING/);
  assert.equal(await steeringState(ns), once, '--dry-run must not change anything');

  ok(await ns.realip(['init', '--cleanup'], { env }), 'cleanup');
  assert.equal(await steeringState(ns), before, '--cleanup must restore the original state');
  ok(await ns.realip(['init', '--cleanup'], { env }), 'cleanup of a clean namespace');
  assert.equal(await steeringState(ns), before);
});

test('--dry-run prints the exact plan and changes nothing', async (t) => {
  const ns = await freshNs(t);
  const before = await steeringState(ns);
  const r = await ns.realip([
    'init',
    '--listener',
    'http:15001:8080',
    '--redirect-from',
    '198.51.100.0/24',
    '--dry-run',
  ]);
  ok(r, 'dry-run');
  assert.equal(
    r.stdout,
    [
      '# realip init --dry-run (install): nothing was changed',
      '# iptables backend: nft (auto: 0 nft rules/chains, 0 legacy rules/chains)',
      "iptables-nft-restore --noflush <<'EOF'",
      '*nat',
      ':REALIP_PREROUTING - [0:0]',
      '-F REALIP_PREROUTING',
      '-A REALIP_PREROUTING -s 198.51.100.0/24 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
      '-A PREROUTING -j REALIP_PREROUTING',
      'COMMIT',
      'EOF',
      "ip6tables-nft-restore --noflush <<'EOF'",
      '*nat',
      ':REALIP_PREROUTING - [0:0]',
      '-F REALIP_PREROUTING',
      '-A PREROUTING -j REALIP_PREROUTING',
      'COMMIT',
      'EOF',
      '',
    ].join('\n'),
  );
  assert.equal(await steeringState(ns), before);
});

test('legacy backend: detected from existing legacy rules, re-entrant, cleaned up', async (t) => {
  const ns = await freshNs(t);
  // Someone else's legacy rule in the filter table makes the namespace a "legacy" one.
  await ns.must(['iptables-legacy', '-A', 'INPUT', '-p', 'tcp', '--dport', '9', '-j', 'DROP']);
  const before = await steeringState(ns);
  const env = { REALIP_LISTENERS: 'tcp:15003:5432', REALIP_LOG_LEVEL: 'warn', PATH: process.env.PATH ?? '' };
  const dry = await ns.realip(['init', '--dry-run'], { env });
  ok(dry, 'dry-run');
  assert.match(
    dry.stdout,
    /^# iptables backend: legacy \(auto: 0 nft rules\/chains, 1 legacy rules\/chains\)$/m,
  );
  ok(await ns.realip(['init'], { env }), 'init');
  const once = await steeringState(ns);
  assert.match(
    await ns.must(['iptables-legacy-save', '-t', 'nat']),
    /^-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 5432 -j REDIRECT --to-ports 15003$/m,
  );
  assert.doesNotMatch(await ns.must(['iptables-nft-save']), /REALIP/);
  ok(await ns.realip(['init'], { env }), 'init again');
  assert.equal(await steeringState(ns), once);
  ok(await ns.realip(['init', '--cleanup'], { env }), 'cleanup');
  assert.equal(await steeringState(ns), before);
});

test('forcing a backend with --iptables-backend', async (t) => {
  const ns = await freshNs(t);
  const r = await ns.realip(['init', '--listener', 'http:15001:8080', '--iptables-backend', 'legacy']);
  ok(r, 'init');
  assert.match(
    await ns.must(['iptables-legacy-save', '-t', 'nat']),
    /--dport 8080 -j REDIRECT --to-ports 15001/,
  );
  ok(await ns.realip(['init', '--cleanup', '--iptables-backend', 'legacy']), 'cleanup');
  assert.doesNotMatch(await ns.must(['iptables-legacy-save', '-t', 'nat']), /REALIP/);
});

test('iptables not installed: exact error naming the binary, exit 1', async (t) => {
  const ns = await freshNs(t);
  const r = await ns.run(['/usr/bin/env', 'PATH=/nonexistent', process.execPath, ...realipArgs()]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'realip init: STEER_IPTABLES_MISSING: iptables-nft-save (or iptables-legacy-save) not found in PATH ' +
      '(/nonexistent): realip init needs the iptables tools (Debian: apt-get install iptables; Alpine: apk add ' +
      'iptables ip6tables)\n',
  );
  const forced = await ns.run([
    '/usr/bin/env',
    'PATH=/nonexistent',
    process.execPath,
    ...realipArgs(),
    '--iptables-backend',
    'nft',
  ]);
  assert.equal(forced.code, 1);
  assert.match(forced.stderr, /^realip init: STEER_IPTABLES_MISSING: iptables-nft-save not found in PATH/);
});

test('no CAP_NET_ADMIN: exact error, exit 1, nothing changed', async (t) => {
  const ns = await freshNs(t);
  const before = await steeringState(ns);
  // Root without CAP_NET_ADMIN in its bounding set: the exec'd node has no NET_ADMIN.
  const r = await ns.run([
    'capsh',
    '--drop=cap_net_admin',
    '--',
    '-c',
    `exec ${process.execPath} ${realipArgs().join(' ')}`,
  ]);
  assert.equal(r.code, 1, r.stderr);
  assert.equal(
    r.stderr,
    'realip init: STEER_NO_CAP: realip init needs CAP_NET_ADMIN in the pod network namespace to change ' +
      'iptables rules and routes (add securityContext.capabilities.add: ["NET_ADMIN", "NET_RAW"] to the init ' +
      'container)\n',
  );
  const dry = await ns.run([
    'capsh',
    '--drop=cap_net_admin',
    '--',
    '-c',
    `exec ${process.execPath} ${realipArgs().join(' ')} --dry-run`,
  ]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /no CAP_NET_ADMIN: the current rules could not be read/);
  assert.match(dry.stdout, /--dport 8080 -j REDIRECT --to-ports 15001/);
  assert.equal(await steeringState(ns), before);
});

test('a conflicting REDIRECT for the same port ahead of ours: STEER_CONFLICT names it, nothing changed', async (t) => {
  const ns = await freshNs(t);
  await ns.must(['iptables', '-t', 'nat', '-N', 'MESH_INBOUND']);
  await ns.must(['iptables', '-t', 'nat', '-A', 'PREROUTING', '-p', 'tcp', '-j', 'MESH_INBOUND']);
  await ns.must([
    'iptables',
    '-t',
    'nat',
    '-A',
    'MESH_INBOUND',
    '-p',
    'tcp',
    '--dport',
    '8080',
    '-j',
    'REDIRECT',
    '--to-ports',
    '15006',
  ]);
  const before = await steeringState(ns);
  const r = await ns.realip(['init', '--listener', 'http:15001:8080']);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    "realip init: STEER_CONFLICT: IPv4 nat PREROUTING already redirects an intercepted port before realip's chain " +
      '(iptables-nft-save -t nat shows: "-A MESH_INBOUND -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15006"); ' +
      'remove that rule or stop intercepting the port\n',
  );
  assert.equal(await steeringState(ns), before);
  // Another port is fine.
  ok(
    await ns.realip(['init', '--listener', 'http:15001:9090', '--log-level', 'warn']),
    'init on another port',
  );
});

test('--redirect-from with an IPv4-mapped CIDR renders exactly that IPv4 source; below /96 or host bits: exit 2', async (t) => {
  // Regression: ::ffff:10.0.0.5/32 rendered `-s 0.0.0.0/0` (every source redirected).
  const ns = await freshNs(t);
  const r = await ns.realip([
    'init',
    '--listener',
    'http:15001:8080',
    '--redirect-from',
    '::ffff:10.0.0.5/128',
    '--dry-run',
  ]);
  ok(r, 'dry-run');
  const rules = r.stdout.split('\n').filter((l) => l.startsWith('-A REALIP_PREROUTING'));
  assert.deepEqual(rules, [
    '-A REALIP_PREROUTING -s 10.0.0.5/32 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
  ]);
  const bad = await ns.realip([
    'init',
    '--listener',
    'http:15001:8080',
    '--redirect-from',
    '::ffff:10.0.0.5/32,10.0.0.1/8',
    '--dry-run',
  ]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.doesNotMatch(bad.stdout, /0\.0\.0\.0\/0/);
  assert.match(bad.stderr, /CFG_INVALID/);
  assert.match(
    bad.stderr,
    /--redirect-from \/ REALIP_REDIRECT_FROM: "::ffff:10\.0\.0\.5\/32" is an IPv4-mapped address with a prefix below \/96/,
  );
  assert.match(bad.stderr, /"10\.0\.0\.1\/8" has host bits set; did you mean 10\.0\.0\.0\/8\?/);
});

test('bad configuration: CFG_INVALID with every problem, exit 2', async (t) => {
  const ns = await freshNs(t);
  const r = await ns.realip(['init', '--listener', 'http:15001', '--iptables-backend', 'bpf']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^realip init: CFG_INVALID: invalid configuration:\n {2}- /);
  assert.match(r.stderr, /expected MODE:LISTEN_PORT:APP_PORT/);
  assert.match(r.stderr, /"bpf" is not one of auto, nft, legacy/);
});

function realipArgs(): string[] {
  return [new URL('../../cli/main.ts', import.meta.url).pathname, 'init', '--listener', 'http:15001:8080'];
}
