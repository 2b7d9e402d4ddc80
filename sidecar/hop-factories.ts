/** Listener mode -> hop factory, loaded lazily so a pod with only http listeners never loads the native helper. */
import type { ListenerMode } from '../common/contract.ts';
import type { HopFactory } from './hop-contract.ts';

export const hopFactories: Readonly<Record<ListenerMode, () => Promise<HopFactory>>> = {
  http: async () => (await import('./http/hop.ts')).createHttpHop,
  http2: async () => (await import('./http2/hop.ts')).createHttp2Hop,
  tcp: async () => (await import('./tcp/relay-hop.ts')).createRelayHop,
  transparent: async () => (await import('./tcp/transparent-hop.ts')).createTransparentHop,
};
