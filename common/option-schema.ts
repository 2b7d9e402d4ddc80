/**
 * The option schema every command declares once: flag, REALIP_* variable, kind, default, bounds,
 * help. From it come the parser (a flag wins over its variable; both land in one record keyed by
 * the variable), the typed reads (env-var accessors over that record, so a flag and its variable
 * are validated by the same code), `--help`, and the option tables in docs/ (scripts/options-doc.ts).
 * Problems are collected, never thrown one by one: the user sees every bad value at once.
 */
import envVar, { type EnvVarError } from 'env-var';

/**
 * string: free text (or a syntax the command parses itself); list: comma-separated, repeatable
 * flags joined with commas; int: a non-negative integer, within min..max when given; port: 0-65535;
 * enum: one of values; flag: a boolean flag without a value ("--dry-run"); url: an absolute URL.
 */
export type OptionKind = 'string' | 'list' | 'int' | 'port' | 'enum' | 'flag' | 'url';

export interface OptionSpec {
  /** Long flag without dashes, e.g. "admin-port". */
  readonly flag: string;
  /** Environment variable, e.g. "REALIP_ADMIN_PORT". */
  readonly env: string;
  readonly kind: OptionKind;
  readonly help: string;
  /** The one place a default is written; reads fall back to it when a value is bad. */
  readonly default?: string | number;
  /** int: inclusive bounds (checked only when given). */
  readonly min?: number;
  readonly max?: number;
  /** enum: the allowed values. */
  readonly values?: readonly string[];
  /** Repeatable flags are joined with commas, as their environment variable is written. */
  readonly repeatable?: boolean;
  /** A single-letter alias, e.g. "f". */
  readonly short?: string;
  /** The docs table's text when it says more than `help` (links, reasons); `help` otherwise. */
  readonly doc?: string;
  /** How the docs table states the default when the value alone does not say it. */
  readonly docDefault?: string;
}

/** A command's options by name; declaration order is the order of --help and the docs table. */
export type OptionSchema = Readonly<Record<string, OptionSpec>>;

export function optionList(schema: OptionSchema): readonly OptionSpec[] {
  return Object.values(schema);
}

export interface RawOptions {
  readonly values: Readonly<Record<string, string>>;
  readonly positionals: readonly string[];
  readonly help: boolean;
  readonly problems: string[];
}

export function collectOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  specs: readonly OptionSpec[],
): RawOptions {
  const values: Record<string, string> = {};
  const fromFlags: Record<string, string[]> = {};
  const problems: string[] = [];
  const positionals: string[] = [];
  let help = false;
  for (const spec of specs) {
    const v = env[spec.env];
    if (v !== undefined && v !== '') values[spec.env] = v;
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else if (/^-[a-zA-Z]$/.test(arg)) {
      const short = arg.slice(1);
      name = specs.find((s) => s.short === short)?.flag ?? short;
    } else {
      positionals.push(arg);
      continue;
    }
    const spec = specs.find((s) => s.flag === name);
    if (!spec) {
      problems.push(`unknown option "${arg}"`);
      continue;
    }
    let value: string;
    if (spec.kind === 'flag') {
      value = inline ?? 'true';
    } else if (inline !== undefined) {
      value = inline;
    } else {
      const next = argv[i + 1];
      if (next === undefined) {
        problems.push(`option --${spec.flag} needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    (fromFlags[spec.env] ??= []).push(value);
  }
  for (const spec of specs) {
    const flagged = fromFlags[spec.env];
    if (flagged) {
      if (!spec.repeatable && flagged.length > 1) {
        problems.push(`option --${spec.flag} given ${flagged.length} times (it takes one value)`);
      }
      values[spec.env] = spec.repeatable ? flagged.join(',') : flagged[flagged.length - 1]!;
    } else if (values[spec.env] === undefined && spec.default !== undefined) {
      values[spec.env] = String(spec.default);
    }
  }
  return { values, positionals, help, problems };
}

/** `--help` or `-h` before a `--`: help is answered first, whatever else is wrong. */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** How an option is named in a problem: `--flag / VARIABLE`. */
export function optionLabel(spec: OptionSpec): string {
  return `--${spec.flag} / ${spec.env}`;
}

/** Accessors of ours, installed with env-var's `from(values, extraAccessors)`. */
const ACCESSORS = {
  /** env-var's asIntPositive, then a range: its error names the variable like every accessor's. */
  asIntBetween(value: string, min: number, max: number): number {
    const v = envVar.accessors.asIntPositive(value);
    if (v < min || v > max) throw new Error(`should be between ${min} and ${max}, got ${v}`);
    return v;
  },
};

function envOver(values: Readonly<Record<string, string>>) {
  return envVar.from(values, ACCESSORS);
}
/** A variable that must be there (the merged record always holds a value or the default). */
type Present = ReturnType<ReturnType<ReturnType<typeof envOver>['get']>['required']>;

// env-var's typings declare its EnvVarError property as an instance, not the class; the class is
// what is there at run time.
const EnvVarErrorClass = envVar.EnvVarError as unknown as typeof EnvVarError;

/**
 * Typed reads of the merged values, one accessor per kind. A bad value records one problem,
 * `--flag / VARIABLE = "value": what env-var expected`, and yields the option's default so the
 * parse goes on and reports everything.
 */
export class OptionReader {
  readonly #values: Readonly<Record<string, string>>;
  readonly #problems: string[];
  readonly #env: ReturnType<typeof envOver>;

  constructor(raw: RawOptions, problems: string[]) {
    this.#values = raw.values;
    this.#problems = problems;
    this.#env = envOver(raw.values);
  }

  /** The raw text (after flag > variable > default), for syntaxes the command parses itself. */
  text(spec: OptionSpec): string | undefined {
    return this.#values[spec.env];
  }

  /** A comma-separated value, trimmed, empty items dropped. */
  list(spec: OptionSpec): string[] {
    return (this.#values[spec.env] ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  }

  /** Records a problem the command found in the value of an option. */
  problem(spec: OptionSpec, detail: string): void {
    this.#problems.push(`${optionLabel(spec)}: ${detail}`);
  }

  int(spec: OptionSpec): number {
    const { min, max } = spec;
    return this.#read(spec, Number(spec.default), (v) =>
      min !== undefined && max !== undefined ? v.asIntBetween(min, max) : v.asIntPositive(),
    );
  }

  port(spec: OptionSpec): number {
    return this.#read(spec, Number(spec.default), (v) => v.asPortNumber());
  }

  enum<T extends string>(spec: OptionSpec & { readonly values: readonly T[] }): T {
    return this.#read(spec, spec.default as T, (v) => v.asEnum([...spec.values]));
  }

  /** A boolean flag: true/1 or false/0 (any case); absent is false. */
  flag(spec: OptionSpec): boolean {
    const given = this.#values[spec.env];
    const text = (given ?? 'false').toLowerCase();
    if (text === 'true' || text === '1') return true;
    if (text !== 'false' && text !== '0' && text !== '')
      this.problem(spec, `must be true or false, got "${given}"`);
    return false;
  }

  url(spec: OptionSpec): string | undefined {
    try {
      return this.#env.get(spec.env).asUrlString();
    } catch (err: unknown) {
      this.#report(spec, err);
      return undefined;
    }
  }

  #read<T>(spec: OptionSpec, fallback: T, accessor: (v: Present) => T): T {
    try {
      return accessor(this.#env.get(spec.env).required());
    } catch (err: unknown) {
      this.#report(spec, err);
      return fallback;
    }
  }

  /** env-var's message is `env-var: "VARIABLE" detail`: the label names the flag and the value instead. */
  #report(spec: OptionSpec, err: unknown): void {
    if (!(err instanceof EnvVarErrorClass)) throw err;
    const prefix = `env-var: "${spec.env}" `;
    const detail = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
    const value = this.#values[spec.env];
    this.#problems.push(`${optionLabel(spec)}${value !== undefined ? ` = "${value}"` : ''}: ${detail}`);
  }
}

export function renderHelp(usage: string, summary: string, specs: readonly OptionSpec[]): string {
  const lines = [
    `Usage: ${usage}`,
    '',
    summary,
    '',
    'Options (each also read from the environment variable shown):',
  ];
  for (const s of specs) {
    const flag = `${s.short ? `-${s.short}, ` : ''}--${s.flag}${s.kind === 'flag' ? '' : ' VALUE'}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    lines.push(`  ${flag.padEnd(34)} [${s.env}] ${s.help}${def}${s.repeatable ? ' (repeatable)' : ''}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(34)} show this help`);
  return lines.join('\n');
}
