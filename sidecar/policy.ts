/**
 * The trust policy, pure. A PROXY header is believed only from a trusted source range: anybody else
 * who can reach the port could otherwise claim any address. Defaults are the safe ones: nobody is
 * trusted until the operator names the edge, and a header is required (the spec's behaviour).
 */
import type { CidrSet } from '../common/cidr.ts';
import type { ProxyMode } from '../common/contract.ts';

export interface TrustPolicy {
  readonly trusted: CidrSet;
  readonly mode: ProxyMode;
}

/** What to do with a connection before any byte is read. */
export type FirstDecision =
  /** Trusted: read and honour a header (required: it must come; optional: it may be absent). */
  | 'read-header'
  /** Untrusted in optional mode: look at the first bytes only to refuse a header; never honour one. */
  | 'refuse-header'
  /** Untrusted in required mode: no header from it can be honoured, and none is optional. */
  | 'reject';

export function firstDecision(policy: TrustPolicy, peerAddress: string): FirstDecision {
  if (policy.trusted.has(peerAddress)) return 'read-header';
  return policy.mode === 'optional' ? 'refuse-header' : 'reject';
}
