import type { Family } from './spec.ts';

/** The sidecar's admin port: answers to paths it does not serve. */
export const ADMIN_ERRORS = {
  ADMIN_UNKNOWN_PROBE: {
    http: 404,
    message: 'no app probe is configured at this path',
    meaning:
      'A path under `/app-health` that is not one of the probes in `REALIP_APP_PROBES` (`/app-health/<container>/<livez\\|readyz\\|startupz>`), including the old `/app-health/http/PORT/...` and `/app-health/tcp/PORT`.',
    action:
      'A probe written by hand must be declared on the app container and injected by the webhook; pods injected by an older webhook keep their older sidecar image and paths.',
  },
  ADMIN_NOT_FOUND: {
    http: 404,
    message: 'expected /healthz, /readyz, /metrics or a configured probe',
    meaning: 'Any other path than `/healthz`, `/readyz`, `/metrics` and the configured probes.',
    action: 'Use one of those.',
  },
} as const satisfies Family<'ADMIN'>;
