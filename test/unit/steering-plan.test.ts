// Golden plans: the exact iptables-restore text and ip commands `realip init` produces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Cidr, parseCidr } from '../../common/cidr.ts';
import { type ListenerSpec, parseListener } from '../../common/contract.ts';
import { installActions, removeRouting, renderActions } from '../../sidecar/steering/apply.ts';
import { toolNames } from '../../sidecar/steering/backend.ts';
import { planSteering, renderInstall, renderRemove } from '../../sidecar/steering/plan.ts';
import type { IptablesState, RoutingState } from '../../sidecar/steering/state.ts';
import { parseNat } from '../../sidecar/steering/state.ts';

function listeners(text: string): ListenerSpec[] {
  return text.split(',').map((t) => {
    const l = parseListener(t);
    if (typeof l === 'string') throw new Error(l);
    return l;
  });
}
function cidrs(...list: string[]): Cidr[] {
  return list.map((t) => {
    const c = parseCidr(t);
    if (typeof c === 'string') throw new Error(c);
    return c;
  });
}
function fresh(family: 4 | 6): IptablesState {
  return {
    family,
    tools: toolNames('nft', family),
    nat: parseNat(''),
    chainExists: false,
    jumpPresent: false,
    jumpCount: 0,
  };
}

test('one http listener, all sources, IPv4 and IPv6: chain, REDIRECT with ! -i lo, jump', () => {
  const plan = planSteering({ listeners: listeners('http:15001:8080'), redirectFrom: [] });
  assert.equal(plan.families.length, 2);
  const [v4, v6] = plan.families;
  const expected = [
    '*nat',
    ':REALIP_PREROUTING - [0:0]',
    '-F REALIP_PREROUTING',
    '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A PREROUTING -j REALIP_PREROUTING',
    'COMMIT',
    '',
  ].join('\n');
  assert.equal(renderInstall(v4!, true), expected);
  assert.equal(renderInstall(v6!, true), expected);
  assert.equal(v4!.routing, undefined);
  assert.equal(v6!.routing, undefined);
});

test('jump is left out when iptables -C found it (re-run)', () => {
  const plan = planSteering({ listeners: listeners('http:15001:8080'), redirectFrom: [] });
  assert.equal(
    renderInstall(plan.families[0]!, false),
    [
      '*nat',
      ':REALIP_PREROUTING - [0:0]',
      '-F REALIP_PREROUTING',
      '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
      'COMMIT',
      '',
    ].join('\n'),
  );
});

test('redirect-from: one rule per source of the family, as iptables-save prints it', () => {
  const plan = planSteering({
    listeners: listeners('http:15001:8080,tcp:15002:5432'),
    redirectFrom: cidrs('198.51.100.0/24', '203.0.113.7', '2001:db8:0:0::/64'),
  });
  assert.deepEqual(plan.families[0]!.chainRules, [
    '-A REALIP_PREROUTING -s 198.51.100.0/24 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING -s 203.0.113.7/32 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING -s 198.51.100.0/24 ! -i lo -p tcp -m tcp --dport 5432 -j REDIRECT --to-ports 15002',
    '-A REALIP_PREROUTING -s 203.0.113.7/32 ! -i lo -p tcp -m tcp --dport 5432 -j REDIRECT --to-ports 15002',
  ]);
  assert.deepEqual(plan.families[1]!.chainRules, [
    '-A REALIP_PREROUTING -s 2001:db8::/64 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING -s 2001:db8::/64 ! -i lo -p tcp -m tcp --dport 5432 -j REDIRECT --to-ports 15002',
  ]);
});

test('redirect-from: an IPv4-mapped CIDR is an IPv4 source of exactly its size', () => {
  // Regression: ::ffff:10.0.0.5/32 rendered -s 0.0.0.0/0 (it is now refused by parseCidr).
  const plan = planSteering({
    listeners: listeners('http:15001:8080'),
    redirectFrom: cidrs('::ffff:10.0.0.5/128', '::ffff:198.51.100.0/120'),
  });
  assert.deepEqual(plan.families[0]!.chainRules, [
    '-A REALIP_PREROUTING -s 10.0.0.5/32 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING -s 198.51.100.0/24 ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
  ]);
  assert.deepEqual(plan.families[1]!.chainRules, []);
});

test('redirect-from without a range of a family redirects nothing of that family', () => {
  const v4only = planSteering({ listeners: listeners('http:15001:8080'), redirectFrom: cidrs('10.0.0.0/8') });
  assert.deepEqual(v4only.families[1]!.chainRules, []);
  assert.equal(
    renderInstall(v4only.families[1]!, true),
    '*nat\n:REALIP_PREROUTING - [0:0]\n-F REALIP_PREROUTING\n-A PREROUTING -j REALIP_PREROUTING\nCOMMIT\n',
  );
});

test('transparent listener: the dry-run script, with policy routing for both families (golden)', () => {
  const plan = planSteering({
    listeners: listeners('http:15001:8080,transparent:15002:6379'),
    redirectFrom: [],
  });
  const actions = installActions(plan, [fresh(4), fresh(6)], []);
  const chain = [
    '*nat',
    ':REALIP_PREROUTING - [0:0]',
    '-F REALIP_PREROUTING',
    '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 8080 -j REDIRECT --to-ports 15001',
    '-A REALIP_PREROUTING ! -i lo -p tcp -m tcp --dport 6379 -j REDIRECT --to-ports 15002',
    '-A PREROUTING -j REALIP_PREROUTING',
    'COMMIT',
  ];
  assert.equal(
    renderActions(actions),
    [
      "iptables-nft-restore --noflush <<'EOF'",
      ...chain,
      'EOF',
      "ip6tables-nft-restore --noflush <<'EOF'",
      ...chain,
      'EOF',
      'ip -4 rule add from 127.0.0.1/8 iif lo table 15100',
      'ip -4 route add local 0.0.0.0/0 dev lo table 15100',
      'ip -6 rule add from ::1/128 iif lo table 15100',
      'ip -6 route add local ::/0 dev lo table 15100',
      '',
    ].join('\n'),
  );
});

test('IPv4-only plan (IPv6 disabled in the pod) has one family', () => {
  const plan = planSteering({
    listeners: listeners('transparent:15002:6379'),
    redirectFrom: [],
    families: [4],
  });
  assert.deepEqual(
    plan.families.map((f) => f.family),
    [4],
  );
  assert.deepEqual(plan.families[0]!.routing, {
    rule: ['-4', 'rule', 'add', 'from', '127.0.0.1/8', 'iif', 'lo', 'table', '15100'],
    route: ['-4', 'route', 'add', 'local', '0.0.0.0/0', 'dev', 'lo', 'table', '15100'],
  });
});

test('re-run over an installed state: no jump, no routing commands', () => {
  const transparent = planSteering({ listeners: listeners('transparent:15002:6379'), redirectFrom: [] });
  const installed = (family: 4 | 6): IptablesState => ({
    ...fresh(family),
    chainExists: true,
    jumpPresent: true,
    jumpCount: 1,
  });
  const routed: RoutingState[] = [
    { family: 4, rules: 1, route: true },
    { family: 6, rules: 1, route: true },
  ];
  const again = installActions(transparent, [installed(4), installed(6)], routed);
  assert.deepEqual(
    again.map((a) => a.kind),
    ['restore', 'restore'],
  );
  assert.ok(again.every((a) => a.kind !== 'restore' || !a.text.includes('-A PREROUTING')));

  const httpOnly = planSteering({ listeners: listeners('http:15001:8080'), redirectFrom: [] });
  const shrink = installActions(httpOnly, [installed(4), installed(6)], routed);
  assert.deepEqual(
    shrink.flatMap((a) => (a.kind === 'ip' ? [a.argv.join(' ')] : [])),
    [
      '-4 rule del from 127.0.0.1/8 iif lo table 15100',
      '-4 route del local 0.0.0.0/0 dev lo table 15100',
      '-6 rule del from ::1/128 iif lo table 15100',
      '-6 route del local ::/0 dev lo table 15100',
    ],
    'routing that no transparent listener needs any more is removed',
  );
});

test('cleanup text deletes every jump, then flushes and deletes the chain', () => {
  assert.equal(
    renderRemove('REALIP_PREROUTING', 2),
    [
      '*nat',
      '-D PREROUTING -j REALIP_PREROUTING',
      '-D PREROUTING -j REALIP_PREROUTING',
      '-F REALIP_PREROUTING',
      '-X REALIP_PREROUTING',
      'COMMIT',
      '',
    ].join('\n'),
  );
  assert.deepEqual(removeRouting({ family: 4, rules: 0, route: false }, 15100), []);
});
