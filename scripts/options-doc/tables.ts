/**
 * Which option tables the docs hold, and from which schema each comes. A table sits in its file
 * between `<!-- options:ID ... -->` and `<!-- /options:ID -->`; everything between is generated.
 */
import type { OptionSchema, OptionSpec } from '../../common/option-schema.ts';
import { SIDECAR_SCHEMA } from '../../sidecar/config-schema.ts';
import { INIT_SCHEMA } from '../../sidecar/steering/config.ts';
import { INJECTION_SCHEMA, WEBHOOK_SCHEMA } from '../../webhook/config-schema.ts';

export interface OptionTable {
  readonly id: string;
  /** Relative to the repository root. */
  readonly file: string;
  readonly specs: readonly OptionSpec[];
}

function pick<S extends OptionSchema>(schema: S, keys: readonly (keyof S)[]): OptionSpec[] {
  return keys.map((k) => schema[k] as OptionSpec);
}

/** The webhook's own options: its schema less the injection defaults it shares with inject. */
const serving = Object.entries(WEBHOOK_SCHEMA)
  .filter(([k]) => !(k in INJECTION_SCHEMA))
  .map(([, s]) => s as OptionSpec);

export const OPTION_TABLES: readonly OptionTable[] = [
  { id: 'webhook-serving', file: 'docs/webhook.md', specs: serving },
  { id: 'webhook-injection', file: 'docs/webhook.md', specs: Object.values(INJECTION_SCHEMA) },
  { id: 'init', file: 'docs/steering.md', specs: Object.values(INIT_SCHEMA) },
  {
    id: 'sidecar-limits',
    file: 'docs/sidecar.md',
    specs: pick(SIDECAR_SCHEMA, [
      'maxRequestHeadBytes',
      'headerTimeoutMs',
      'requestHeadTimeoutMs',
      'keepAliveTimeoutMs',
      'appTimeoutMs',
      'connectTimeoutMs',
      'idleTimeoutMs',
    ]),
  },
  { id: 'sidecar', file: 'docs/sidecar.md', specs: Object.values(SIDECAR_SCHEMA) },
];
