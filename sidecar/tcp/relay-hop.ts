/**
 * `tcp` listener mode: for apps that speak PROXY themselves (nginx, HAProxy, Envoy, poolers ...).
 * As soon as the header is read and trusted, connect to the app (server-speaks-first protocols
 * work), write a fresh PROXY header carrying the client, then relay bytes both ways unchanged.
 */
import net from 'node:net';
import type { EmitVersion } from '../../common/contract.ts';
import type { AcceptedConnection, Hop, HopContext, HopFactory } from '../hop-contract.ts';
import { encodeV1, encodeV2 } from '../proxy-protocol/encode.ts';
import { TlvType } from '../proxy-protocol/tlv.ts';
import type { Tlv } from '../proxy-protocol/types.ts';
import type { ClientEndpoint } from '../reader.ts';
import { RelaySet } from './relay-set.ts';

export interface EmitInput {
  readonly client: ClientEndpoint;
  readonly destination: ClientEndpoint;
  /** TLVs of the incoming v2 header (none for v1, LOCAL or no header). */
  readonly tlvs: readonly Tlv[];
}

/**
 * The header the app receives. Always PROXY TCP4/TCP6 with a real address: the client from a
 * trusted header, or, for LOCAL / UNKNOWN / no header (optional mode), the socket's own peer, which
 * the kernel vouches for. We never send LOCAL or UNKNOWN: an app told "use the socket address"
 * would see 127.0.0.1 (us), which is exactly what realip exists to avoid.
 * v2 carries the incoming TLVs whose types are in passTlvs, in wire order; a passed CRC32C is
 * recomputed over the new header (the old checksum covered the old one).
 */
export function buildAppHeader(
  input: EmitInput,
  emit: EmitVersion,
  passTlvs: readonly number[] | ReadonlySet<number>,
): Buffer {
  const { client } = input;
  const family = client.family === 6 ? 'TCP6' : 'TCP4';
  // Both ends of a PROXY header share one family; a mixed pair (rare: a v4 client on a v6 socket
  // without a header) keeps the destination port with the family's unspecified address.
  const destination =
    input.destination.family === client.family
      ? input.destination
      : { address: client.family === 6 ? '::' : '0.0.0.0', port: input.destination.port };
  const header = {
    family,
    source: { address: client.address, port: client.port },
    destination: { address: destination.address, port: destination.port },
  } as const;
  if (emit === 'v1') return encodeV1(header);
  const pass = passTlvs instanceof Set ? passTlvs : new Set(passTlvs);
  const tlvs =
    input.tlvs.length === 0 ? [] : input.tlvs.filter((t) => pass.has(t.type) && t.type !== TlvType.CRC32C);
  const crc = pass.has(TlvType.CRC32C) && input.tlvs.some((t) => t.type === TlvType.CRC32C);
  return encodeV2({ ...header, tlvs }, { crc32c: crc });
}

export const createRelayHop: HopFactory = (ctx: HopContext): Hop => {
  const relays = new RelaySet(ctx);
  const { config, listener } = ctx;
  const passTlvs = new Set(config.passTlvs);
  return {
    handle(conn: AcceptedConnection) {
      const header = buildAppHeader(
        { client: conn.client, destination: conn.destination, tlvs: conn.header?.tlvs ?? [] },
        config.emit,
        passTlvs,
      );
      const app = net.connect({
        host: config.appHost,
        port: listener.appPort,
        noDelay: true,
        allowHalfOpen: true,
      });
      relays.start(conn, { app, preamble: header });
    },
    drain: (deadline) => relays.drain(deadline),
  };
};
