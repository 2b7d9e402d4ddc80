/**
 * `realip webhook` and `realip inject` configuration: parsed once into a frozen object. Precedence:
 * flag > REALIP_* environment variable > config file (--config-file, YAML or JSON, keyed by flag
 * name) > default. Every problem is collected and reported at once (ConfigError).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { CidrSet } from '../common/cidr.ts';
import { ConfigError } from '../common/errors.ts';
import type { LogLevel } from '../common/logger.ts';
import {
  collectOptions,
  OptionReader,
  type OptionSpec,
  optionLabel,
  type RawOptions,
} from '../common/option-schema.ts';
import {
  type InjectionDefaults,
  isQuantity,
  type NativeSidecarMode,
  type PullPolicy,
  type SidecarResources,
} from './admission/decide.ts';
import {
  INJECT_CLI_OPTIONS,
  INJECTION_SCHEMA,
  TLS_MODES,
  WEBHOOK_OPTIONS,
  WEBHOOK_SCHEMA,
} from './config-schema.ts';

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

function parseInjection(raw: RawOptions, problems: string[]): InjectionSettings {
  const read = new OptionReader(raw, problems);
  const o = INJECTION_SCHEMA;
  const cidrs = (spec: OptionSpec): readonly string[] => {
    const items = read.list(spec);
    for (const p of CidrSet.parse(items).problems) read.problem(spec, p);
    return Object.freeze(items);
  };
  const quantity = (spec: OptionSpec): string | undefined => {
    const q = read.text(spec);
    if (q === undefined || q === 'none') return undefined;
    if (!isQuantity(q))
      problems.push(`${optionLabel(spec)} = "${q}": expected a quantity such as 100m, 64Mi or "none"`);
    return q;
  };
  const image = read.text(o.sidecarImage) ?? '';
  if (image.trim() === '') read.problem(o.sidecarImage, 'must not be empty');
  const imagePullPolicy: PullPolicy | undefined =
    read.text(o.sidecarImagePullPolicy) === undefined ? undefined : read.enum(o.sidecarImagePullPolicy);
  const resources: Record<string, string> = {};
  const r = {
    cpuRequest: quantity(o.sidecarCpuRequest),
    memoryRequest: quantity(o.sidecarMemoryRequest),
    cpuLimit: quantity(o.sidecarCpuLimit),
    memoryLimit: quantity(o.sidecarMemoryLimit),
  };
  for (const [k, q] of Object.entries(r)) if (q !== undefined) resources[k] = q;
  const listenerPortBase = read.port(o.listenerPortBase);
  const adminPort = read.port(o.sidecarAdminPort);
  const sidecarUid = read.int(o.sidecarUid);
  if (sidecarUid === 0) read.problem(o.sidecarUid, 'must not be 0 (the sidecar runs as non-root)');
  return Object.freeze({
    image,
    ...(imagePullPolicy !== undefined ? { imagePullPolicy } : {}),
    trustedCidrs: cidrs(o.trustedCidrs),
    proxy: read.enum(o.proxy),
    steering: read.enum(o.steering),
    redirectFrom: cidrs(o.redirectFrom),
    nativeSidecar: read.enum(o.nativeSidecar),
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
  const raw = collectWithFile(argv, env, WEBHOOK_OPTIONS, readFile);
  const problems = [...raw.problems];
  const read = new OptionReader(raw, problems);
  const o = WEBHOOK_SCHEMA;
  for (const p of raw.positionals) problems.push(`unexpected argument "${p}"`);
  const port = read.port(o.port);
  const metricsPort = read.port(o.metricsPort);
  const shutdownDelayMs = read.int(o.shutdownDelayMs);
  if (port === metricsPort) problems.push(`--port and --metrics-port must differ (both ${port})`);
  const logLevel: LogLevel = read.enum(o.logLevel);

  const certFile = read.text(o.tlsCertFile);
  const keyFile = read.text(o.tlsKeyFile);
  const modeText =
    read.text(o.tlsMode) ?? (certFile !== undefined || keyFile !== undefined ? 'files' : undefined);
  let tls: TlsConfig = {
    mode: 'files',
    certFile: '',
    keyFile: '',
    pollIntervalMs: o.tlsPollIntervalMs.default,
  };
  if (modeText === undefined) {
    problems.push('TLS: give --tls-cert-file and --tls-key-file, or --tls-mode self-managed');
  } else if (modeText === 'files') {
    if (certFile === undefined) read.problem(o.tlsCertFile, 'required in files mode');
    if (keyFile === undefined) read.problem(o.tlsKeyFile, 'required in files mode');
    const pollIntervalMs = read.int(o.tlsPollIntervalMs);
    tls = { mode: 'files', certFile: certFile ?? '', keyFile: keyFile ?? '', pollIntervalMs };
  } else if (modeText === 'self-managed') {
    const need = (spec: OptionSpec): string => {
      const x = read.text(spec);
      if (x === undefined) read.problem(spec, 'required in self-managed TLS mode');
      return x ?? '';
    };
    tls = {
      mode: 'self-managed',
      secretName: need(o.tlsSecretName),
      namespace: need(o.namespace),
      serviceName: need(o.serviceName),
      webhookConfigName: need(o.webhookConfigName),
      extraSans: Object.freeze(read.list(o.tlsExtraSans)),
    };
  } else {
    // Not env-var's asEnum: files is also chosen by giving the files, so the text says which exist.
    problems.push(`${optionLabel(o.tlsMode)} = "${modeText}": expected one of ${TLS_MODES.join(', ')}`);
  }
  const injection = parseInjection(raw, problems);
  if (problems.length > 0 && !raw.help) throw new ConfigError(problems);
  return {
    help: raw.help,
    positionals: raw.positionals,
    config: Object.freeze({
      port,
      host: read.text(o.host) ?? o.host.default,
      metricsPort,
      shutdownDelayMs,
      tls: Object.freeze(tls),
      logLevel,
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
  const raw = collectWithFile(argv, env, INJECT_CLI_OPTIONS, readFile);
  const problems = [...raw.problems];
  const file = raw.values.REALIP_INJECT_FILE ?? raw.positionals[0];
  if (file === undefined) problems.push('-f / --filename: required (a file, or "-" for stdin)');
  const extra = raw.values.REALIP_INJECT_FILE !== undefined ? raw.positionals : raw.positionals.slice(1);
  for (const p of extra) problems.push(`unexpected argument "${p}"`);
  const injection = parseInjection(raw, problems);
  if (problems.length > 0 && !raw.help) throw new ConfigError(problems);
  return {
    help: raw.help,
    positionals: raw.positionals,
    config: Object.freeze({ file: file ?? '-', injection }),
  };
}
