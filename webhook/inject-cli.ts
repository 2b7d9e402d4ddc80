/**
 * `realip inject -f FILE|-`: the webhook's decision and patch, offline, for GitOps. Reads
 * multi-document YAML, injects the pod template of every Pod, Deployment, StatefulSet, DaemonSet,
 * ReplicaSet, Job, CronJob (and the items of a List) exactly as the webhook would (same decide()
 * and mutatePod()), and writes the documents back; other documents pass through unchanged.
 * Errors name the document and the field. `--native-sidecar auto` means on here (no API server
 * is asked): pass `--native-sidecar off` for clusters older than 1.29. Namespace documents in the
 * input stand for the cluster's namespaces (Pod Security label, mesh labels, the namespace's
 * realip.dev/ports), as the webhook would read them. Every decision is summarized on stderr: per
 * workload, injected or not and why, and each port's fate.
 */
import { readFileSync } from 'node:fs';
import { Document, parseAllDocuments } from 'yaml';
import { type ErrorCode, exitStatus } from '../common/error-codes/registry.ts';
import { ConfigError, codeLine, failureLine } from '../common/errors.ts';
import { renderHelp } from '../common/options.ts';
import { decide, type InjectionDefaults } from './admission/decide.ts';
import { NO_NAMESPACE, type NamespaceInfo, type NamespaceView } from './admission/namespace.ts';
import { markSkipped, mutatePod } from './admission/patch.ts';
import { checkPodShape, type Pod } from './admission/pod.ts';
import { injectedLines, notInjectedLines } from './admission/report.ts';
import { INJECT_CLI_OPTIONS, parseInjectConfig, resolveDefaults } from './config.ts';

export const INJECT_USAGE = renderHelp(
  'realip inject -f FILE|- [options]',
  'Injects the realip sidecar into the pod templates of a YAML stream, as the webhook would, and prints it.',
  INJECT_CLI_OPTIONS,
);

/** Where the pod template sits in each workload kind. */
const TEMPLATE_PATHS: Readonly<Record<string, readonly string[]>> = {
  Pod: [],
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export interface InjectResult {
  readonly output: string;
  /** The summary: per workload a headline (injected, or not and why), then one line per port. */
  readonly notes: readonly string[];
  /** Fatal: nothing should be written. */
  readonly errors: readonly string[];
}

type Obj = Record<string, unknown>;
function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(index: number, obj: Obj): string {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name =
    typeof meta.name === 'string'
      ? meta.name
      : typeof meta.generateName === 'string'
        ? meta.generateName
        : '?';
  const ns = typeof meta.namespace === 'string' ? `${meta.namespace}/` : '';
  return `document ${index + 1} (${String(obj.kind)} ${ns}${name})`;
}

/** Injects one object in place; returns whether it changed. */
interface Context {
  readonly defaults: InjectionDefaults;
  readonly namespaces: ReadonlyMap<string, NamespaceInfo>;
  readonly notes: string[];
  readonly errors: string[];
}

function namespaceView(obj: Obj, template: Pod, ctx: Context): NamespaceView {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name =
    template.metadata?.namespace ?? (typeof meta.namespace === 'string' ? meta.namespace : undefined);
  const ns = name !== undefined ? ctx.namespaces.get(name) : undefined;
  return ns !== undefined ? { state: 'known', ns } : NO_NAMESPACE;
}

function injectObject(obj: Obj, where: string, ctx: Context): boolean {
  const { defaults, notes, errors } = ctx;
  if (obj.kind === 'List') {
    if (!Array.isArray(obj.items)) {
      errors.push(`${where}: items: expected a list`);
      return false;
    }
    let changed = false;
    obj.items.forEach((item: unknown, i) => {
      if (!isObject(item)) {
        errors.push(`${where}: items[${i}]: expected an object`);
        return;
      }
      if (injectObject(item, `${where} items[${i}] (${String(item.kind)})`, ctx)) changed = true;
    });
    return changed;
  }
  const path = typeof obj.kind === 'string' ? TEMPLATE_PATHS[obj.kind] : undefined;
  if (path === undefined) return false;
  let parent: Obj = obj;
  for (let i = 0; i < path.length - 1; i++) {
    const next = parent[path[i]!];
    if (!isObject(next)) {
      errors.push(`${where}: ${path.slice(0, i + 1).join('.')}: expected an object`);
      return false;
    }
    parent = next;
  }
  const key = path[path.length - 1];
  const template = key === undefined ? obj : parent[key];
  const prefix = path.length > 0 ? `${path.join('.')}.` : '';
  const problems = checkPodShape(template, prefix);
  if (problems.length > 0) {
    for (const p of problems) errors.push(`${where}: ${p}`);
    return false;
  }
  const pod = template as Pod;
  const decision = decide(pod, defaults, namespaceView(obj, pod, ctx));
  let mutated: Pod | undefined;
  if (!decision.inject) {
    if (decision.denied) {
      for (const p of decision.problems) errors.push(`${where}: ${prefix}metadata.annotations: ${p}`);
      return false;
    }
    notes.push(`${where}:`, ...notInjectedLines(decision).map((l) => `  ${l}`));
    mutated = markSkipped(pod, decision);
    if (mutated === undefined) return false;
  } else {
    const mutation = mutatePod(pod, decision.plan);
    mutated = mutation.pod;
    notes.push(`${where}:`, ...injectedLines(decision.plan, mutation.warnings).map((l) => `  ${l}`));
  }
  if (key === undefined) {
    for (const k of Object.keys(obj)) delete obj[k];
    Object.assign(obj, mutated);
  } else parent[key] = mutated;
  return true;
}

/** Namespace documents of the input, by name. */
function namespacesOf(docs: readonly Document.Parsed[]): Map<string, NamespaceInfo> {
  const out = new Map<string, NamespaceInfo>();
  for (const doc of docs) {
    if (doc.errors.length > 0) continue;
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: 100 });
    } catch {
      continue; // reported when the document itself is processed
    }
    if (!isObject(js) || js.kind !== 'Namespace' || !isObject(js.metadata)) continue;
    const m = js.metadata;
    if (typeof m.name !== 'string') continue;
    out.set(m.name, { name: m.name, labels: stringMap(m.labels), annotations: stringMap(m.annotations) });
  }
  return out;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObject(v)) for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

export function injectYaml(text: string, defaults: InjectionDefaults): InjectResult {
  const notes: string[] = [];
  const errors: string[] = [];
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) return { output: text, notes, errors };
  const ctx: Context = { defaults, namespaces: namespacesOf(docs), notes, errors };
  const out: string[] = [];
  let from = 0;
  docs.forEach((doc, i) => {
    // The document's own text, leading comments and separator included: kept byte for byte
    // when nothing changes.
    const to = doc.range[2];
    const source = text.slice(from, to).replace(/^---[^\n]*\n/, '');
    from = to;
    if (doc.errors.length > 0) {
      for (const e of doc.errors) errors.push(`document ${i + 1}: YAML: ${e.message.split('\n')[0]}`);
      return;
    }
    let js: unknown;
    try {
      js = doc.toJS({ maxAliasCount: 100 });
    } catch (err: unknown) {
      // unresolved aliases, alias bombs
      errors.push(
        `document ${i + 1}: YAML: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
      return;
    }
    if (!isObject(js)) {
      out.push(source);
      return;
    }
    const changed = injectObject(js, describe(i, js), ctx);
    out.push(changed ? new Document(js).toString({ lineWidth: 0 }) : source);
  });
  const output = out
    .filter((d) => d.trim() !== '')
    .map((d) => (d.endsWith('\n') ? d : `${d}\n`))
    .join('---\n');
  return { output, notes, errors };
}

export async function run(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof parseInjectConfig>;
  try {
    parsed = parseInjectConfig(argv, process.env);
  } catch (err: unknown) {
    process.stderr.write(failureLine('inject', err, err instanceof ConfigError ? undefined : 'CFG_INVALID'));
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${INJECT_USAGE}\n`);
    return 0;
  }
  const { file, injection } = parsed.config;
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err: unknown) {
    process.stderr.write(
      codeLine('inject', 'CLI_READ_FAILED', `${file}: ${err instanceof Error ? err.message : String(err)}`),
    );
    return exitStatus('CLI_READ_FAILED');
  }
  const result = injectYaml(
    text,
    resolveDefaults(injection, { nativeSidecar: true, nativeSidecarNamedPorts: true }),
  );
  for (const n of result.notes) process.stderr.write(`${n}\n`);
  if (result.errors.length > 0) {
    // The problems start on their own lines, so no space after the code's colon.
    const code = 'INJ_INVALID_INPUT' satisfies ErrorCode;
    process.stderr.write(`realip inject: ${code}:\n  - ${result.errors.join('\n  - ')}\n`);
    return exitStatus(code);
  }
  process.stdout.write(result.output);
  return 0;
}
