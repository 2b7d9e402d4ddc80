/**
 * The sidecar's metrics, created once per process and passed to listeners and hops. Every metric
 * is in docs/metrics.md (test/integration/metrics-table.test.ts compares the two). The families of
 * one kind of listener are declared here too, and registered by the first listener of that kind
 * (so /metrics shows them only where they mean something: the table's "Exposed when").
 */
import { Registry } from '../common/metrics.ts';
import { registerProcessMetrics } from '../common/process-metrics.ts';

/** Seconds; connections last from milliseconds (health checks) to hours (tunnels, databases). */
const CONNECTION_BUCKETS = [0.005, 0.05, 0.25, 1, 5, 30, 120, 600, 3600];
/** Seconds; a localhost connect takes tens of microseconds, a transparent one a little more. */
const CONNECT_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5];
/** Seconds; from the request head forwarded to the response complete. */
const REQUEST_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export function createSidecarMetrics() {
  const registry = new Registry();
  const metrics = {
    registry,
    /** One per accepted connection: outcome (proxy, local, unknown, missing, invalid, untrusted, timeout, closed) and code. */
    connections: registry.counter(
      'realip_proxy_connections_total',
      'Connections by PROXY header outcome, by listener, mode, outcome and code',
    ),
    active: registry.gauge(
      'realip_active_connections',
      'Client connections currently open, by listener and mode',
    ),
    closed: registry.counter(
      'realip_connections_closed_total',
      'Connections ended, by listener, mode and close reason (docs/sidecar.md)',
    ),
    connectionDuration: registry.histogram(
      'realip_connection_duration_seconds',
      'From accept to close, by listener and mode (connections handed to a hop)',
      CONNECTION_BUCKETS,
    ),
    appConnect: registry.histogram(
      'realip_app_connect_duration_seconds',
      'Time to connect to the app, by listener and mode (successful connects)',
      CONNECT_BUCKETS,
    ),
    requests: registry.counter(
      'realip_http_requests_total',
      'HTTP requests forwarded to the app, by listener, mode and status class, counted when answered',
    ),
    requestsInFlight: registry.gauge(
      'realip_http_requests_in_flight',
      'HTTP requests forwarded to the app and not answered yet, by listener and mode',
    ),
    requestDuration: registry.histogram(
      'realip_http_request_duration_seconds',
      'From the request head forwarded to the response complete, by listener, mode and status class',
      REQUEST_BUCKETS,
    ),
    httpErrors: registry.counter(
      'realip_http_errors_total',
      'HTTP hop errors answered to the client, by status and code',
    ),
    hopErrors: registry.counter(
      'realip_hop_errors_total',
      'Connections ended by a hop error, by mode and code',
    ),
    bytes: registry.counter('realip_bytes_total', 'Payload bytes relayed, by listener, mode and direction'),
    /** http listeners. */
    tlvHeadersOmitted: onFirstUse(() =>
      registry.counter(
        'realip_http_tlv_headers_omitted_total',
        'TLV values not exposed as headers because they contain unsafe characters',
      ),
    ),
    /** http2 listeners. */
    http2Streams: onFirstUse(() =>
      registry.counter(
        'realip_http2_streams_total',
        'HTTP/2 streams ended, by listener and outcome (ok, client_reset, app_reset, refused, app_error, internal_error)',
      ),
    ),
    http2ActiveStreams: onFirstUse(() =>
      registry.gauge('realip_http2_active_streams', 'HTTP/2 client streams currently open, by listener'),
    ),
    /** tcp and transparent listeners. */
    spliceRelay: onFirstUse(() =>
      registry.gauge(
        'realip_tcp_splice_relay',
        'tcp/transparent listeners relaying with splice(2) (1) or through the JS stream relay (0)',
      ),
    ),
    /** transparent listeners. */
    portFallbacks: onFirstUse(() =>
      registry.counter(
        'realip_transparent_port_fallbacks_total',
        "Transparent connections made from the client's address with another port (the client's was in use)",
      ),
    ),
  };
  registerProcessMetrics(registry, 'sidecar');
  return metrics;
}

/** The metric `register` makes, registered on the first call and the same one on every call after. */
function onFirstUse<T>(register: () => T): () => T {
  let metric: T | undefined;
  return () => {
    metric ??= register();
    return metric;
  };
}

export type SidecarMetrics = ReturnType<typeof createSidecarMetrics>;
