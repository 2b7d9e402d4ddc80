import type { Family } from './spec.ts';

/** The TCP and transparent hops: start-up failures (`exit`) and per-connection ends. */
export const TCP_ERRORS = {
  TCP_LISTEN_FAILED: {
    exit: 1,
    meaning: 'A listener cannot bind its port (in use, permission).',
    action: 'Free the port or pick another listener port.',
  },
  TCP_NO_CAPABILITY: {
    exit: 1,
    meaning:
      'Transparent listener: neither `CAP_NET_ADMIN` nor `CAP_NET_RAW` is effective, or setting `IP_TRANSPARENT` fails (start-up).',
    action: "Add `NET_ADMIN` to the sidecar's `securityContext.capabilities.add`.",
  },
  TCP_ROUTING_MISSING: {
    exit: 1,
    meaning:
      'Transparent listener: the policy rule `from 127.0.0.1/8 iif lo lookup 15100` or the route `local default dev lo` in table 15100 (or the IPv6 pair) is missing (start-up). The message names each missing piece and the commands.',
    action: 'Run `realip init` (the init container) or the `ip` commands in the message.',
  },
  TCP_ROUTING_UNCHECKED: {
    exit: 1,
    meaning: 'Transparent listener: `ip rule show` could not be run to check the routing (start-up).',
    action: 'Ship iproute2 in the sidecar image.',
  },
  TCP_NATIVE_MISSING: {
    exit: 1,
    meaning:
      'Transparent listener: the N-API helper `realip_transparent.node` is not built or cannot be loaded (start-up).',
    action: '`npm run build:native` (needs a C compiler and python3 for node-gyp).',
  },
  TCP_SPLICE_UNAVAILABLE: {
    meaning:
      'tcp/transparent listener (warning, logged once, not an error): the native helper cannot be loaded, so tcp listeners relay through Node streams (more CPU per byte); `realip_tcp_splice_relay` is 0.',
    action:
      '`npm run build:native` (needs a C compiler and python3 for node-gyp), or ship the built addon in the image.',
  },
  TCP_CONNECT_FAILED: {
    meaning: 'The app refused the connection or could not be reached; the client connection is closed (FIN).',
    action: 'Is the app listening on the app port?',
  },
  TCP_CONNECT_TIMEOUT: {
    meaning: 'The app did not accept within `--connect-timeout`; the client connection is closed.',
    action: 'Check the app; for transparent mode, check the policy routing.',
  },
  TCP_IDLE_TIMEOUT: {
    meaning: 'Nothing moved either way for `--idle-timeout` ms (off by default); both sides are closed.',
    action: 'Raise or disable the idle timeout.',
  },
  TCP_CLIENT_RESET: {
    meaning: 'The client reset the connection; the reset is passed on to the app.',
    action: 'Informational.',
  },
  TCP_APP_RESET: {
    meaning: 'The app reset the connection; the reset is passed on to the client.',
    action: 'Informational.',
  },
  TCP_CLIENT_ERROR: {
    meaning: 'Another socket error on the client side; the app side is reset.',
    action: 'See the `errno` log field.',
  },
  TCP_APP_ERROR: {
    meaning: 'Another socket error on the app side; the client side is reset.',
    action: 'See the `errno` log field.',
  },
  TCP_DRAIN_DEADLINE: {
    meaning:
      'SIGTERM: the connection was still open at the drain deadline (`--drain-timeout`) and was reset.',
    action: 'Raise the drain timeout (and terminationGracePeriodSeconds).',
  },
} as const satisfies Family<'TCP'>;
