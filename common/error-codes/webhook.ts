import type { Family } from './spec.ts';

/** The webhook (`WH_`: HTTP answers, start-up, Events) and the injection decision (`INJ_`: reasons). */
export const WEBHOOK_ERRORS = {
  INJ_INJECTED: {
    meaning: 'Not an error: the pod was injected (`result="injected"`).',
  },
  INJ_SKIP_DISABLED: {
    meaning: 'Skipped: the pod carries `realip.dev/inject: "false"`.',
  },
  INJ_SKIP_HOST_NETWORK: {
    meaning: "Skipped: `hostNetwork: true` (redirecting ports would capture the node's traffic).",
  },
  INJ_SKIP_MIRROR_POD: {
    meaning:
      'Skipped: a mirror (static) pod (`kubernetes.io/config.mirror`); the kubelet would not run what we add.',
  },
  INJ_SKIP_ALREADY_INJECTED: {
    meaning:
      'Skipped: the pod has `realip.dev/status` or a `realip-sidecar`/`realip-init` container (re-invocation, or `realip inject`).',
  },
  INJ_SKIP_NO_PORTS: {
    meaning: 'Skipped: no TCP containerPorts and no `realip.dev/ports` annotation: nothing to intercept.',
  },
  INJ_SKIP_NO_INTERCEPTED_PORTS: {
    meaning:
      'Skipped: the pod has TCP ports, but none can be intercepted without risk to its app (each is left alone with an `INJ_PORT_*` reason; see docs/install.md "what gets intercepted, and why"). Recorded in `realip.dev/status` (`"injected": false`).',
  },
  INJ_SKIP_MESH: {
    meaning:
      "Skipped: the pod carries, or its injector will add, another mesh's sidecar (Istio: `sidecar.istio.io/status`, `istio-proxy`, `istio-injection=enabled`; Linkerd: `linkerd.io/proxy-version`, `linkerd-proxy`, `linkerd.io/inject: enabled`). A warning names the evidence; never denied.",
  },
  INJ_SKIP_NO_TRUSTED_SOURCES: {
    meaning:
      'Skipped: redirect mode with no trusted CIDRs and no redirect-from: no source may be steered into the sidecar (set `injection.trustedCidrs`).',
  },
  INJ_PORT_TLS: {
    meaning:
      'Port left alone: its name says TLS (`https`, `tls`, `ssl`, `h2`, `*-tls`, `*-ssl`, `*-https`); the HTTP hops would close every handshake. `PORT=tcp` or `PORT=transparent` in `realip.dev/ports` still intercepts it.',
  },
  INJ_PORT_HTTP2: {
    retired: '0.2.0',
    meaning:
      'Retired (0.2.0): ports named `http2`, `h2c`, `grpc` (and `-*`) get an `http2` listener; `h2` (the TLS ALPN name) is left alone with `INJ_PORT_TLS`. The code is not reused.',
  },
  INJ_PORT_UNKNOWN_PROTOCOL: {
    meaning:
      'Port left alone: its name (or the lack of one) does not say its protocol; opt in with `realip.dev/ports` (`PORT=tcp` for a PROXY-aware app, `PORT=transparent` for an unmodified one, `PORT=http`).',
  },
  INJ_PORT_NOT_LISTED: {
    meaning:
      'Port left alone: `realip.dev/ports` is set (pod or namespace) and neither lists the port nor has a `*=MODE` entry.',
  },
  INJ_PORT_OFF: {
    meaning: 'Port left alone: `realip.dev/ports` says `PORT=off` (or `*=off`).',
  },
  INJ_PORT_POD_SECURITY: {
    meaning:
      "Port left alone: it asked for a transparent listener (NET_ADMIN), which the namespace's enforced Pod Security level (`baseline`, `restricted`) forbids.",
  },
  INJ_SKIP_NOT_POD_CREATE: {
    meaning: 'Skipped: the request is not a pod CREATE (the webhook configuration should not send it).',
  },
  INJ_SKIP_MALFORMED_POD: {
    meaning:
      "Skipped: the object is not shaped like a pod (the warning names the field); the API server's validation rejects it.",
  },
  INJ_INVALID_ANNOTATION: {
    meaning:
      'Denied: a `realip.dev/` annotation has a bad value; the message names the annotation, the value and what is expected.',
  },
  INJ_PORT_CONFLICT: {
    meaning:
      'Denied: no free port is left for the sidecar (listeners from the listener port base, the admin port) after stepping over every port the pod declares. Before 0.2 any collision denied; now the sidecar moves.',
  },
  INJ_INVALID_INPUT: {
    exit: 1,
    meaning:
      '`realip inject`: a document could not be injected (each problem names the document and the field); nothing is written.',
  },
  WH_BAD_REVIEW: {
    http: 400,
    meaning: 'The body is JSON but not an AdmissionReview v1/v1beta1 (the message names the field).',
  },
  WH_BAD_REQUEST: {
    http: 400,
    meaning: 'The body is not valid JSON (or is empty, or carries `__proto__`/`constructor` keys).',
  },
  WH_BODY_TOO_LARGE: {
    http: 413,
    meaning: 'The body exceeds 3 MiB.',
  },
  WH_UNSUPPORTED_MEDIA_TYPE: {
    http: 415,
    meaning: 'The content type is not `application/json`.',
  },
  WH_NOT_FOUND: {
    http: 404,
    meaning: 'No such route (the webhook serves `POST /mutate`).',
  },
  WH_METHOD_NOT_ALLOWED: {
    http: 405,
    meaning: 'Wrong method.',
  },
  WH_REQUEST_TIMEOUT: {
    http: 408,
    meaning: 'The request was not received within 30 s.',
  },
  WH_INTERNAL: {
    message: 'request could not be handled',
    meaning:
      'A bug: the pod is denied (inside a valid AdmissionReview, HTTP 200) rather than admitted half-processed; the log has it.',
  },
  WH_LISTEN_FAILED: {
    exit: 1,
    meaning: '`realip webhook` at start: the HTTPS or metrics port cannot be bound (in use, permission).',
  },
  WH_KUBECONFIG_INVALID: {
    exit: 1,
    meaning:
      '`realip webhook` at start: `KUBECONFIG` (or `~/.kube/config`) names a file that cannot be loaded. Without any kubeconfig (and outside a cluster) the webhook runs without reading namespaces.',
  },
  WH_EVENT_FAILED: {
    meaning:
      'A Kubernetes Event for a skip or denial could not be created (RBAC, API server down, 5 s timeout). Logged at warn and counted in `realip_webhook_events_total{result="failed"}`; the admission is never affected. See [webhook.md](webhook.md#events).',
  },
} as const satisfies Family<'WH' | 'INJ'>;
