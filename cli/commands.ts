/**
 * The subcommands of `realip`. Each is loaded only when used, so `realip webhook` never loads the
 * sidecar and vice versa. A command returns its exit code.
 */
export type CommandRun = (argv: readonly string[]) => Promise<number>;

export interface Command {
  readonly summary: string;
  readonly load: () => Promise<CommandRun>;
}

export const commands: Readonly<Record<string, Command>> = {
  demo: {
    summary:
      'the main job end to end on loopback: clients -> edge (PROXY) -> sidecar -> echo app, as a table',
    load: async () => (await import('../sidecar/demo/demo.ts')).run,
  },
  sidecar: {
    summary: 'run the sidecar: terminate PROXY protocol, re-present the client to the app',
    load: async () => (await import('../sidecar/main.ts')).run,
  },
  init: {
    summary: 'steer app ports into the sidecar (iptables REDIRECT, policy routing; --dry-run, --cleanup)',
    load: async () => (await import('../sidecar/steering/cli.ts')).run,
  },
  'sidecar-wait': {
    summary: "wait until the sidecar's admin port reports ready (postStart hook without native sidecars)",
    load: async () => (await import('../sidecar/wait.ts')).run,
  },
  webhook: {
    summary: 'serve the mutating admission webhook that injects the sidecar (HTTPS POST /mutate)',
    load: async () => (await import('../webhook/main.ts')).run,
  },
  inject: {
    summary: 'inject the sidecar into YAML offline, exactly as the webhook would (-f FILE or -)',
    load: async () => (await import('../webhook/inject-cli.ts')).run,
  },
  check: {
    summary:
      'check the installation: webhook configuration, caBundle, certificate, reachability, a dry-run pod',
    load: async () => (await import('../webhook/check.ts')).run,
  },
  decode: {
    summary: 'decode a PROXY protocol header given as hex (a debugging aid)',
    load: async () => (await import('../sidecar/proxy-protocol/cli.ts')).run,
  },
};
