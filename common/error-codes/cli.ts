import type { Family } from './spec.ts';

/** Command line: the `realip` dispatcher and the commands' own argument and run-time failures. */
export const CLI_ERRORS = {
  CLI_NO_COMMAND: {
    exit: 2,
    message: 'no command given',
    meaning: '`realip` without a command: the usage is printed.',
  },
  CLI_UNKNOWN_COMMAND: {
    exit: 2,
    meaning: 'No such command.',
  },
  CLI_BAD_ARGUMENT: {
    exit: 2,
    meaning: '`realip decode`: the argument is not an even number of hex digits, or there is more than one.',
  },
  CLI_INCOMPLETE_HEADER: {
    exit: 1,
    meaning: '`realip decode`: the bytes end before the PROXY header does.',
  },
  CLI_READ_FAILED: {
    exit: 1,
    meaning: '`realip inject`: the input file cannot be read.',
  },
  CLI_SIDECAR_NOT_READY: {
    exit: 1,
    meaning:
      "`realip sidecar-wait`: the sidecar's admin port did not answer `/readyz` with 200 within `--timeout-ms` (the kubelet then restarts the container).",
  },
  CLI_DEMO_TIMEOUT: {
    exit: 1,
    meaning: '`realip demo`: it did not finish within `--timeout-ms` (default 10000).',
  },
  CLI_DEMO_MISMATCH: {
    exit: 1,
    meaning:
      '`realip demo`: a row of the table did not show the real client (or the forged header reached the app).',
  },
  CLI_DEMO_FAILED: {
    exit: 1,
    meaning:
      '`realip demo`: a part could not start (the sidecar child exited, a port); the message says which.',
  },
  CLI_UNEXPECTED: {
    exit: 1,
    meaning:
      "An error without a code of ours (a bug, or a system error nothing expected); the message is the error's own. Please report it.",
  },
} as const satisfies Family<'CLI'>;
