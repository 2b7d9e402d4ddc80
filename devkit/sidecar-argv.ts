/**
 * The argv of `realip sidecar` as the tests and benches start it: one place that knows the flag
 * names, so a renamed flag breaks one builder instead of every copy of the list.
 */
export interface SidecarArgv {
  /** `<mode>:<listenPort>:<appPort>`, one `--listener` each. */
  readonly listeners: readonly string[];
  readonly trusted: string;
  readonly adminPort: number;
  /** Omitted: the sidecar's default (all addresses), which a pod in a network namespace needs. */
  readonly adminHost?: string;
  /** Further flags, after the ones above. */
  readonly args?: readonly string[];
}

/** `[entry, 'sidecar', ...flags]`; `entry` is the CLI script (cli/main.ts or a compiled main.js). */
export function sidecarArgv(entry: string, o: SidecarArgv): string[] {
  return [
    entry,
    'sidecar',
    ...o.listeners.flatMap((l) => ['--listener', l]),
    '--trusted-cidrs',
    o.trusted,
    '--admin-port',
    String(o.adminPort),
    ...(o.adminHost === undefined ? [] : ['--admin-host', o.adminHost]),
    ...(o.args ?? []),
  ];
}
