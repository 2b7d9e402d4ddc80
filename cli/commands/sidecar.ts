/**
 * `realip sidecar`: the only file of the sidecar that touches process.*. Config -> logger -> admin
 * and listeners -> on SIGTERM: not ready, stop accepting, drain in-flight work, exit 0.
 */
import type { Server } from 'node:http';
import { type Command, type Io, untilStopped } from '../../common/command.ts';
import { ExitCode, failureLine } from '../../common/errors.ts';
import { createLogger } from '../../common/logger.ts';
import { startAdmin } from '../../sidecar/admin.ts';
import { parseSidecarConfig, SIDECAR_USAGE, type SidecarConfig } from '../../sidecar/config.ts';
import type { Hop } from '../../sidecar/hop-contract.ts';
import { hopFactories } from '../../sidecar/hop-factories.ts';
import { type Listener, startListener } from '../../sidecar/listener.ts';
import { createSidecarMetrics } from '../../sidecar/metrics.ts';

export const command: Command<SidecarConfig> = {
  name: 'sidecar',
  help: SIDECAR_USAGE,
  parse: (argv, env) => parseSidecarConfig(argv, env).config,
  run,
};

async function run(config: SidecarConfig, io: Io): Promise<number> {
  // Synchronous: one `connection closed` line per connection; see createLogger.
  const log = createLogger('realip-sidecar', config.logLevel, { sync: true });
  const metrics = createSidecarMetrics();
  const state = { ready: false };
  const listeners: { listener: Listener; hop: Hop }[] = [];
  let admin: Server | undefined;
  try {
    if (config.trusted.size === 0) {
      log.warn(
        'no trusted CIDRs: every PROXY header will be refused (set --trusted-cidrs to the edge/node ranges)',
      );
    }
    admin = await startAdmin({
      port: config.adminPort,
      host: config.adminHost,
      appHost: config.appHost,
      probes: config.appProbes,
      metrics,
      log,
      state,
    });
    for (const spec of config.listeners) {
      const factory = await hopFactories[spec.mode]();
      const hop = await factory({
        listener: spec,
        config,
        log: log.child({ listener: spec.listenPort }),
        metrics,
      });
      listeners.push({ listener: await startListener(spec, config, hop, log, metrics), hop });
    }
  } catch (err: unknown) {
    io.stderr(failureLine('sidecar', err));
    log.flush();
    for (const { listener } of listeners) listener.server.close();
    admin?.close();
    return ExitCode.failed;
  }
  state.ready = true;
  log.info({ listeners: config.listeners.length, adminPort: config.adminPort }, 'sidecar ready');

  const signal = await untilStopped();
  state.ready = false;
  log.info({ signal, graceMs: config.drainTimeoutMs }, 'draining');
  const deadline = Date.now() + config.drainTimeoutMs;
  for (const { listener } of listeners) listener.server.close();
  await Promise.all(listeners.map(({ hop }) => hop.drain(deadline)));
  let left = 0;
  for (const { listener } of listeners) {
    left += listener.sockets.size;
    listener.destroyAll();
  }
  admin.close();
  log.info({ destroyed: left }, 'drained');
  log.flush();
  return 0;
}
