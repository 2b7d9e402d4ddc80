/**
 * The cases every e2e pod mode runs the same way (test/integration/e2e-pod-{http,tcp,transparent}):
 * a table of cases, each run once per mode with that mode's row of `PodMode`. What differs between
 * modes (the bytes behind a forged header, what else is checked) is data in the row, so a case is
 * written once and a new mode adds a row. The per-mode client cases (what the app sees through the
 * edge) stay in each mode's file: their exchange and what they assert differ by mode.
 */
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppProbesJson } from '../../common/contract.ts';
import { buildWorld, type Spawned, steeringState, type World } from './netns.ts';
import { cleanupPod, curlFromNode, setupPod } from './pod-e2e.ts';

export interface PodMode {
  readonly mode: 'http' | 'tcp' | 'transparent';
  /** As given to `realip init` and `realip sidecar`: `<mode>:<listenPort>:<appPort>`. */
  readonly listener: string;
  readonly listenPort: number;
  readonly appPort: number;
  readonly adminPort: number;
  /** REALIP_APP_PROBES as the webhook would write it for this pod. */
  readonly appProbes: AppProbesJson;
  /** Tag of the network namespaces (short: it prefixes every name). */
  readonly world: string;
  /** Starts the app in the pod (its files may go in `dir`); the set-up waits for its port. */
  startApp(w: World, dir: string): Spawned;
  /** What follows the forged PROXY header: a request the app would answer. */
  readonly forgedPayload: string;
  /** Also send the forged header to the pod's IPv6 address. */
  readonly forgedOverV6: boolean;
  /** Must never appear in the app's output (when the app logs what it saw). */
  readonly forgedNeverSeen?: RegExp;
  /** Must be in the steering state after init (the mode's own rules). */
  readonly initRules?: RegExp;
  /** Runs between the init re-run and --cleanup: traffic still flows after the re-run. */
  afterRerun?(): Promise<void>;
}

/** The world as before() left it; read when a case runs. */
export interface PodRun {
  readonly w: World;
  readonly app?: Spawned;
  readonly stateBefore: string;
}

export interface StartedPod extends PodRun {
  readonly app: Spawned;
  readonly sidecar: Spawned;
  readonly dir: string;
}

/**
 * The world of one mode: namespaces, the steering state before init, the app, then init, sidecar
 * and edge (setupPod). On a failure it removes what it made before rethrowing, as after() would.
 */
export async function startModePod(m: PodMode): Promise<StartedPod> {
  const dir = mkdtempSync(join(tmpdir(), `realip-e2e-${m.mode}-`));
  let w: World | undefined;
  try {
    w = await buildWorld(m.world);
    const stateBefore = await steeringState(w.pod);
    const app = m.startApp(w, dir);
    await w.pod.waitForPort(m.appPort, 10_000, app);
    const sidecar = await setupPod(w, dir, {
      listener: m.listener,
      listenPort: m.listenPort,
      appPort: m.appPort,
      adminPort: m.adminPort,
      appProbes: m.appProbes,
    });
    return { w, dir, app, sidecar, stateBefore };
  } catch (err) {
    await cleanupPod(w, dir);
    throw err;
  }
}

export interface PodCase {
  /** Which modes run it (a case needs what the mode provides, e.g. a tcp probe). */
  readonly modes: readonly PodMode['mode'][];
  readonly name: string;
  run(m: PodMode, r: PodRun): Promise<void>;
}

export const POD_CASES: readonly PodCase[] = [
  {
    // The http mode checks its probes in one case of its own (an httpGet probe and the tcp one).
    modes: ['tcp', 'transparent'],
    name: 'a probe from the node reaches the app through its configured tcp probe on the admin port',
    async run(m, { w }) {
      const r = await curlFromNode(w, `http://${w.addr.podV4}:${m.adminPort}/app-health/app/readyz`, {
        statusOnly: true,
      });
      assert.equal(r.stdout, '200', r.stderr);
      // The old open path (any loopback port) is gone.
      const old = await curlFromNode(w, `http://${w.addr.podV4}:${m.adminPort}/app-health/tcp/${m.appPort}`);
      assert.match(old.stdout, /^ADMIN_UNKNOWN_PROBE: /, old.stderr);
    },
  },
  {
    modes: ['http', 'tcp', 'transparent'],
    name: 'a forged PROXY header from another pod (untrusted) is refused and never reaches the app',
    async run(m, { w, app }) {
      const a = w.addr;
      const forged = `PROXY TCP4 203.0.113.66 ${a.podV4} 4444 ${m.appPort}\r\n${m.forgedPayload}`;
      const r = await w.other.connect({ host: a.podV4, port: m.appPort, send: forged });
      assert.equal(r.data, '', 'no response to a forged header');
      if (m.forgedOverV6) {
        const r6 = await w.other.connect({ host: a.podV6, port: m.appPort, send: forged });
        assert.equal(r6.data, '');
      }
      if (m.forgedNeverSeen) assert.doesNotMatch(app!.stdout, m.forgedNeverSeen);
    },
  },
  {
    modes: ['http', 'tcp', 'transparent'],
    name: 'realip init re-run with the pod running leaves identical rules; --cleanup restores the original state',
    async run(m, { w, stateBefore }) {
      const once = await steeringState(w.pod);
      if (m.initRules) assert.match(once, m.initRules);
      const again = await w.pod.realip(['init', '--listener', m.listener, '--log-level', 'warn']);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await steeringState(w.pod), once);
      await m.afterRerun?.();
      const clean = await w.pod.realip(['init', '--cleanup', '--log-level', 'warn']);
      assert.equal(clean.code, 0, clean.stderr);
      assert.equal(await steeringState(w.pod), stateBefore);
    },
  },
];

/** The cases of the table that `m` runs, as (name, body) for node:test's it(). */
export function podCasesFor(m: PodMode, run: () => PodRun): { name: string; fn: () => Promise<void> }[] {
  return POD_CASES.filter((c) => c.modes.includes(m.mode)).map((c) => ({
    name: `${m.mode}: ${c.name}`,
    fn: () => c.run(m, run()),
  }));
}
