import type { Family } from './spec.ts';

/** Development scripts (`npm run docs:*`). */
export const SCRIPT_ERRORS = {
  DOCS_CHART_UNDOCUMENTED: {
    exit: 1,
    meaning:
      '`npm run docs:chart`: a value in charts/realip/values.yaml has no `# --` comment (nor a documented parent); the message lists each.',
    action: 'Document it with a `# --` comment directly above the key.',
  },
  DOCS_CHART_STALE: {
    exit: 1,
    meaning:
      '`npm run docs:chart -- --check`: charts/realip/README.md differs from what values.yaml and Chart.yaml generate.',
    action: '`npm run docs:chart` and commit the README.',
  },
  DOCS_CHART_INVALID: {
    exit: 1,
    meaning:
      '`npm run docs:chart`: values.yaml or Chart.yaml cannot be read as expected (the message says what), or a bad option.',
    action: 'Fix the file or the option named.',
  },
  DOCS_OPTIONS_STALE: {
    exit: 1,
    meaning:
      '`npm run docs:options -- --check`: an option table in docs/ differs from what the option schemas generate.',
    action: '`npm run docs:options` and commit the docs.',
  },
  DOCS_OPTIONS_INVALID: {
    exit: 1,
    meaning:
      '`npm run docs:options`: a file lacks the `<!-- options:ID ... -->` / `<!-- /options:ID -->` markers of a table it should hold.',
    action: 'Put the markers back where the table belongs.',
  },
  DOCS_ERRORS_STALE: {
    exit: 1,
    meaning:
      '`npm run docs:errors -- --check`: the tables of docs/errors.md differ from what the error registry (common/error-codes/) generates.',
    action: '`npm run docs:errors` and commit the doc.',
  },
} as const satisfies Family<'DOCS'>;
