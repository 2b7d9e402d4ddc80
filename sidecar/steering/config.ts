/**
 * `realip init` configuration: the same listener contract as the sidecar (REALIP_LISTENERS), the
 * source ranges to redirect, and what to do. Parsed once into a frozen object; every problem is
 * reported at once (ConfigError).
 */
import { type Cidr, parseCidr } from '../../common/cidr.ts';
import { Env, InitEnv, type ListenerSpec, parseListener } from '../../common/contract.ts';
import { ConfigError } from '../../common/errors.ts';
import { isLogLevel, type LogLevel } from '../../common/logger.ts';
import { collectOptions, type OptionSpec } from '../../common/option-schema.ts';

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

export const INIT_OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'listener',
    env: Env.listeners,
    help: 'MODE:LISTEN_PORT:APP_PORT (mode http, tcp or transparent): redirect APP_PORT to LISTEN_PORT',
    repeatable: true,
  },
  {
    flag: 'redirect-from',
    env: Env.redirectFrom,
    help: 'comma-separated CIDRs: redirect only these sources (empty: every non-loopback source)',
    repeatable: true,
  },
  {
    flag: 'iptables-backend',
    env: InitEnv.iptablesBackend,
    help: 'auto (detect from existing rules, else nft), nft or legacy',
    default: 'auto',
  },
  { flag: 'dry-run', env: InitEnv.dryRun, help: 'print the plan and change nothing', boolean: true },
  {
    flag: 'cleanup',
    env: InitEnv.cleanup,
    help: 'remove everything realip init installed',
    boolean: true,
  },
  {
    flag: 'log-level',
    env: Env.logLevel,
    help: 'fatal, error, warn, info, debug, trace or silent',
    default: 'info',
  },
];

export interface ParsedInit {
  readonly config?: SteeringConfig;
  readonly help: boolean;
}

export function parseInitConfig(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): ParsedInit {
  const raw = collectOptions(argv, env, INIT_OPTIONS);
  if (raw.help) return { help: true };
  const problems = [...raw.problems];
  if (raw.positionals.length > 0) problems.push(`unexpected argument "${raw.positionals[0]}"`);
  const v = raw.values;
  const bool = (name: string): boolean => {
    const text = (v[name] ?? 'false').toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text === 'false' || text === '0' || text === '') return false;
    problems.push(`${name} must be true or false, got "${v[name]}"`);
    return false;
  };
  const dryRun = bool(InitEnv.dryRun);
  const cleanup = bool(InitEnv.cleanup);

  const listeners: ListenerSpec[] = [];
  for (const item of splitList(v[Env.listeners])) {
    const l = parseListener(item);
    if (typeof l === 'string') problems.push(`--listener / ${Env.listeners}: ${l}`);
    else listeners.push(l);
  }
  const seenApp = new Map<number, ListenerSpec>();
  const seenListen = new Map<number, ListenerSpec>();
  for (const l of listeners) {
    if (seenApp.has(l.appPort))
      problems.push(`--listener / ${Env.listeners}: app port ${l.appPort} is listed twice`);
    if (seenListen.has(l.listenPort)) {
      problems.push(`--listener / ${Env.listeners}: listen port ${l.listenPort} is listed twice`);
    }
    if (seenApp.has(l.listenPort) || seenListen.has(l.appPort) || l.listenPort === l.appPort) {
      problems.push(
        `--listener / ${Env.listeners}: port ${l.listenPort === l.appPort ? l.appPort : `${l.appPort}/${l.listenPort}`} is both an app port and a listen port`,
      );
    }
    seenApp.set(l.appPort, l);
    seenListen.set(l.listenPort, l);
  }
  if (!cleanup && listeners.length === 0) {
    problems.push(
      `--listener / ${Env.listeners}: at least one listener is required (MODE:LISTEN_PORT:APP_PORT)`,
    );
  }

  const redirectFrom: Cidr[] = [];
  for (const item of splitList(v[Env.redirectFrom])) {
    const c = parseCidr(item);
    if (typeof c === 'string') problems.push(`--redirect-from / ${Env.redirectFrom}: ${c}`);
    else redirectFrom.push(c);
  }

  const backendText = v[InitEnv.iptablesBackend] ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(backendText)) {
    problems.push(
      `--iptables-backend / ${InitEnv.iptablesBackend}: "${backendText}" is not one of ${BACKENDS.join(', ')}`,
    );
  }
  const logLevel = v[Env.logLevel] ?? 'info';
  if (!isLogLevel(logLevel)) problems.push(`--log-level / ${Env.logLevel}: "${logLevel}" is not a log level`);

  if (problems.length > 0) throw new ConfigError(problems);
  return {
    help: false,
    config: Object.freeze({
      listeners: Object.freeze(listeners),
      redirectFrom: Object.freeze(redirectFrom),
      backend: backendText as BackendChoice,
      dryRun,
      cleanup,
      logLevel: logLevel as LogLevel,
    }),
  };
}

function splitList(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}
