/** `realip decode HEX`: decode a PROXY header given as hex and print it as JSON (debugging aid). */
import type { Command } from '../../common/command.ts';
import { exitStatus } from '../../common/error-codes/registry.ts';
import { codeLine, RealipError } from '../../common/errors.ts';
import { decode } from '../../sidecar/proxy-protocol/decode.ts';
import { namedTlvs } from '../../sidecar/proxy-protocol/tlv.ts';

const HELP =
  'Usage: realip decode HEX\n\nDecodes a PROXY protocol v1/v2 header given as hex and prints it as JSON.';

/** undefined: no argument (the help is printed, exit 2). */
function parse(argv: readonly string[]): Buffer | undefined {
  const hex = argv[0];
  if (hex === undefined) return undefined;
  if (argv.length > 1) throw new RealipError('CLI_BAD_ARGUMENT', `unexpected argument "${argv[1]}"`);
  if (!/^([0-9a-fA-F]{2})+$/.test(hex))
    throw new RealipError('CLI_BAD_ARGUMENT', 'argument must be an even number of hex digits');
  return Buffer.from(hex, 'hex');
}

export const command: Command<Buffer | undefined> = {
  name: 'decode',
  help: HELP,
  parse,
  async run(bytes, io) {
    if (bytes === undefined) {
      io.stdout(`${HELP}\n`);
      return 2;
    }
    const r = decode(bytes);
    if (r.kind === 'need-more') {
      io.stderr(codeLine('decode', 'CLI_INCOMPLETE_HEADER', 'incomplete header (need more bytes)'));
      return exitStatus('CLI_INCOMPLETE_HEADER');
    }
    if (r.kind === 'error') {
      io.stderr(codeLine('decode', r.error.code, r.error.message));
      return 1;
    }
    const { tlvs, ...rest } = r.header;
    io.stdout(`${JSON.stringify({ ...rest, consumed: r.consumed, tlvs: namedTlvs(tlvs) }, null, 2)}\n`);
    return 0;
  },
};
