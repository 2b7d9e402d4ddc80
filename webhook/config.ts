/**
 * `realip webhook` and `realip inject` configuration: parsed once into a frozen object. Precedence:
 * flag > REALIP_* environment variable > config file (--config-file, YAML or JSON, keyed by flag
 * name) > default. Every problem is collected and reported at once (ConfigError).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CidrSet } from '../common/cidr.ts';
import {
  Defaults,
  Env,
  PROXY_MODES,
  SIDECAR_UID,
  type ProxyMode,
  STEERING_MODES,
  type SteeringMode,
} from '../common/contract.ts';
import { ConfigError } from '../common/errors.ts';
import { isLogLevel, type LogLevel } from '../common/logger.ts';
import { attempt, collectOptions, type OptionSpec, type RawOptions, reader } from '../common/option-schema.ts';
import {
  type InjectionDefaults,
  isQuantity,
  NATIVE_SIDECAR_MODES,
  type NativeSidecarMode,
  PULL_POLICIES,
  type PullPolicy,
  type SidecarResources,
} from './admission/decide.ts';
import { INJECT_CLI_OPTIONS, TLS_MODES, WEBHOOK_OPTIONS } from './config-schema.ts';

type EnvMap = Readonly<Record<string, string | undefined>>;

export {
  DEFAULT_SIDECAR_IMAGE,
  DEFAULT_SIDECAR_RESOURCES,
  INJECT_CLI_OPTIONS,
  INJECTION_OPTIONS,
  TLS_MODES,
  type TlsMode,
  WEBHOOK_OPTIONS,
} from './config-schema.ts';

export type InjectionSettings = Omit<InjectionDefaults, 'nativeSidecar'> & {
  readonly nativeSidecar: NativeSidecarMode;
};

export type TlsConfig =
  | {
      readonly mode: 'files';
      readonly certFile: string;
      readonly keyFile: string;
      readonly pollIntervalMs: number;
    }
  | {
      readonly mode: 'self-managed';
      readonly secretName: string;
      readonly namespace: string;
      readonly serviceName: string;
      readonly webhookConfigName: string;
      readonly extraSans: readonly string[];
    };

export interface WebhookConfig {
  readonly port: number;
  readonly host: string;
  readonly metricsPort: number;
  readonly shutdownDelayMs: number;
  readonly tls: TlsConfig;
  readonly logLevel: LogLevel;
  readonly injection: InjectionSettings;
}

/** What the API server supports, read once at start (see kube.ts). */
export interface ServerSupport {
  /** Native sidecars (restartable init containers): 1.29+. */
  readonly nativeSidecar: boolean;
  /** Services resolve named ports of native sidecars: 1.32+. */
  readonly nativeSidecarNamedPorts: boolean;
}

export function resolveDefaults(settings: InjectionSettings, server: ServerSupport): InjectionDefaults {
  const mode = settings.nativeSidecar;
  const nativeSidecar = mode === 'auto' ? server.nativeSidecar : mode === 'on';
  // `on` is the operator's word for the whole cluster; `auto` follows what the server can do.
  const nativeSidecarNamedPorts = mode === 'auto' ? server.nativeSidecarNamedPorts : mode === 'on';
  return Object.freeze({ ...settings, nativeSidecar, nativeSidecarNamedPorts });
}

/** Raw options with the config file's values slotted in under the environment. */
function collectWithFile(
  argv: readonly string[],
  env: EnvMap,
  specs: readonly OptionSpec[],
  readFile: (path: string) => string,
): RawOptions {
  const first = collectOptions(
    argv,
    env,
    specs.map(({ default: _d, ...s }) => s),
  );
  const path = first.values.REALIP_CONFIG_FILE;
  if (path === undefined || first.help) return collectOptions(argv, env, specs);
  const problems: string[] = [];
  const fromFile: Record<string, string> = {};
  try {
    const doc: unknown = parseYaml(readFile(path));
    if (doc !== null && doc !== undefined) {
      if (typeof doc !== 'object' || Array.isArray(doc))
        throw new Error('expected a mapping of option names');
      for (const [key, value] of Object.entries(doc)) {
        const spec = specs.find((s) => s.flag === key);
        if (!spec || spec.flag === 'config-file') {
          problems.push(`--config-file ${path}: unknown key "${key}"`);
          continue;
        }
        if (Array.isArray(value)) fromFile[spec.env] = value.map(String).join(',');
        else if (value === null || typeof value === 'object') {
          problems.push(`--config-file ${path}: key "${key}": expected a string, number or list`);
        } else fromFile[spec.env] = String(value);
      }
    }
  } catch (err: unknown) {
    problems.push(`--config-file ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  const raw = collectOptions(argv, merged, specs);
  return { ...raw, problems: [...problems, ...raw.problems] };
}

function parseInjection(
  raw: RawOptions,
  specs: readonly OptionSpec[],
  problems: string[],
): InjectionSettings {
  const e = reader(raw);
  const v = raw.values;
  const oneOf = <T extends string>(env: string, allowed: readonly T[], fallback: T): T =>
    attempt(
      problems,
      fallback,
      () =>
        e
          .get(env)
          .required()
          .asEnum([...allowed]) as T,
      specs,
      v,
    );
  const cidrs = (env: string, flag: string): readonly string[] => {
    const items = (v[env] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const p of CidrSet.parse(items).problems) problems.push(`--${flag} / ${env}: ${p}`);
    return Object.freeze(items);
  };
  const quantity = (env: string, flag: string): string | undefined => {
    const q = v[env];
    if (q === undefined || q === 'none') return undefined;
    if (!isQuantity(q))
      problems.push(`--${flag} / ${env} = "${q}": expected a quantity such as 100m, 64Mi or "none"`);
    return q;
  };
  const image = v.REALIP_SIDECAR_IMAGE ?? '';
  if (image.trim() === '') problems.push('--sidecar-image / REALIP_SIDECAR_IMAGE: must not be empty');
  const pull = v.REALIP_SIDECAR_IMAGE_PULL_POLICY;
  const imagePullPolicy =
    pull === undefined
      ? undefined
      : oneOf<PullPolicy>('REALIP_SIDECAR_IMAGE_PULL_POLICY', PULL_POLICIES, 'IfNotPresent');
  const resources: Record<string, string> = {};
  const r = {
    cpuRequest: quantity('REALIP_SIDECAR_CPU_REQUEST', 'sidecar-cpu-request'),
    memoryRequest: quantity('REALIP_SIDECAR_MEMORY_REQUEST', 'sidecar-memory-request'),
    cpuLimit: quantity('REALIP_SIDECAR_CPU_LIMIT', 'sidecar-cpu-limit'),
    memoryLimit: quantity('REALIP_SIDECAR_MEMORY_LIMIT', 'sidecar-memory-limit'),
  };
  for (const [k, q] of Object.entries(r)) if (q !== undefined) resources[k] = q;
  const port = (env: string, fallback: number): number =>
    attempt(problems, fallback, () => e.get(env).required().asPortNumber(), specs, v);
  const listenerPortBase = port('REALIP_LISTENER_PORT_BASE', Defaults.sidecarPortBase);
  const adminPort = port('REALIP_SIDECAR_ADMIN_PORT', Defaults.adminPort);
  const sidecarUid = attempt(
    problems,
    SIDECAR_UID,
    () => e.get('REALIP_SIDECAR_UID').required().asIntPositive(),
    specs,
    v,
  );
  if (sidecarUid === 0)
    problems.push('--sidecar-uid / REALIP_SIDECAR_UID: must not be 0 (the sidecar runs as non-root)');
  return Object.freeze({
    image,
    ...(imagePullPolicy !== undefined ? { imagePullPolicy } : {}),
    trustedCidrs: cidrs(Env.trustedCidrs, 'trusted-cidrs'),
    proxy: oneOf<ProxyMode>(Env.proxy, PROXY_MODES, Defaults.proxy),
    steering: oneOf<SteeringMode>('REALIP_STEERING', STEERING_MODES, 'redirect'),
    redirectFrom: cidrs(Env.redirectFrom, 'redirect-from'),
    nativeSidecar: oneOf<NativeSidecarMode>('REALIP_NATIVE_SIDECAR', NATIVE_SIDECAR_MODES, 'auto'),
    resources: Object.freeze(resources) as SidecarResources,
    listenerPortBase,
    adminPort,
    sidecarUid,
  });
}

export interface Parsed<T> {
  readonly help: boolean;
  readonly config: T;
  readonly positionals: readonly string[];
}

export function parseWebhookConfig(
  argv: readonly string[],
  env: EnvMap,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Parsed<WebhookConfig> {
  const specs = WEBHOOK_OPTIONS;
  const raw = collectWithFile(argv, env, specs, readFile);
  const problems = [...raw.problems];
  const e = reader(raw);
  const v = raw.values;
  for (const p of raw.positionals) problems.push(`unexpected argument "${p}"`);
  const port = attempt(
    problems,
    8443,
    () => e.get('REALIP_WEBHOOK_PORT').required().asPortNumber(),
    specs,
    v,
  );
  const metricsPort = attempt(
    problems,
    9090,
    () => e.get('REALIP_METRICS_PORT').required().asPortNumber(),
    specs,
    v,
  );
  const shutdownDelayMs = attempt(
    problems,
    0,
    () => e.get('REALIP_SHUTDOWN_DELAY_MS').required().asIntPositive(),
    specs,
    v,
  );
  if (port === metricsPort) problems.push(`--port and --metrics-port must differ (both ${port})`);
  const logLevel = v[Env.logLevel] ?? 'info';
  if (!isLogLevel(logLevel))
    problems.push(
      `--log-level / ${Env.logLevel} = "${logLevel}": expected one of fatal, error, warn, info, debug, trace, silent`,
    );

  const certFile = v.REALIP_TLS_CERT_FILE;
  const keyFile = v.REALIP_TLS_KEY_FILE;
  const modeText =
    v.REALIP_TLS_MODE ?? (certFile !== undefined || keyFile !== undefined ? 'files' : undefined);
  let tls: TlsConfig = { mode: 'files', certFile: '', keyFile: '', pollIntervalMs: 5000 };
  if (modeText === undefined) {
    problems.push('TLS: give --tls-cert-file and --tls-key-file, or --tls-mode self-managed');
  } else if (modeText === 'files') {
    if (certFile === undefined)
      problems.push('--tls-cert-file / REALIP_TLS_CERT_FILE: required in files mode');
    if (keyFile === undefined) problems.push('--tls-key-file / REALIP_TLS_KEY_FILE: required in files mode');
    const pollIntervalMs = attempt(
      problems,
      5000,
      () => e.get('REALIP_TLS_POLL_INTERVAL_MS').required().asIntPositive(),
      specs,
      v,
    );
    tls = { mode: 'files', certFile: certFile ?? '', keyFile: keyFile ?? '', pollIntervalMs };
  } else if (modeText === 'self-managed') {
    const need = (env: string, flag: string): string => {
      const x = v[env];
      if (x === undefined) problems.push(`--${flag} / ${env}: required in self-managed TLS mode`);
      return x ?? '';
    };
    tls = {
      mode: 'self-managed',
      secretName: need('REALIP_TLS_SECRET_NAME', 'tls-secret-name'),
      namespace: need('REALIP_WEBHOOK_NAMESPACE', 'namespace'),
      serviceName: need('REALIP_WEBHOOK_SERVICE_NAME', 'service-name'),
      webhookConfigName: need('REALIP_WEBHOOK_CONFIG_NAME', 'webhook-config-name'),
      extraSans: Object.freeze(
        (v.REALIP_TLS_EXTRA_SANS ?? '')
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      ),
    };
  } else {
    problems.push(`--tls-mode / REALIP_TLS_MODE = "${modeText}": expected one of ${TLS_MODES.join(', ')}`);
  }
  const injection = parseInjection(raw, specs, problems);
  if (problems.length > 0 && !raw.help) throw new ConfigError(problems);
  return {
    help: raw.help,
    positionals: raw.positionals,
    config: Object.freeze({
      port,
      host: v.REALIP_WEBHOOK_HOST ?? '0.0.0.0',
      metricsPort,
      shutdownDelayMs,
      tls: Object.freeze(tls),
      logLevel: (isLogLevel(logLevel) ? logLevel : 'info') as LogLevel,
      injection,
    }),
  };
}

export interface InjectCliConfig {
  readonly file: string;
  readonly injection: InjectionSettings;
}

export function parseInjectConfig(
  argv: readonly string[],
  env: EnvMap,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): Parsed<InjectCliConfig> {
  const specs = INJECT_CLI_OPTIONS;
  const raw = collectWithFile(argv, env, specs, readFile);
  const problems = [...raw.problems];
  const file = raw.values.REALIP_INJECT_FILE ?? raw.positionals[0];
  if (file === undefined) problems.push('-f / --filename: required (a file, or "-" for stdin)');
  const extra = raw.values.REALIP_INJECT_FILE !== undefined ? raw.positionals : raw.positionals.slice(1);
  for (const p of extra) problems.push(`unexpected argument "${p}"`);
  const injection = parseInjection(raw, specs, problems);
  if (problems.length > 0 && !raw.help) throw new ConfigError(problems);
  return {
    help: raw.help,
    positionals: raw.positionals,
    config: Object.freeze({ file: file ?? '-', injection }),
  };
}
