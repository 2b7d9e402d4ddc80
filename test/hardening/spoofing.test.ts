// Spoofing: hostile connections (fast-check, seeded; the seed is printed, re-run one with
// REALIP_SPOOF_SEED=N) through REAL sidecar processes (http and tcp listeners on loopback, a
// transparent listener inside a network namespace) into apps that record every address they would
// believe. Figure: connections tried, and addresses seen that did not come from a trusted PROXY
// header: must be 0. Half of the connections go to a sidecar in `required` mode, half to one in
// `optional` mode (where a trusted source may omit the header and a loopback peer is legitimate).
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { fixCommands } from '../../sidecar/tcp/preflight.ts';
import { Netns, uniqueName } from '../support/netns.ts';
import { requireTool } from '../../devkit/tools.ts';
import { figure, rssSampler, type Sidecar, size, startSidecar } from './lib/harness.ts';
import { type SpoofCase, spoofCases } from './lib/spoof-gen.ts';
import { httpApp, proxyAwareApp, type RecordingApp, sendAll, verdict } from './lib/spoof-run.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const SEED = process.env.REALIP_SPOOF_SEED ? Number(process.env.REALIP_SPOOF_SEED) : randomInt(1, 2 ** 31);
const TOTAL = size('spoof', 10_000, 50_000);
const N_TRANSPARENT = size('spoof_transparent', 2_000, 10_000);
const N_HTTP = Math.round((TOTAL - N_TRANSPARENT) * 0.6);
const N_TCP = TOTAL - N_TRANSPARENT - N_HTTP;
const CONCURRENCY = 48;
const CLIENT_TIMEOUT_MS = 3000;
const CHILD = fileURLToPath(new URL('./lib/spoof-child.ts', import.meta.url));

const totals = { tried: 0, passed: 0, violations: 0, peakRssMb: 0 };

interface Target {
  sidecar: Sidecar;
  httpPort: number;
  tcpPort: number;
}

describe(`spoofing: zero forged addresses reach an app (seed ${SEED})`, () => {
  let http: RecordingApp;
  let tcp: RecordingApp;
  const targets: Target[] = [];

  before(async () => {
    console.log(`spoofing seed: ${SEED} (re-run with REALIP_SPOOF_SEED=${SEED})`);
    http = await httpApp();
    tcp = await proxyAwareApp();
    for (const mode of ['required', 'optional']) {
      const httpPort = await freePortBelowEphemeral();
      const tcpPort = await freePortBelowEphemeral();
      const sidecar = await startSidecar({
        listeners: [`http:${httpPort}:${http.port()}`, `tcp:${tcpPort}:${tcp.port()}`],
        args: [
          '--proxy',
          mode,
          '--header-timeout',
          '1000',
          '--tlv-headers',
          'authority,unique-id,aws-vpce-id',
          '--app-timeout',
          '3000',
        ],
      });
      targets.push({ sidecar, httpPort, tcpPort });
    }
  });

  after(async () => {
    for (const t of targets) await t.sidecar.stop();
    await http?.close();
    await tcp?.close();
    figure(
      { diagnostic: (m) => console.log(m) },
      {
        case: 'spoofing (all modes)',
        ...totals,
        note: `seed ${SEED}; ${N_HTTP} http, ${N_TCP} tcp, ${N_TRANSPARENT} transparent`,
      },
    );
  });

  async function run(
    t: { diagnostic(m: string): void },
    mode: 'http' | 'tcp',
    app: RecordingApp,
    first: number,
    n: number,
  ) {
    const cases = spoofCases(SEED, mode, first, n);
    const half = Math.ceil(n / 2);
    const samplers = targets.map((x) => rssSampler(x.sidecar.pid));
    const parts: [SpoofCase[], Target][] = [
      [cases.slice(0, half), targets[0]!],
      [cases.slice(half), targets[1]!],
    ];
    const outcomes = await Promise.all(
      parts.map(([cs, tg]) =>
        sendAll(cs, mode === 'http' ? tg.httpPort : tg.tcpPort, CONCURRENCY / 2, CLIENT_TIMEOUT_MS),
      ),
    );
    await sleep(300);
    const v = verdict(cases, app.seen);
    const peak = Math.max(...samplers.map((s) => s.stop()));
    for (const tg of targets) {
      assert.equal(tg.sidecar.child.exitCode, null, `sidecar died:\n${tg.sidecar.output()}`);
    }
    totals.tried += n;
    totals.passed += v.passed;
    totals.violations += v.violations.length;
    totals.peakRssMb = Math.max(totals.peakRssMb, peak);
    figure(t, {
      case: `spoofing ${mode}`,
      tried: n,
      passed: v.passed,
      violations: v.violations.length,
      peakRssMb: peak,
      note: `seed ${SEED}; app saw ${v.appSaw}; clients ${JSON.stringify(outcomes)}`,
    });
    assert.deepEqual(v.violations.slice(0, 5), [], `${v.violations.length} forged addresses reached the app`);
    // The generator must exercise the apps, not only the refusals.
    // (about 13% of http and 65% of tcp connections get a request through the strict hop)
    assert.ok(v.appSaw > n / 20, `the app saw only ${v.appSaw} requests/connections`);
  }

  test(`http listener: ${N_HTTP} hostile connections`, async (t) => {
    await run(t, 'http', http, 0, N_HTTP);
  });

  test(`tcp listener: ${N_TCP} hostile connections`, async (t) => {
    await run(t, 'tcp', tcp, N_HTTP, N_TCP);
  });

  test('control: with --forwarded append (trusting client headers) the detector sees the forgeries', async (t) => {
    // Proves the check can fail: the same generator through a sidecar told to keep client-supplied
    // forwarding headers must produce violations.
    const port = await freePortBelowEphemeral();
    const control = await startSidecar({
      listeners: [`http:${port}:${http.port()}`],
      args: ['--forwarded', 'append', '--header-timeout', '1000'],
    });
    try {
      const cases = spoofCases(SEED, 'http', 5_000_000, 300);
      const before = http.seen.length;
      await sendAll(cases, port, 16, CLIENT_TIMEOUT_MS);
      await sleep(200);
      const v = verdict(cases, http.seen.slice(before));
      t.diagnostic(`control: ${v.violations.length} violations detected in ${cases.length} connections`);
      assert.ok(v.violations.length > 0, 'the detector did not notice client-supplied addresses');
    } finally {
      await control.stop();
    }
  });

  test(`transparent listener (in a netns): ${N_TRANSPARENT} hostile connections`, async (t) => {
    requireTool('ip');
    const ns = await Netns.create(uniqueName('spoof'));
    try {
      for (const cmd of fixCommands(15100, true)) await ns.must(cmd.split(' '));
      const appPort = 7000;
      const listenPort = 15002;
      const adminPort = 15021;
      const sidecar = ns.spawn([
        process.execPath,
        fileURLToPath(new URL('../../cli/main.ts', import.meta.url)),
        'sidecar',
        '--listener',
        `transparent:${listenPort}:${appPort}`,
        '--trusted-cidrs',
        '127.0.0.1/32,::1/128',
        '--admin-port',
        String(adminPort),
        '--header-timeout',
        '1000',
        '--log-level',
        'warn',
      ]);
      await ns.waitForPort(listenPort, 20_000, sidecar);
      const child = await ns.run(
        [
          process.execPath,
          CHILD,
          String(SEED),
          String(N_HTTP + N_TCP),
          String(N_TRANSPARENT),
          String(listenPort),
          String(appPort),
          '32',
        ],
        { timeoutMs: 600_000 },
      );
      assert.equal(
        child.code,
        0,
        `spoof client in the netns failed: ${child.stderr}\nsidecar: ${sidecar.stderr}`,
      );
      assert.equal(sidecar.child.exitCode, null, `sidecar died: ${sidecar.stderr}`);
      const r = JSON.parse(child.stdout) as {
        tried: number;
        passed: number;
        appSaw: number;
        violations: string[];
        outcomes: unknown;
      };
      totals.tried += r.tried;
      totals.passed += r.passed;
      totals.violations += r.violations.length;
      figure(t, {
        case: 'spoofing transparent',
        tried: r.tried,
        passed: r.passed,
        violations: r.violations.length,
        note: `seed ${SEED}; app saw ${r.appSaw}; clients ${JSON.stringify(r.outcomes)}`,
      });
      assert.deepEqual(
        r.violations.slice(0, 5),
        [],
        `${r.violations.length} forged addresses reached the app`,
      );
      assert.ok(r.appSaw > r.tried / 20, `the app saw only ${r.appSaw} connections`);
    } finally {
      await ns.destroy();
    }
  });
});
