/**
 * AdmissionReview in and out, `admission.k8s.io/v1` and `v1beta1` (answered in the version asked,
 * with the request's uid). Shapes follow
 * https://kubernetes.io/docs/reference/access-authn-authz/extensible-admission-controllers/
 */
import type { PatchOp } from './json-patch.ts';

export const REVIEW_VERSIONS = ['admission.k8s.io/v1', 'admission.k8s.io/v1beta1'] as const;
export type ReviewVersion = (typeof REVIEW_VERSIONS)[number];

export interface GroupVersionKind {
  readonly group: string;
  readonly version: string;
  readonly kind: string;
}

export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: GroupVersionKind;
  readonly resource?: { readonly group: string; readonly version: string; readonly resource: string };
  readonly subResource?: string;
  readonly name?: string;
  readonly namespace?: string;
  readonly operation?: string;
  readonly object?: unknown;
  readonly dryRun?: boolean;
}

export interface ParsedReview {
  readonly apiVersion: ReviewVersion;
  readonly request: AdmissionRequest;
}

export interface AdmissionStatus {
  readonly code: number;
  readonly message: string;
  readonly reason?: string;
}

export interface AdmissionResponse {
  readonly uid: string;
  readonly allowed: boolean;
  readonly patchType?: 'JSONPatch';
  readonly patch?: string;
  readonly warnings?: readonly string[];
  readonly status?: AdmissionStatus;
}

export interface AdmissionReviewResponse {
  readonly apiVersion: ReviewVersion;
  readonly kind: 'AdmissionReview';
  readonly response: AdmissionResponse;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks the envelope; a problem here is answered with HTTP 400 and the reason. */
export function parseReview(body: unknown): ParsedReview | { readonly problem: string } {
  if (!isObject(body)) return { problem: 'body: expected an AdmissionReview object' };
  const { apiVersion, kind, request } = body;
  if (kind !== 'AdmissionReview') return { problem: `kind: expected "AdmissionReview", got ${show(kind)}` };
  if (typeof apiVersion !== 'string' || !(REVIEW_VERSIONS as readonly string[]).includes(apiVersion)) {
    return { problem: `apiVersion: expected one of ${REVIEW_VERSIONS.join(', ')}, got ${show(apiVersion)}` };
  }
  if (!isObject(request)) return { problem: 'request: expected an object' };
  if (typeof request.uid !== 'string' || request.uid === '') {
    return { problem: 'request.uid: expected a non-empty string' };
  }
  for (const key of ['operation', 'namespace', 'name', 'subResource'] as const) {
    const v = request[key];
    if (v !== undefined && v !== null && typeof v !== 'string')
      return { problem: `request.${key}: expected a string` };
  }
  if (request.kind !== undefined && !isGvk(request.kind)) {
    return { problem: 'request.kind: expected {group, version, kind}' };
  }
  return { apiVersion: apiVersion as ReviewVersion, request: request as unknown as AdmissionRequest };
}

function isGvk(v: unknown): v is GroupVersionKind {
  return isObject(v) && typeof v.kind === 'string' && typeof v.version === 'string';
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'nothing' : s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function allow(
  apiVersion: ReviewVersion,
  uid: string,
  patch: readonly PatchOp[] | undefined,
  warnings: readonly string[],
): AdmissionReviewResponse {
  const response: AdmissionResponse = {
    uid,
    allowed: true,
    ...(patch !== undefined && patch.length > 0
      ? { patchType: 'JSONPatch' as const, patch: Buffer.from(JSON.stringify(patch)).toString('base64') }
      : {}),
    ...(warnings.length > 0 ? { warnings } : {}),
  };
  return { apiVersion, kind: 'AdmissionReview', response };
}

export function deny(
  apiVersion: ReviewVersion,
  uid: string,
  message: string,
  code = 400,
  reason = 'BadRequest',
): AdmissionReviewResponse {
  return {
    apiVersion,
    kind: 'AdmissionReview',
    response: { uid, allowed: false, status: { code, message, reason } },
  };
}
