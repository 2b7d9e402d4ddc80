/**
 * RFC 6902 JSON Patch between two JSON documents, in a stable order: for objects, the keys of the
 * old document in their order (removals and nested changes), then the new keys in theirs; for
 * arrays that grew by one contiguous block (a container inserted first, an init container
 * prepended), the additions and then the element changes; anything else is replaced whole.
 * Path segments escape `~` as `~0` and `/` as `~1` (RFC 6901), which annotation keys need
 * (`realip.dev/status` -> `realip.dev~1status`).
 */
import type { Json } from './pod.ts';

export type PatchOp =
  | { readonly op: 'add'; readonly path: string; readonly value: Json }
  | { readonly op: 'replace'; readonly path: string; readonly value: Json }
  | { readonly op: 'remove'; readonly path: string };

export function escapePointer(segment: string): string {
  if (!segment.includes('~') && !segment.includes('/')) return segment;
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep copy of a JSON value (several times faster than structuredClone for plain JSON). */
export function cloneJson<T extends Json>(v: T): T {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => cloneJson(x)) as T;
  const out: { [key: string]: Json } = {};
  for (const k of Object.keys(v)) {
    const value = cloneJson((v as { [key: string]: Json })[k]!);
    // A "__proto__" key (possible from YAML) must stay an own property, not become the prototype.
    if (k === '__proto__')
      Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    else out[k] = value;
  }
  return out as T;
}

export function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i]!, b[i]!)) return false;
    return true;
  }
  if (isObject(a)) {
    if (!isObject(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    for (const k of ka) if (!Object.hasOwn(b, k) || !deepEqual(a[k]!, b[k]!)) return false;
    return true;
  }
  return false;
}

export function diff(before: Json, after: Json, path = ''): PatchOp[] {
  const ops: PatchOp[] = [];
  walk(before, after, path, ops);
  return ops;
}

function walk(a: Json, b: Json, path: string, ops: PatchOp[]): void {
  if (a === b) return;
  if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) {
      const p = `${path}/${escapePointer(k)}`;
      if (!Object.hasOwn(b, k)) ops.push({ op: 'remove', path: p });
      else walk(a[k]!, b[k]!, p, ops);
    }
    for (const k of Object.keys(b)) {
      if (!Object.hasOwn(a, k)) ops.push({ op: 'add', path: `${path}/${escapePointer(k)}`, value: b[k]! });
    }
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length === b.length) {
      for (let i = 0; i < a.length; i++) walk(a[i]!, b[i]!, `${path}/${i}`, ops);
      return;
    }
    const k = b.length > a.length ? insertionPoint(a, b) : -1;
    if (k !== -1) {
      const m = b.length - a.length;
      for (let i = k; i < k + m; i++) ops.push({ op: 'add', path: `${path}/${i}`, value: b[i]! });
      for (let i = 0; i < a.length; i++) {
        const j = i < k ? i : i + m;
        walk(a[i]!, b[j]!, `${path}/${j}`, ops);
      }
      return;
    }
  }
  ops.push({ op: 'replace', path, value: b });
}

/** Same element for diffing purposes: same `name` for named objects, else equal. */
function sameElement(a: Json, b: Json): boolean {
  if (isObject(a) && isObject(b) && typeof a.name === 'string') return a.name === b.name;
  return deepEqual(a, b);
}

/** The first k such that b without b[k, k + m) lines up with a; -1 if there is none. */
function insertionPoint(a: readonly Json[], b: readonly Json[]): number {
  const m = b.length - a.length;
  for (let k = 0; k <= a.length; k++) {
    let ok = true;
    for (let i = 0; i < a.length && ok; i++) ok = sameElement(a[i]!, b[i < k ? i : i + m]!);
    if (ok) return k;
  }
  return -1;
}
