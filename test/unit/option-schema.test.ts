// The option schema's reads (env-var accessors, its errors reported by option) and the one command
// runner (help first, CFG_INVALID exit 2, a failure in run exit 1).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Command, type Io, runCommand } from '../../common/command.ts';
import { ConfigError } from '../../common/errors.ts';
import {
  collectOptions,
  OptionReader,
  type OptionSchema,
  optionList,
  wantsHelp,
} from '../../common/option-schema.ts';

const SCHEMA = {
  timeout: { flag: 'timeout', env: 'REALIP_T', kind: 'int', default: 5000, min: 1, max: 9000, help: 'ms' },
  port: { flag: 'port', env: 'REALIP_P', kind: 'port', default: 8443, help: 'port' },
  mode: { flag: 'mode', env: 'REALIP_M', kind: 'enum', values: ['a', 'b'], default: 'a', help: 'a | b' },
  dry: { flag: 'dry-run', env: 'REALIP_D', kind: 'flag', help: 'nothing' },
} as const satisfies OptionSchema;

function read(argv: string[], env: Record<string, string> = {}) {
  const raw = collectOptions(argv, env, optionList(SCHEMA));
  const problems = [...raw.problems];
  const r = new OptionReader(raw, problems);
  const values = {
    timeout: r.int(SCHEMA.timeout),
    port: r.port(SCHEMA.port),
    mode: r.enum(SCHEMA.mode),
    dry: r.flag(SCHEMA.dry),
  };
  return { values, problems };
}

describe('OptionReader', () => {
  test('defaults come from the schema; a flag wins over its variable', () => {
    assert.deepEqual(read([]).values, { timeout: 5000, port: 8443, mode: 'a', dry: false });
    assert.deepEqual(read(['--timeout', '7', '--dry-run'], { REALIP_T: '8', REALIP_M: 'b' }).values, {
      timeout: 7,
      port: 8443,
      mode: 'b',
      dry: true,
    });
  });

  test("env-var's errors name the flag, the variable and the value; bad values fall back to the default", () => {
    const { values, problems } = read([
      '--timeout',
      '0',
      '--port',
      '70000',
      '--mode',
      'c',
      '--dry-run=maybe',
    ]);
    assert.deepEqual(values, { timeout: 5000, port: 8443, mode: 'a', dry: false });
    assert.deepEqual(problems, [
      '--timeout / REALIP_T = "0": should be between 1 and 9000, got 0',
      '--port / REALIP_P = "70000": cannot assign a port number greater than 65535',
      '--mode / REALIP_M = "c": should be one of [a, b]',
      '--dry-run / REALIP_D: must be true or false, got "maybe"',
    ]);
    assert.deepEqual(read([], { REALIP_T: 'abc' }).problems, [
      '--timeout / REALIP_T = "abc": should be a valid integer',
    ]);
  });

  test('--help before -- asks for help, after it is an argument', () => {
    assert.equal(wantsHelp(['--bad', '-h']), true);
    assert.equal(wantsHelp(['--', '--help']), false);
  });
});

describe('runCommand', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    const sink: Io = { stdout: (s) => (out.stdout += s), stderr: (s) => (out.stderr += s) };
    return { out, sink };
  };
  const command = (run: () => Promise<number>): Command<number> => ({
    name: 'x',
    help: 'Usage: realip x',
    parse: (argv) => {
      if (argv.includes('--bad')) throw new ConfigError(['unknown option "--bad"']);
      return 1;
    },
    run,
  });

  test('help first, even with a bad option', async () => {
    const { out, sink } = io();
    assert.equal(
      await runCommand(
        command(async () => 0),
        ['--bad', '--help'],
        {},
        sink,
      ),
      0,
    );
    assert.equal(out.stdout, 'Usage: realip x\n');
  });

  test('a bad option is CFG_INVALID, exit 2, nothing run', async () => {
    const { out, sink } = io();
    let ran = false;
    const code = await runCommand(
      command(async () => {
        ran = true;
        return 0;
      }),
      ['--bad'],
      {},
      sink,
    );
    assert.equal(code, 2);
    assert.equal(ran, false);
    assert.equal(out.stderr, 'realip x: CFG_INVALID: invalid configuration:\n  - unknown option "--bad"\n');
  });

  test('a failure that escapes run is reported with its code, exit 1', async () => {
    const { out, sink } = io();
    const code = await runCommand(
      command(async () => {
        throw new Error('boom');
      }),
      [],
      {},
      sink,
    );
    assert.equal(code, 1);
    assert.equal(out.stderr, 'realip x: CLI_UNEXPECTED: boom\n');
  });
});
