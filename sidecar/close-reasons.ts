/**
 * Why a connection ended: one vocabulary for every mode (http, http2, tcp, transparent) and for
 * connections refused at the PROXY header. The value is the `reason` of the `connection closed`
 * log line and a label of realip_connections_closed_total; the stable error code, when there is
 * one, is logged beside it as `code`. docs/sidecar.md ("Observability") lists them.
 */
export const CLOSE_REASONS = [
  /** The client ended the connection first (FIN), nothing went wrong. */
  'client_closed',
  /** The app ended the connection first (FIN), nothing went wrong. */
  'app_closed',
  'client_reset',
  /** Another socket error on the client side (EPIPE, ETIMEDOUT ...); `code`/`errno` say which. */
  'client_error',
  'app_reset',
  'app_error',
  /** The app refused or could not be reached (ECONNREFUSED, EADDRNOTAVAIL ...). */
  'app_connect_failed',
  'app_connect_timeout',
  /** http: the app sent no response head within --app-timeout (504). */
  'app_timeout',
  /** http: the app's response could not be framed (HTTP_BAD_RESPONSE). */
  'app_bad_response',
  /** http: a request head did not complete within --request-head-timeout (408); http2: no first bytes (H2_PREFACE_TIMEOUT). */
  'head_timeout',
  /** http: no next request within --keepalive-timeout. */
  'keepalive_timeout',
  /** Silent both ways for --idle-timeout. */
  'idle_timeout',
  /** Closed by the sidecar draining on SIGTERM (between requests, or at the drain deadline). */
  'drain',
  /** http: the client sent something that is not acceptable HTTP; `code` is the HTTP_* code. */
  'bad_request',
  /** The PROXY header was refused (missing, invalid, untrusted source, timeout); `code` is PP_*. */
  'refused',
  /** A bug in the sidecar cost this connection (HTTP_INTERNAL). */
  'internal_error',
] as const;

export type CloseReason = (typeof CLOSE_REASONS)[number];
