import type { Family } from './spec.ts';

/** Configuration: every command's options (ConfigError). */
export const CONFIG_ERRORS = {
  CFG_INVALID: {
    exit: 2,
    meaning:
      'One or more options are invalid. The message lists every bad value and what was expected; the process exits before listening.',
    action: 'Fix the values named.',
  },
} as const satisfies Family<'CFG'>;
