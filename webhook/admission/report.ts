/**
 * Every decision visible (issue 13): the same lines for `realip inject`'s stderr summary and the
 * webhook's admission warnings. A headline (injected how, or skipped and why), then one line per
 * app port: intercepted in which mode, or left alone with the reason code. Pure.
 */
import { Annotations } from '../../common/contract.ts';
import type { ErrorCode } from '../../common/error-codes/registry.ts';
import type { Decision, Plan } from './decide.ts';
import { PORT_REASON_TEXT, type PortDecision } from './port-rules.ts';

const SKIP_TEXT: Readonly<Partial<Record<ErrorCode, string>>> = {
  INJ_SKIP_DISABLED: `opted out by annotation ${Annotations.inject}`,
  INJ_SKIP_HOST_NETWORK: 'hostNetwork pods share the node network',
  INJ_SKIP_MIRROR_POD: 'mirror (static) pod',
  INJ_SKIP_ALREADY_INJECTED: 'already injected',
  INJ_SKIP_NO_PORTS: `no TCP container ports and no ${Annotations.ports} annotation`,
  INJ_SKIP_NO_INTERCEPTED_PORTS: 'no port can be intercepted without risk to the app',
  INJ_SKIP_MESH: "another mesh's sidecar is (or will be) on the pod",
  INJ_SKIP_NO_TRUSTED_SOURCES: 'no trusted CIDRs, so no source may be steered into the sidecar',
  INJ_SKIP_NOT_POD_CREATE: 'not a pod creation',
  INJ_SKIP_MALFORMED_POD: 'object is not a well-formed pod',
};

/** Warnings are shown by kubectl; keep them short (the API server truncates long ones). */
export function skipWarning(code: ErrorCode): string {
  return `realip: not injected (${code}): ${SKIP_TEXT[code] ?? code}`;
}

function portLabel(p: { port: number; name?: string | undefined }): string {
  return `port ${p.port}${p.name !== undefined ? `/${p.name}` : ''}`;
}

export function portLine(p: PortDecision, plan?: Plan): string {
  if (p.reason !== undefined)
    return `${portLabel(p)}: left alone (${p.reason}): ${PORT_REASON_TEXT[p.reason]}`;
  const l = plan?.listeners.find((x) => x.appPort === p.port);
  const hop =
    p.mode === 'http'
      ? 'http hop'
      : p.mode === 'http2'
        ? 'http2 hop (HTTP/2 and HTTP/1.1)'
        : p.mode === 'tcp'
          ? 'tcp hop (PROXY header to the app)'
          : 'transparent hop';
  return `${portLabel(p)}: intercepted, ${hop}${l !== undefined ? ` on sidecar port ${l.listenPort}` : ''}`;
}

export function injectedHeadline(plan: Plan): string {
  const how =
    plan.steering === 'redirect'
      ? `redirect mode, only connections from ${plan.redirectFrom.join(',')} steered`
      : 'port mode, the edge Service must target the sidecar port';
  return `realip: injected (${how}; admin port ${plan.adminPort})`;
}

/** An injection: the headline, each port, then the warnings (the plan's and the patch builder's). */
export function injectedLines(plan: Plan, warnings: readonly string[]): string[] {
  return [
    injectedHeadline(plan),
    ...plan.ports.map((p) => `realip: ${portLine(p, plan)}`),
    ...warnings.map((w) => `realip: ${w}`),
  ];
}

/** A decision not to inject: why, then each port's fate when the decision got that far. */
export function notInjectedLines(decision: Exclude<Decision, { inject: true }>): string[] {
  if (decision.denied)
    return [`realip: denied (${decision.reasons.join(', ')}): ${decision.problems.join('; ')}`];
  return [
    ...decision.reasons.map(skipWarning),
    ...(decision.notes ?? []).map((n) => `realip: ${n}`),
    ...(decision.ports ?? []).map((p) => `realip: ${portLine(p)}`),
  ];
}
