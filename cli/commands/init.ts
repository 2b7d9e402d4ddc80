/** `realip init`: parse the steering options, then install (or remove) the steering. */
import type { Command } from '../../common/command.ts';
import { renderHelp } from '../../common/option-schema.ts';
import { INIT_OPTIONS, parseInitConfig, type SteeringConfig } from '../../sidecar/steering/config.ts';
import { executeSteering } from '../../sidecar/steering/run.ts';
import { realSystem } from '../../sidecar/steering/system.ts';

const USAGE =
  'realip init [--listener MODE:LISTEN_PORT:APP_PORT ...] [--redirect-from CIDRS] [--dry-run] [--cleanup]';
const SUMMARY =
  'Installs (or with --cleanup removes) the iptables REDIRECT rules and policy routing that steer the\n' +
  "pod's incoming connections on the app ports to the realip sidecar. Atomic and re-entrant.";

export const command: Command<SteeringConfig> = {
  name: 'init',
  help: renderHelp(USAGE, SUMMARY, INIT_OPTIONS),
  parse: (argv, env) => parseInitConfig(argv, env).config,
  run: (config, io) => executeSteering(config, realSystem(process.env), io),
};
