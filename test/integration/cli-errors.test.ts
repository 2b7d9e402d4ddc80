// Issue 15: every command reports every failure as `realip COMMAND: CODE: message` on stderr, with
// the documented exit code (2: bad options or arguments, nothing done; 1: a runtime failure). Each
// command is run with a bad option and with a real runtime failure (a port in use, a missing tool,
// a file that is not there, an API server that is not there, a sidecar that never gets ready).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateCertBundle } from '../../webhook/certs.ts';
import { type RealipRun, runRealip } from '../support/realip-run.ts';
import { REPO } from '../support/procs.ts';
import { freeEphemeralPort } from '../../devkit/ports.ts';

const DIR = mkdtempSync(join(tmpdir(), 'realip-cli-errors-'));
/** Every code is documented; a reported code must be one of them. */
const DOC = readFileSync(join(REPO, 'docs/errors.md'), 'utf8');

type Ran = RealipRun;

function realip(
  args: readonly string[],
  env: Record<string, string> = {},
  wrap: string[] = [],
): Promise<Ran> {
  return runRealip(args, { env: { HOME: DIR, ...env }, wrap });
}

/** The failure line (JSON log lines aside): `realip COMMAND: CODE: message`, CODE documented. */
function assertReported(r: Ran, command: string, code: RegExp | string, exit: number): void {
  const lines = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('{'));
  const prefix = command === '' ? 'realip: ' : `realip ${command}: `;
  const line = lines.find((l) => l.startsWith(prefix));
  assert.ok(line, `no "${prefix}" line on stderr:\n${r.stderr}\nstdout:\n${r.stdout}`);
  const m = /^realip(?: [a-z-]+)?: ([A-Z]+_[A-Z0-9_]+): \S/.exec(line);
  assert.ok(m, `not "${prefix}CODE: message": ${line}`);
  if (typeof code === 'string') assert.equal(m[1], code, line);
  else assert.match(m[1]!, code, line);
  assert.ok(new RegExp(`\\b${m[1]}\\b`).test(DOC), `${m[1]} is not in docs/errors.md`);
  assert.equal(r.status, exit, `exit code of "${line}"\n${r.stderr}`);
}

const COMMANDS = ['sidecar', 'webhook', 'init', 'inject', 'check', 'demo', 'sidecar-wait'] as const;

describe('every command: a bad option is CFG_INVALID, exit 2', () => {
  for (const command of COMMANDS) {
    test(`realip ${command} --no-such-option`, async () => {
      const r = await realip([command, '--no-such-option']);
      assertReported(r, command, 'CFG_INVALID', 2);
      assert.match(r.stderr, /unknown option "--no-such-option"/);
    });
  }
  test('realip decode with two arguments', async () => {
    assertReported(await realip(['decode', '0d0a', 'extra']), 'decode', 'CLI_BAD_ARGUMENT', 2);
  });
  test('realip decode with a non-hex argument', async () => {
    assertReported(await realip(['decode', '--no-such-option']), 'decode', 'CLI_BAD_ARGUMENT', 2);
  });
  test('an unknown command, and no command', async () => {
    assertReported(await realip(['no-such-command']), '', 'CLI_UNKNOWN_COMMAND', 2);
    assertReported(await realip([]), '', 'CLI_NO_COMMAND', 2);
  });
  test('a bad value names the option (sidecar-wait --timeout-ms abc)', async () => {
    const r = await realip(['sidecar-wait', '--timeout-ms', 'abc']);
    assertReported(r, 'sidecar-wait', 'CFG_INVALID', 2);
    assert.match(r.stderr, /--timeout-ms/);
  });
});

describe('every command: a runtime failure carries its code, exit 1', () => {
  let busy: Server;
  let busyPort: number;
  before(async () => {
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '::', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  after(() => busy.close());

  test('realip sidecar: its listener port is taken', async () => {
    const r = await realip([
      'sidecar',
      '--listener',
      `http:${busyPort}:8080`,
      '--trusted-cidrs',
      '10.0.0.0/8',
      '--admin-port',
      String(await freeEphemeralPort()),
      '--admin-host',
      '127.0.0.1',
    ]);
    assertReported(r, 'sidecar', 'TCP_LISTEN_FAILED', 1);
  });

  test('realip webhook: its port is taken', async () => {
    const bundle = await generateCertBundle({
      commonName: 'realip-test',
      sans: ['localhost', '127.0.0.1'],
      validityDays: 1,
    });
    writeFileSync(join(DIR, 'tls.crt'), bundle.cert);
    writeFileSync(join(DIR, 'tls.key'), bundle.key);
    const r = await realip(
      [
        'webhook',
        '--port',
        String(busyPort),
        '--host',
        '127.0.0.1',
        '--metrics-port',
        String(await freeEphemeralPort()),
        '--tls-cert-file',
        join(DIR, 'tls.crt'),
        '--tls-key-file',
        join(DIR, 'tls.key'),
      ],
      // No kubeconfig (HOME has none): nothing is read from a cluster.
    );
    assertReported(r, 'webhook', 'WH_LISTEN_FAILED', 1);
    const noConfig = await realip(
      ['webhook', '--tls-cert-file', join(DIR, 'tls.crt'), '--tls-key-file', join(DIR, 'tls.key')],
      { KUBECONFIG: join(DIR, 'none.yaml') },
    );
    assertReported(noConfig, 'webhook', 'WH_KUBECONFIG_INVALID', 1);
  });

  test('realip init: no iptables (in a fresh network namespace, PATH without tools)', async () => {
    assert.ok(existsSync('/usr/bin/unshare'), 'unshare (util-linux) is needed for this test');
    const r = await realip(
      ['init', '--listener', 'http:15001:8080', '--redirect-from', '10.0.0.0/8'],
      { PATH: '/nonexistent' },
      ['/usr/bin/unshare', '--net'],
    );
    assertReported(r, 'init', /^STEER_(IPTABLES_MISSING|NO_CAP)$/, 1);
  });

  test('realip inject: the file is not there', async () => {
    const r = await realip(['inject', '-f', join(DIR, 'missing.yaml')]);
    assertReported(r, 'inject', 'CLI_READ_FAILED', 1);
  });

  test('realip check: no API server at the kubeconfig address', async () => {
    const port = await freeEphemeralPort();
    const kubeconfig = join(DIR, 'kubeconfig.yaml');
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context: { cluster: c, user: u }\ncurrent-context: x\n`,
    );
    const r = await realip(['check', '--kubeconfig', kubeconfig]);
    assert.match(r.stdout, /^\[FAIL\] Kubernetes API: CHK_API_UNREACHABLE: connection refused: /m);
    assert.match(r.stdout, /^realip check: CHK_FAILED: 1 check\(s\) failed \(CHK_API_UNREACHABLE\)$/m);
    assert.equal(r.status, 1);
  });

  test('realip check: a kubeconfig that does not load', async () => {
    const bad = join(DIR, 'bad-kubeconfig.yaml');
    writeFileSync(bad, 'clusters: [');
    assertReported(await realip(['check', '--kubeconfig', bad]), 'check', 'CHK_KUBECONFIG_INVALID', 2);
  });

  test('realip demo: it does not finish in time', async () => {
    assertReported(await realip(['demo', '--timeout-ms', '1']), 'demo', 'CLI_DEMO_TIMEOUT', 1);
  });

  test('realip sidecar-wait: nothing gets ready on the admin port', async () => {
    const r = await realip([
      'sidecar-wait',
      '--admin-port',
      String(await freeEphemeralPort()),
      '--timeout-ms',
      '300',
    ]);
    assertReported(r, 'sidecar-wait', 'CLI_SIDECAR_NOT_READY', 1);
  });

  test('realip decode: an incomplete and a malformed header', async () => {
    assertReported(
      await realip(['decode', Buffer.from('PROXY TCP4').toString('hex')]),
      'decode',
      'CLI_INCOMPLETE_HEADER',
      1,
    );
    const bad = Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 99999\r\n').toString('hex');
    assertReported(await realip(['decode', bad]), 'decode', /^PP_V1_/, 1);
  });
});
