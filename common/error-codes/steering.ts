import type { Family } from './spec.ts';

/** `realip init`: the iptables and ip rule steering. */
export const STEERING_ERRORS = {
  STEER_NO_CAP: {
    exit: 1,
    meaning:
      "The process has no `CAP_NET_ADMIN` in the pod's network namespace (checked in `/proc/self/status`, or reported by iptables / ip).",
    action: 'Give the init container `capabilities.add: ["NET_ADMIN", "NET_RAW"]`, or use `port` steering.',
  },
  STEER_IPTABLES_MISSING: {
    exit: 1,
    meaning:
      'An iptables tool of the chosen backend (the message names it, e.g. `iptables-nft-restore`) is not in `PATH`.',
    action: 'Install iptables in the image, or fix `PATH`.',
  },
  STEER_IP_MISSING: {
    exit: 1,
    meaning: 'A transparent listener needs policy routing but `ip` (iproute2) is not in `PATH`.',
    action: 'Install iproute2 in the image.',
  },
  STEER_READ_FAILED: {
    exit: 1,
    meaning:
      '`iptables-save` or `iptables -C` failed while reading the current rules; the message carries its stderr.',
    action: "Read the tool's message.",
  },
  STEER_CONFLICT: {
    exit: 1,
    meaning:
      "A REDIRECT/DNAT/TPROXY rule for an intercepted app port is reached in nat PREROUTING before realip's chain; the message quotes the rule.",
    action: "Remove that rule (another mesh's init?), or do not intercept that port.",
  },
  STEER_APPLY_FAILED: {
    exit: 1,
    meaning:
      '`iptables-restore --noflush` rejected the transaction (nothing of it was applied); the message has its stderr and the input.',
    action: "Read the tool's message (missing kernel module for REDIRECT?); try the other backend.",
  },
  STEER_ROUTE_FAILED: {
    exit: 1,
    meaning:
      'An `ip rule` / `ip route` command for transparent listeners failed (e.g. `lo` down: "Nexthop device is not up"); the message has the command.',
    action: 'Read the message.',
  },
} as const satisfies Family<'STEER'>;
