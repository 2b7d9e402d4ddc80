/**
 * One admission, start to end and pure: AdmissionReview -> decision -> sidecar spec -> patch ->
 * response. The caller (app.ts) logs the outcome and counts it.
 */
import type { CodeOf, ErrorCode } from '../../common/error-codes/registry.ts';
import { type Decision, decide, type InjectionDefaults } from './decide.ts';
import { NO_NAMESPACE, type NamespaceView } from './namespace.ts';
import { buildPatch, markSkipped, mutatePod } from './patch.ts';
import { checkPodShape, type Pod } from './pod.ts';
import { injectedLines, notInjectedLines, skipWarning } from './report.ts';
import { allow, type AdmissionReviewResponse, deny, type ParsedReview } from './review.ts';

export type AdmissionResult = 'injected' | 'skipped' | 'denied';

export interface Admission {
  readonly review: AdmissionReviewResponse;
  readonly result: AdmissionResult;
  /** Reason codes (skip or deny); `INJ_INJECTED` when injected. */
  readonly reasons: readonly ErrorCode[];
  readonly listeners?: readonly string[];
}

/** Not a pod CREATE (the webhook configuration should not send these, but answer them safely). */
export const NOT_POD_CREATE = 'INJ_SKIP_NOT_POD_CREATE' satisfies CodeOf<'INJ'>;
/** The pod is not shaped as a pod; the API server's validation will say more after us. */
export const MALFORMED_POD = 'INJ_SKIP_MALFORMED_POD' satisfies CodeOf<'INJ'>;
export const INJECTED = 'INJ_INJECTED' satisfies CodeOf<'INJ'>;

export { skipWarning } from './report.ts';

export function admit(
  review: ParsedReview,
  defaults: InjectionDefaults,
  namespace: NamespaceView = NO_NAMESPACE,
): Admission {
  const { apiVersion, request } = review;
  const uid = request.uid;
  const isPod = (request.kind?.kind ?? 'Pod') === 'Pod' && (request.resource?.resource ?? 'pods') === 'pods';
  if (!isPod || (request.operation ?? 'CREATE') !== 'CREATE' || (request.subResource ?? '') !== '') {
    return skipped(review, [NOT_POD_CREATE]);
  }
  const problems = checkPodShape(request.object, 'object.');
  if (problems.length > 0) {
    const r = skipped(review, [MALFORMED_POD]);
    return {
      ...r,
      review: allow(apiVersion, uid, undefined, [`${skipWarning(MALFORMED_POD)}: ${problems[0]}`]),
    };
  }
  const pod = request.object as Pod;
  const decision: Decision = decide(pod, defaults, namespace);
  if (!decision.inject) {
    if (decision.denied) {
      const message = `realip: ${decision.reasons.join(', ')}: ${decision.problems.join('; ')}`;
      return { review: deny(apiVersion, uid, message), result: 'denied', reasons: decision.reasons };
    }
    const marked = markSkipped(pod, decision);
    return {
      review: allow(
        apiVersion,
        uid,
        marked !== undefined ? buildPatch(pod, marked) : undefined,
        notInjectedLines(decision),
      ),
      result: 'skipped',
      reasons: decision.reasons,
    };
  }
  const mutation = mutatePod(pod, decision.plan);
  const patch = buildPatch(pod, mutation.pod);
  const warnings = injectedLines(decision.plan, mutation.warnings);
  return {
    review: allow(apiVersion, uid, patch, warnings),
    result: 'injected',
    reasons: [INJECTED],
    listeners: mutation.status.listeners,
  };
}

function skipped(review: ParsedReview, reasons: readonly CodeOf<'INJ'>[]): Admission {
  return {
    review: allow(review.apiVersion, review.request.uid, undefined, reasons.map(skipWarning)),
    result: 'skipped',
    reasons,
  };
}
