/**
 * The HTTP/2 spoofing client (test/apps/py/h2_forge.py, on the `h2` library in .cache/pyenv) as a
 * child process, and the verdict on what the h2raw Go app recorded. The forger prints one JSON
 * line per stream with every forged value it sent (each unique); the verdict looks for every one
 * of them, and for anything from the forged pools, in every field and trailer the app saw.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { FORWARDING_FIELDS } from '../../../sidecar/http/forwarding-fields.ts';
import type { GoRawSeen, GoSeen } from '../../support/go-app.ts';
import { REPO } from '../../support/procs.ts';

const run = promisify(execFile);
const PYTHON = join(REPO, '.cache/pyenv/bin/python');
const FORGE = join(REPO, 'test/apps/py/h2_forge.py');

export interface ForgeOptions {
  readonly port: number;
  readonly proxy: 'v2' | 'v1' | 'none';
  /** The client the PROXY header names. */
  readonly client: string;
  readonly dest?: string;
  readonly destPort?: number;
  readonly localAddress?: string;
  readonly cases?: readonly string[];
  readonly streams?: number;
  /** First connection number: paths are /c/<conn>/<case>/<stream>. */
  readonly connId: number;
  readonly timeoutS?: number;
  /** Write everything at once, without waiting for the peer's SETTINGS (for peers that refuse). */
  readonly noWait?: boolean;
}

export interface ForgedStream {
  readonly conn: number;
  readonly case: string;
  readonly stream: number;
  readonly path: string;
  readonly headers: readonly [string, string][];
  readonly trailers: readonly [string, string][];
  /** Every forged value this stream carried (unique tokens). */
  readonly forged: readonly string[];
  readonly how: string;
  readonly wire?: Record<string, number>;
  readonly status: number | null;
  /** The response body's first 200 bytes. */
  readonly body: string;
  readonly reset: string | null;
  readonly error: string | null;
}

export interface ForgeSummary {
  readonly conn: number;
  readonly case: string;
  readonly streams: number;
  readonly answered: number;
  readonly closed: string | null;
}

export interface ForgeRun {
  readonly streams: ForgedStream[];
  readonly summaries: ForgeSummary[];
}

/** Every name the HTTP/1.1 policy strips, in the form h2_forge.py forges them (it adds `_` spellings and X-Realip-*). */
export const FORGED_NAMES = FORWARDING_FIELDS.map((f) => f.name);

export async function forge(o: ForgeOptions): Promise<ForgeRun> {
  if (!existsSync(PYTHON)) {
    throw new Error(
      `${PYTHON} is missing: run test/setup.sh (test/setup.d/26-python-test-peers.sh makes it)`,
    );
  }
  const args = [
    FORGE,
    '--port',
    String(o.port),
    '--proxy',
    o.proxy,
    '--client',
    o.client,
    '--conn-id',
    String(o.connId),
    '--fields',
    FORGED_NAMES.join(','),
    '--cases',
    (o.cases ?? ['all']).join(','),
    '--streams',
    String(o.streams ?? 100),
    '--timeout',
    String(o.timeoutS ?? 5),
  ];
  if (o.dest) args.push('--dest', o.dest);
  if (o.destPort) args.push('--dest-port', String(o.destPort));
  if (o.localAddress) args.push('--local-address', o.localAddress);
  if (o.noWait) args.push('--no-wait');
  const { stdout } = await run(PYTHON, args, { maxBuffer: 64 << 20, timeout: 120_000 });
  const streams: ForgedStream[] = [];
  const summaries: ForgeSummary[] = [];
  for (const line of stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const j = JSON.parse(line) as ForgedStream | { summary: ForgeSummary };
    if ('summary' in j) summaries.push(j.summary);
    else streams.push(j);
  }
  return { streams, summaries };
}

/**
 * A net/http (h2c mode) record in the recorder's shape, for the same verdict: every value of
 * every field (net/http merged nothing; it canonicalized the names, the verdict lowercases them)
 * and the trailers it kept (those the request's Trailer field declared: h2_forge.py declares them).
 */
export function fromNetHttp(s: GoSeen): GoRawSeen {
  const pairs = (m: Readonly<Record<string, readonly string[]>>) =>
    Object.entries(m).flatMap(([n, vs]) => vs.map((v) => [n, v] as const));
  return {
    proto: 'h2raw',
    stream: 0,
    method: s.method,
    path: s.path,
    fields: pairs(s.fields),
    trailers: pairs(s.trailers),
    bodyBytes: 0,
    reset: '',
  };
}

/** Anything from the forger's pools: 100.64.0.0/10, 2001:db8:bad::/48, the word "forged". */
const FORGED_POOL = /\b100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.\d+\.\d+|2001:db8:bad:|forged/i;

/**
 * Whether `value` carries `token` as a whole value: not as the prefix of a longer address
 * (100.64.3.23 inside 100.64.3.233, 2001:db8:bad:1::3e inside ...::3ea, forged-1-2 inside forged-1-28).
 */
function carries(value: string, token: string): boolean {
  for (let i = value.indexOf(token); i !== -1; i = value.indexOf(token, i + 1)) {
    if (!/[0-9a-f]/i.test(value.charAt(i + token.length))) return true;
  }
  return false;
}

/** Names that must not reach the app from the client: the policy's list, `_` spellings, X-Realip-*. */
export function isForwardingName(name: string): boolean {
  const n = name.toLowerCase().replaceAll('_', '-');
  return n.startsWith('x-realip-') || FORGED_NAMES.includes(n);
}

/** What the hop must set, exactly, from the PROXY header (the HTTP/1.1 hop's block, rewrite.ts). */
export function expectedFields(client: string, destPort: number): Map<string, string[]> {
  const v6 = client.includes(':');
  return new Map([
    ['x-forwarded-for', [client]],
    ['x-real-ip', [client]],
    ['forwarded', [v6 ? `for="[${client}]"` : `for=${client}`]],
    ['x-forwarded-port', [String(destPort)]],
    ['x-forwarded-proto', ['http']],
  ]);
}

export interface H2Verdict {
  /** Forged values sent (per stream; a value re-sent on a later stream counts again). */
  readonly sent: number;
  /** Forged values found at the app (same counting), plus anything from the pools untied to a stream. */
  readonly reached: number;
  /** Streams the app recorded for these runs. */
  readonly appStreams: number;
  /** One line per problem: forged value seen, wrong or missing forwarding field, forwarding trailer. */
  readonly problems: string[];
}

/**
 * Checks the app's records against what was sent. `client` maps a connection number to the
 * address its PROXY header named (null: the connection had no trusted header, so the app must
 * see no forwarding field value but its peer's, and in practice nothing at all).
 */
export function verdictH2(
  runs: readonly ForgeRun[],
  seen: readonly GoRawSeen[],
  client: (conn: number) => string | null,
  destPort: number,
): H2Verdict {
  const byPath = new Map(runs.flatMap((r) => r.streams.map((s) => [s.path, s] as const)));
  const problems: string[] = [];
  let sent = 0;
  let reached = 0;
  let appStreams = 0;
  for (const r of runs) for (const s of r.streams) sent += s.forged.length;
  for (const a of seen) {
    const s = byPath.get(a.path);
    const conn = Number(/^\/c\/(\d+)\//.exec(a.path)?.[1] ?? Number.NaN);
    if (s) appStreams++;
    const values = [...a.fields, ...a.trailers].map(([n, v]) => `${n}: ${v}`);
    // Every forged token of this stream, wherever it landed.
    for (const token of s?.forged ?? []) {
      const hit = values.find((v) => carries(v, token));
      if (hit) {
        reached++;
        problems.push(`${a.path} (${s?.how}): forged ${token} reached the app as "${hit}"`);
      }
    }
    // Anything from the pools not accounted for above (another stream's value, a mangled one).
    for (const v of values) {
      if (FORGED_POOL.test(v) && !(s?.forged ?? []).some((t) => carries(v, t))) {
        reached++;
        problems.push(`${a.path}: a forged value reached the app: "${v}"`);
      }
    }
    for (const [n] of a.trailers) {
      if (isForwardingName(n)) {
        problems.push(`${a.path}: trailer ${n} reached the app`);
      }
    }
    const want = s && !Number.isNaN(conn) ? client(conn) : null;
    const got = new Map<string, string[]>();
    for (const [n, v] of a.fields) {
      if (!isForwardingName(n)) continue;
      const k = n.toLowerCase();
      got.set(k, [...(got.get(k) ?? []), v]);
    }
    const expected = want === null ? new Map<string, string[]>() : expectedFields(want, destPort);
    for (const [k, v] of got) {
      const e = expected.get(k);
      if (!e || JSON.stringify(e) !== JSON.stringify(v)) {
        problems.push(`${a.path}: ${k} = ${JSON.stringify(v)}, expected ${JSON.stringify(e ?? 'absent')}`);
      }
    }
    for (const [k, e] of expected) {
      if (!got.has(k)) problems.push(`${a.path}: ${k} missing, expected ${JSON.stringify(e)}`);
    }
  }
  return { sent, reached, appStreams, problems };
}
