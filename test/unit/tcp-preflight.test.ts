// Transparent start checks: capability bits from /proc/self/status, the policy rule and the local
// route parsed from real `ip` output, and a message that names everything missing with the fix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRealipError } from '../../common/errors.ts';
import {
  effectiveCaps,
  hasCap,
  hasLocalDefaultRoute,
  hasLoopbackRule,
  type PreflightSystem,
  transparentPreflight,
} from '../../sidecar/tcp/preflight.ts';

const RULES4 = `0:\tfrom all lookup local
32765:\tfrom 127.0.0.1/8 iif lo lookup 15100
32766:\tfrom all lookup main
32767:\tfrom all lookup default
`;
const RULES6 = `0:\tfrom all lookup local
32765:\tfrom ::1 iif lo lookup 15100
32766:\tfrom all lookup main
`;
const ROUTE4 = 'local default dev lo scope host \n';
const ROUTE6 = 'local default dev lo metric 1024 pref medium\n';
const STATUS_ROOT = 'Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n';
const STATUS_NONE = 'Name:\tnode\nCapEff:\t0000000000000000\n';
const STATUS_RAW = 'CapEff:\t0000000000002000\n';

function fake(over: Partial<Record<string, string | Error>> = {}, status = STATUS_ROOT, ipv6 = true) {
  const outputs: Record<string, string | Error> = {
    '-4 rule show': RULES4,
    '-6 rule show': RULES6,
    '-4 route show table 15100': ROUTE4,
    '-6 route show table 15100': ROUTE6,
    ...over,
  };
  const sys: PreflightSystem = {
    procStatus: () => status,
    ipv6: () => ipv6,
    ip: async (args) => {
      const o = outputs[args.join(' ')];
      if (o === undefined || o instanceof Error) throw o ?? new Error(`unexpected ip ${args.join(' ')}`);
      return o;
    },
  };
  return sys;
}

async function failure(p: Promise<void>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err: unknown) {
    assert.ok(isRealipError(err));
    return { code: err.code, message: err.message };
  }
  assert.fail('expected a RealipError');
}

test('capability bits: NET_ADMIN is 12, NET_RAW is 13', () => {
  assert.equal(effectiveCaps(STATUS_NONE), 0n);
  assert.ok(hasCap(effectiveCaps(STATUS_ROOT), 12));
  assert.ok(hasCap(effectiveCaps(STATUS_RAW), 13));
  assert.ok(!hasCap(effectiveCaps(STATUS_RAW), 12));
  assert.equal(effectiveCaps('no such line'), 0n);
});

test('rule and route parsing (real ip output)', () => {
  assert.ok(hasLoopbackRule(RULES4, 4, 15100));
  assert.ok(hasLoopbackRule(RULES6, 6, 15100));
  assert.ok(!hasLoopbackRule(RULES4, 4, 151));
  assert.ok(!hasLoopbackRule(RULES4.replace('iif lo ', ''), 4, 15100), 'iif lo is part of the recipe');
  assert.ok(!hasLoopbackRule('32765:\tfrom all lookup 15100\n', 4, 15100));
  assert.ok(hasLoopbackRule('100:\tfrom ::1/128 iif lo lookup 15100\n', 6, 15100));
  assert.ok(hasLocalDefaultRoute(ROUTE4));
  assert.ok(hasLocalDefaultRoute(ROUTE6));
  assert.ok(!hasLocalDefaultRoute('default via 10.0.0.1 dev eth0\n'));
  assert.ok(!hasLocalDefaultRoute(''));
});

test('everything in place: passes (CAP_NET_RAW alone is enough)', async () => {
  await transparentPreflight(fake());
  await transparentPreflight(fake({}, STATUS_RAW));
});

test('no IPv6 in the namespace: only the IPv4 pair is required', async () => {
  await transparentPreflight(
    fake({ '-6 rule show': 'x', '-6 route show table 15100': '' }, STATUS_ROOT, false),
  );
});

test('missing routing: TCP_ROUTING_MISSING naming each missing piece and the commands', async () => {
  const f = await failure(
    transparentPreflight(
      fake({
        '-4 rule show': '0:\tfrom all lookup local\n',
        '-6 route show table 15100': new Error('no table'),
      }),
    ),
  );
  assert.equal(f.code, 'TCP_ROUTING_MISSING');
  assert.match(f.message, /missing policy rule \(ip -4 rule\): "from 127\.0\.0\.1\/8 iif lo lookup 15100"/);
  assert.match(f.message, /missing route \(ip -6 route show table 15100\): "local default dev lo"/);
  assert.doesNotMatch(f.message, /ip -6 rule\)/, 'the v6 rule is there');
  assert.match(f.message, /realip init/);
  assert.match(f.message, /ip rule add from 127\.0\.0\.1\/8 iif lo table 15100/);
  assert.match(f.message, /ip -6 route add local ::\/0 dev lo table 15100/);
});

test('missing capability (and routing): TCP_NO_CAPABILITY, every problem listed', async () => {
  const f = await failure(transparentPreflight(fake({ '-4 route show table 15100': '' }, STATUS_NONE)));
  assert.equal(f.code, 'TCP_NO_CAPABILITY');
  assert.match(f.message, /NET_ADMIN or NET_RAW/);
  assert.match(f.message, /missing route \(ip -4 route/);
});

test('a failing live probe counts as a missing capability even when CapEff has the bit', async () => {
  const sys = { ...fake(), probe: () => 'EPERM' };
  const f = await failure(transparentPreflight(sys));
  assert.equal(f.code, 'TCP_NO_CAPABILITY');
  assert.match(f.message, /IP_TRANSPARENT\): EPERM/);
});

test('ip cannot run: TCP_ROUTING_UNCHECKED', async () => {
  const f = await failure(transparentPreflight(fake({ '-4 rule show': new Error('spawn ip ENOENT') })));
  assert.equal(f.code, 'TCP_ROUTING_UNCHECKED');
  assert.match(f.message, /iproute2/);
});
