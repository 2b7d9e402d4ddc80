/**
 * The subcommands of `realip`, each defined in cli/commands/<name>.ts and run through the one
 * runner (common/command.ts). Each is loaded only when used, so `realip webhook` never loads the
 * sidecar and vice versa. A command returns its exit code.
 */
import { type Command, runCommand } from '../common/command.ts';

export type CommandRun = (argv: readonly string[]) => Promise<number>;

export interface CommandEntry {
  readonly summary: string;
  readonly load: () => Promise<CommandRun>;
}

/** The runner over a lazily imported command module. */
function lazy<C>(load: () => Promise<{ command: Command<C> }>): () => Promise<CommandRun> {
  return async () => {
    const { command } = await load();
    return (argv) => runCommand(command, argv);
  };
}

export const commands: Readonly<Record<string, CommandEntry>> = {
  demo: {
    summary:
      'the main job end to end on loopback: clients -> edge (PROXY) -> sidecar -> echo app, as a table',
    load: lazy(() => import('./commands/demo.ts')),
  },
  sidecar: {
    summary: 'run the sidecar: terminate PROXY protocol, re-present the client to the app',
    load: lazy(() => import('./commands/sidecar.ts')),
  },
  init: {
    summary: 'steer app ports into the sidecar (iptables REDIRECT, policy routing; --dry-run, --cleanup)',
    load: lazy(() => import('./commands/init.ts')),
  },
  'sidecar-wait': {
    summary: "wait until the sidecar's admin port reports ready (postStart hook without native sidecars)",
    load: lazy(() => import('./commands/sidecar-wait.ts')),
  },
  webhook: {
    summary: 'serve the mutating admission webhook that injects the sidecar (HTTPS POST /mutate)',
    load: lazy(() => import('./commands/webhook.ts')),
  },
  inject: {
    summary: 'inject the sidecar into YAML offline, exactly as the webhook would (-f FILE or -)',
    load: lazy(() => import('./commands/inject.ts')),
  },
  check: {
    summary:
      'check the installation: webhook configuration, caBundle, certificate, reachability, a dry-run pod',
    load: lazy(() => import('./commands/check.ts')),
  },
  decode: {
    summary: 'decode a PROXY protocol header given as hex (a debugging aid)',
    load: lazy(() => import('./commands/decode.ts')),
  },
};
