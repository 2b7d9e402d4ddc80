/** `realip decode HEX`: decode a PROXY header given as hex and print it as JSON (debugging aid). */
import { exitStatus } from '../../common/error-codes/registry.ts';
import { codeLine } from '../../common/errors.ts';
import { decode } from './decode.ts';
import { namedTlvs } from './tlv.ts';

export async function run(argv: readonly string[]): Promise<number> {
  const hex = argv[0];
  if (hex === undefined || hex === '--help' || hex === '-h') {
    process.stdout.write(
      'Usage: realip decode HEX\n\nDecodes a PROXY protocol v1/v2 header given as hex and prints it as JSON.\n',
    );
    return hex === undefined ? 2 : 0;
  }
  if (argv.length > 1) {
    process.stderr.write(codeLine('decode', 'CLI_BAD_ARGUMENT', `unexpected argument "${argv[1]}"`));
    return exitStatus('CLI_BAD_ARGUMENT');
  }
  if (!/^([0-9a-fA-F]{2})+$/.test(hex)) {
    process.stderr.write(
      codeLine('decode', 'CLI_BAD_ARGUMENT', 'argument must be an even number of hex digits'),
    );
    return exitStatus('CLI_BAD_ARGUMENT');
  }
  const r = decode(Buffer.from(hex, 'hex'));
  if (r.kind === 'need-more') {
    process.stderr.write(codeLine('decode', 'CLI_INCOMPLETE_HEADER', 'incomplete header (need more bytes)'));
    return exitStatus('CLI_INCOMPLETE_HEADER');
  }
  if (r.kind === 'error') {
    process.stderr.write(codeLine('decode', r.error.code, r.error.message));
    return 1;
  }
  const { tlvs, ...rest } = r.header;
  process.stdout.write(
    `${JSON.stringify({ ...rest, consumed: r.consumed, tlvs: namedTlvs(tlvs) }, null, 2)}\n`,
  );
  return 0;
}
