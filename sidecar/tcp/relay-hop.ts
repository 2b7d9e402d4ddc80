// Placeholder until the hop lands; replaced by its implementation.
import type { HopFactory } from '../hop.ts';

export const createRelayHop: HopFactory = () => {
  throw new Error('this listener mode is not implemented yet');
};
