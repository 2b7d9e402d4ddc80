/**
 * `realip sidecar-wait`: returns once the sidecar's admin port answers /readyz with 200 (exit 0),
 * or gives up after the timeout (exit 1). The webhook puts it in the sidecar's postStart hook when
 * native sidecars are off: the kubelet starts the app containers only after the hook returns.
 */
import http from 'node:http';
import { Defaults, Env, SidecarAdminPaths } from '../common/contract.ts';
import { exitStatus } from '../common/error-codes/registry.ts';
import { ConfigError, codeLine } from '../common/errors.ts';
import { attempt, collectOptions, type OptionSpec, reader, renderHelp } from '../common/options.ts';

const OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'admin-port',
    env: Env.adminPort,
    default: String(Defaults.adminPort),
    help: "the sidecar's admin port",
  },
  { flag: 'timeout-ms', env: 'REALIP_WAIT_TIMEOUT_MS', default: '120000', help: 'give up after this long' },
];

function ready(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get(
      { host: '127.0.0.1', port, path: SidecarAdminPaths.readyz, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

export async function waitReady(port: number, timeoutMs: number, intervalMs = 200): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ready(port)) return true;
    if (Date.now() + intervalMs > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function run(argv: readonly string[]): Promise<number> {
  const raw = collectOptions(argv, process.env, OPTIONS);
  if (raw.help) {
    process.stdout.write(
      `${renderHelp('realip sidecar-wait [options]', 'Waits until the sidecar is ready.', OPTIONS)}\n`,
    );
    return 0;
  }
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const e = reader(raw);
  const port = attempt(
    problems,
    Defaults.adminPort,
    () => e.get(Env.adminPort).required().asPortNumber(),
    OPTIONS,
    raw.values,
  );
  const timeoutMs = attempt(
    problems,
    120000,
    () => e.get('REALIP_WAIT_TIMEOUT_MS').required().asIntPositive(),
    OPTIONS,
    raw.values,
  );
  if (problems.length > 0) {
    const err = new ConfigError(problems);
    process.stderr.write(`realip sidecar-wait: ${err.code}: ${err.message}\n`);
    return 2;
  }
  if (await waitReady(port, timeoutMs)) return 0;
  process.stderr.write(
    codeLine(
      'sidecar-wait',
      'CLI_SIDECAR_NOT_READY',
      `sidecar not ready on port ${port} after ${timeoutMs} ms`,
    ),
  );
  return exitStatus('CLI_SIDECAR_NOT_READY');
}
