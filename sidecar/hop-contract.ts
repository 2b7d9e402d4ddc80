/**
 * The interface between the listener (which accepts and reads the PROXY header) and a hop (which
 * delivers the connection to the app with the client re-presented).
 */
import type { Socket } from 'node:net';
import type { ListenerSpec } from '../common/contract.ts';
import type { Logger } from '../common/logger.ts';
import type { SidecarConfig } from './config.ts';
import type { SidecarMetrics } from './metrics.ts';
import type { ProxyHeader } from './proxy-protocol/types.ts';
import type { AcceptOutcome, ClientEndpoint } from './reader.ts';

export interface AcceptedConnection {
  /** Paused; bytes that followed the header were put back with unshift(), so read it normally. */
  readonly socket: Socket;
  /** The address the app must see. */
  readonly client: ClientEndpoint;
  /** Where the client connected to (header destination, else our local address). */
  readonly destination: ClientEndpoint;
  readonly header?: ProxyHeader;
  readonly outcome: AcceptOutcome;
  /** The socket's own peer (the edge, or the client itself without a header). */
  readonly edge: ClientEndpoint;
  /** performance.now() at accept: durations in logs and metrics count from here in every mode. */
  readonly acceptedAt: number;
  /** Short connection id, also in every log line of this connection. */
  readonly id: string;
  readonly log: Logger;
}

export interface HopContext {
  readonly listener: ListenerSpec;
  readonly config: SidecarConfig;
  readonly log: Logger;
  readonly metrics: SidecarMetrics;
}

export interface Hop {
  /** Takes ownership of the connection: it must end up closed, whatever happens. */
  handle(conn: AcceptedConnection): void;
  /**
   * SIGTERM: stop starting new work on kept-alive connections, let in-flight work finish, resolve
   * when nothing is left or at the deadline (then the caller destroys what remains).
   */
  drain(deadline: number): Promise<void>;
}

/** A hop factory may check its preconditions (capabilities, routing) and throw a RealipError. */
export type HopFactory = (ctx: HopContext) => Hop | Promise<Hop>;
