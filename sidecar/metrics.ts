/** The sidecar's metrics, created once per process and passed to listeners and hops. */
import { Registry } from '../common/metrics.ts';

export function createSidecarMetrics() {
  const registry = new Registry();
  return {
    registry,
    /** One per accepted connection: outcome (proxy, local, unknown, missing, invalid, untrusted, timeout, closed) and code. */
    connections: registry.counter('realip_proxy_connections_total', 'Connections by PROXY header outcome'),
    active: registry.gauge('realip_active_connections', 'Client connections currently open'),
    requests: registry.counter('realip_http_requests_total', 'HTTP requests forwarded to the app'),
    httpErrors: registry.counter(
      'realip_http_errors_total',
      'HTTP hop errors answered to the client, by status and code',
    ),
    hopErrors: registry.counter(
      'realip_hop_errors_total',
      'Connections ended by a hop error, by mode and code',
    ),
    bytes: registry.counter('realip_bytes_total', 'Bytes relayed, by direction'),
    rss: registry.gauge('realip_process_resident_memory_bytes', 'Resident set size', () =>
      process.memoryUsage.rss(),
    ),
  };
}

export type SidecarMetrics = ReturnType<typeof createSidecarMetrics>;
