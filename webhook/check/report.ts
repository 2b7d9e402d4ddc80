/** The report of `realip check`: one line per check, then the verdict. */
import { codeText } from '../../common/errors.ts';
import type { CheckResult, Status } from './checks.ts';

const MARK: Record<Status, string> = {
  pass: '[ok]  ',
  fail: '[FAIL]',
  warn: '[warn]',
  skip: '[skip]',
  info: '[info]',
};

export function formatResults(results: readonly CheckResult[]): string {
  // `CODE: message` after the title, as every command reports a failure (issue 15).
  const lines = results.map(
    (r) => `${MARK[r.status]} ${r.title}: ${r.code !== undefined ? `${r.code}: ` : ''}${r.detail}`,
  );
  const failed = results.filter((r) => r.status === 'fail').length;
  lines.push(
    '',
    failed === 0
      ? 'realip check: all checks passed'
      : `realip check: ${codeText(
          'CHK_FAILED',
          `${failed} check(s) failed (${[
            ...new Set(results.filter((r) => r.status === 'fail').map((r) => r.code)),
          ].join(', ')})`,
        )}`,
  );
  return lines.join('\n');
}
