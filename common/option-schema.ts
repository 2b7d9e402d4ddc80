/**
 * Command-line options that mirror REALIP_* environment variables. A flag wins over its variable.
 * Values are merged into one record keyed by the variable name and then coerced with env-var, so
 * a flag and its variable are validated by exactly the same code. Problems are collected, never
 * thrown one by one: the user sees every bad value at once.
 */
import envVar from 'env-var';

export interface OptionSpec {
  /** Long flag without dashes, e.g. "admin-port". */
  readonly flag: string;
  /** Environment variable, e.g. "REALIP_ADMIN_PORT". */
  readonly env: string;
  readonly help: string;
  /** Repeatable flags are joined with commas, as their environment variable is written. */
  readonly repeatable?: boolean;
  /** A flag without a value ("--dry-run"). */
  readonly boolean?: boolean;
  readonly default?: string;
  /** A single-letter alias, e.g. "f". */
  readonly short?: string;
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
    if (spec.boolean) {
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
      values[spec.env] = spec.default;
    }
  }
  return { values, positionals, help, problems };
}

/** env-var reader over the merged values. */
export function reader(raw: RawOptions) {
  return envVar.from(raw.values);
}

/**
 * Runs one coercion; on failure records the message (which names the variable and what was
 * expected) and returns the fallback so parsing can go on and report every problem.
 */
export function attempt<T>(
  problems: string[],
  fallback: T,
  fn: () => T,
  specs?: readonly OptionSpec[],
  values?: Readonly<Record<string, string>>,
): T {
  try {
    return fn();
  } catch (err: unknown) {
    const message = err instanceof Error ? err.message : String(err);
    problems.push(withFlag(message, specs, values));
    return fallback;
  }
}

/** Rewrites env-var's message to name the flag, the variable and the bad value. */
function withFlag(
  message: string,
  specs?: readonly OptionSpec[],
  values?: Readonly<Record<string, string>>,
): string {
  const bare = message.replace(/^env-var: /, '');
  for (const s of specs ?? []) {
    const quoted = `"${s.env}"`;
    if (!bare.includes(quoted)) continue;
    const value = values?.[s.env];
    const rest = bare.replace(quoted, '').trim();
    return `--${s.flag} / ${s.env}${value !== undefined ? ` = "${value}"` : ''}: ${rest}`;
  }
  return bare;
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
    const flag = `${s.short ? `-${s.short}, ` : ''}--${s.flag}${s.boolean ? '' : ' VALUE'}`;
    const def = s.default !== undefined ? ` (default: ${s.default})` : '';
    lines.push(`  ${flag.padEnd(34)} [${s.env}] ${s.help}${def}${s.repeatable ? ' (repeatable)' : ''}`);
  }
  lines.push(`  ${'-h, --help'.padEnd(34)} show this help`);
  return lines.join('\n');
}
