/**
 * `realip init` configuration: the same listener contract as the sidecar (REALIP_LISTENERS), the
 * source ranges to redirect, and what to do. Parsed once into a frozen object; every problem is
 * reported at once (ConfigError).
 */
import { type Cidr, parseCidr } from '../../common/cidr.ts';
import { Env, InitEnv, type ListenerSpec, parseListener } from '../../common/contract.ts';
import { ConfigError } from '../../common/errors.ts';
import { LOG_LEVEL_OPTION, type LogLevel } from '../../common/logger.ts';
import { collectOptions, OptionReader, type OptionSchema, optionList } from '../../common/option-schema.ts';

export const BACKENDS = ['auto', 'nft', 'legacy'] as const;
export type BackendChoice = (typeof BACKENDS)[number];

export interface SteeringConfig {
  readonly listeners: readonly ListenerSpec[];
  /** Only these sources are redirected; empty = every source that does not arrive on loopback. */
  readonly redirectFrom: readonly Cidr[];
  readonly backend: BackendChoice;
  readonly dryRun: boolean;
  readonly cleanup: boolean;
  readonly logLevel: LogLevel;
}

export const INIT_SCHEMA = {
  listener: {
    flag: 'listener',
    env: Env.listeners,
    kind: 'list',
    help: 'MODE:LISTEN_PORT:APP_PORT (mode http, tcp or transparent): redirect APP_PORT to LISTEN_PORT',
    repeatable: true,
    doc: "`MODE:LISTEN_PORT:APP_PORT` (the variable: comma-separated): redirect tcp `APP_PORT` to the sidecar's `LISTEN_PORT`; `MODE` `transparent` also installs the policy routing",
  },
  redirectFrom: {
    flag: 'redirect-from',
    env: Env.redirectFrom,
    kind: 'list',
    help: 'comma-separated CIDRs: redirect only these sources (empty: every non-loopback source)',
    repeatable: true,
    doc: 'only these sources are redirected (empty: every source not arriving on loopback; the webhook always sets it, by default to the trusted CIDRs)',
  },
  iptablesBackend: {
    flag: 'iptables-backend',
    env: InitEnv.iptablesBackend,
    kind: 'enum',
    values: BACKENDS,
    help: 'auto (detect from existing rules, else nft), nft or legacy',
    default: 'auto',
    doc: '`auto` detects it (see below), `nft` or `legacy`',
  },
  dryRun: {
    flag: 'dry-run',
    env: InitEnv.dryRun,
    kind: 'flag',
    help: 'print the plan and change nothing',
    doc: 'print the exact commands and change nothing',
  },
  cleanup: {
    flag: 'cleanup',
    env: InitEnv.cleanup,
    kind: 'flag',
    help: 'remove everything realip init installed',
    doc: 'remove everything realip installed',
  },
  logLevel: { ...LOG_LEVEL_OPTION, help: 'fatal, error, warn, info, debug, trace or silent' },
} as const satisfies OptionSchema;
export const INIT_OPTIONS = optionList(INIT_SCHEMA);

export interface ParsedInit {
  readonly config: SteeringConfig;
  readonly help: boolean;
}

export function parseInitConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedInit {
  const raw = collectOptions(argv, env, INIT_OPTIONS);
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const read = new OptionReader(raw, problems);
  const o = INIT_SCHEMA;
  const dryRun = read.flag(o.dryRun);
  const cleanup = read.flag(o.cleanup);

  const listeners: ListenerSpec[] = [];
  for (const item of read.list(o.listener)) {
    const l = parseListener(item);
    if (typeof l === 'string') read.problem(o.listener, l);
    else listeners.push(l);
  }
  const seenApp = new Map<number, ListenerSpec>();
  const seenListen = new Map<number, ListenerSpec>();
  for (const l of listeners) {
    if (seenApp.has(l.appPort)) read.problem(o.listener, `app port ${l.appPort} is listed twice`);
    if (seenListen.has(l.listenPort)) {
      read.problem(o.listener, `listen port ${l.listenPort} is listed twice`);
    }
    if (seenApp.has(l.listenPort) || seenListen.has(l.appPort) || l.listenPort === l.appPort) {
      read.problem(
        o.listener,
        `port ${l.listenPort === l.appPort ? l.appPort : `${l.appPort}/${l.listenPort}`} is both an app port and a listen port`,
      );
    }
    seenApp.set(l.appPort, l);
    seenListen.set(l.listenPort, l);
  }
  if (!cleanup && listeners.length === 0) {
    read.problem(o.listener, `at least one listener is required (MODE:LISTEN_PORT:APP_PORT)`);
  }

  const redirectFrom: Cidr[] = [];
  for (const item of read.list(o.redirectFrom)) {
    const c = parseCidr(item);
    if (typeof c === 'string') read.problem(o.redirectFrom, c);
    else redirectFrom.push(c);
  }

  // Not env-var's asEnum: this text is the one users (and steering-state.test.ts) know.
  const backendText = read.text(o.iptablesBackend) ?? o.iptablesBackend.default;
  if (!(BACKENDS as readonly string[]).includes(backendText))
    read.problem(o.iptablesBackend, `"${backendText}" is not one of ${BACKENDS.join(', ')}`);
  const logLevel: LogLevel = read.enum(o.logLevel);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    help: raw.help,
    config: Object.freeze({
      listeners: Object.freeze(listeners),
      redirectFrom: Object.freeze(redirectFrom),
      backend: backendText as BackendChoice,
      dryRun,
      cleanup,
      logLevel,
    }),
  };
}
