/** The webhook's Prometheus metrics (served on --metrics-port /metrics). */
import { Registry } from '../common/metrics.ts';
import { registerProcessMetrics } from '../common/process-metrics.ts';

export function createWebhookMetrics(registry = new Registry()) {
  registerProcessMetrics(registry, 'webhook');
  const metrics = {
    registry,
    admissions: registry.counter(
      'realip_webhook_admissions_total',
      'Admission requests by result (injected, skipped, denied, rejected, error) and reason code',
    ),
    duration: registry.histogram(
      'realip_webhook_admission_duration_seconds',
      'Time to decide and build the patch for one admission request',
      [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5],
    ),
    tlsReloads: registry.counter(
      'realip_webhook_tls_reloads_total',
      'Serving certificates swapped in without restart',
    ),
    certExpiry: registry.gauge(
      'realip_webhook_certificate_expiry_timestamp_seconds',
      'Expiry of the serving certificate (Unix time)',
    ),
  };
  // Unlabelled: exposed (all zero) before the first admission.
  metrics.duration.series();
  return metrics;
}
export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;
