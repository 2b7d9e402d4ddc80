// The webhook under abuse, as a REAL `realip webhook` process in `files` TLS mode with a
// certificate generated here (kubelet-style secret volume: files behind a ..data symlink, swapped
// atomically). Fuzzed, truncated, huge and malformed AdmissionReview bodies, wrong content types
// and methods: always a 4xx with a code and a reason (or a valid AdmissionReview), never a 5xx,
// never a hang, never a crash. Slow TLS clients (nothing, a partial ClientHello) do not stop
// service. Sustained admissions at a fixed rate (1,000/s; 10 s in CI, 60 s with REALIP_SOAK=full)
// with p99 reported and no error, and a certificate swap in the middle of it that drops nothing.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import fc from 'fast-check';
import { generateCertBundle } from '../../webhook/certs.ts';
import { postMutate, webhookArgv } from '../../devkit/webhook-client.ts';
import { CLI } from '../support/tcp.ts';
import { figure, percentile, pool, rssSampler, size } from './lib/harness.ts';
import { freePortBelowEphemeral } from '../../devkit/ports.ts';

const SEED = process.env.REALIP_SPOOF_SEED ? Number(process.env.REALIP_SPOOF_SEED) : randomInt(1, 2 ** 31);
const FUZZ = size('webhook_fuzz', 2_000, 20_000);
const RATE = size('webhook_rate', 1_000, 1_000);
const SECONDS = size('webhook_seconds', 10, 60);
const SLOW_TLS = size('webhook_slow_tls', 300, 1_000);
const REVIEW_BYTES = readFileSync(
  new URL('../fixtures/admission/web-deployment.review.json', import.meta.url),
);
const REVIEW = readFileSync(
  new URL('../fixtures/admission/web-deployment.review.json', import.meta.url),
  'utf8',
);

interface Answer {
  status: number;
  body: string;
  error?: string;
  fingerprint?: string;
  /** performance.now() when the TLS handshake completed on our side (the certificate was chosen before). */
  secureAt?: number;
}

/** One admission through the shared client; a failure to connect or answer is an `error`, not a throw. */
function post(
  port: number,
  ca: string[],
  body: Buffer | string,
  opts: { agent?: https.Agent | false; contentType?: string | null; method?: string; path?: string } = {},
): Promise<Answer> {
  return postMutate(port, ca, body, { ...opts, timeoutMs: 10_000, tlsDetails: true }).catch(
    (e: NodeJS.ErrnoException) => ({ status: 0, body: '', error: e.code ?? e.message }),
  );
}

/**
 * A body over the limit: the headers announce `bytes` (or `body`'s length), then its first 64 KiB
 * are sent and the client waits.
 * The webhook must answer 413 from the announced length (not wait for, nor buffer, the rest);
 * no answer within 10 s is a hang. (Writing the whole body would only race the webhook's close
 * with EPIPE on this side.)
 */
function hugePost(port: number, ca: string[], bytes: number, body?: Buffer): Promise<Answer> {
  const length = body?.length ?? bytes;
  const first = body ? body.subarray(0, 64 * 1024) : Buffer.alloc(64 * 1024, 'a');
  return new Promise((resolve) => {
    let out = '';
    const s = tls.connect({ host: '127.0.0.1', port, ca }, () => {
      s.write(
        `POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`,
      );
      s.write(first);
    });
    const timer = setTimeout(() => s.destroy(new Error('timeout (hang)')), 10_000);
    s.on('data', (d: Buffer) => {
      out += d.toString('latin1');
    });
    let finished = false;
    const done = (error?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const m = /^HTTP\/1\.1 (\d{3})[\s\S]*?\r\n\r\n([\s\S]*)$/.exec(out);
      if (m) resolve({ status: Number(m[1]), body: m[2]! });
      else resolve({ status: 0, body: out, error: error ?? 'closed without an answer' });
    };
    s.on('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
    s.on('close', () => done());
  });
}

/** A 4xx with {code: WH_*, message}, or a 200 with an AdmissionReview response. Anything else is a violation. */
function acceptable(a: Answer): string | undefined {
  if (a.error) return `no answer: ${a.error}`;
  let json: unknown;
  try {
    json = JSON.parse(a.body);
  } catch {
    return `status ${a.status} with a body that is not JSON: ${a.body.slice(0, 100)}`;
  }
  const j = json as { code?: unknown; message?: unknown; response?: { uid?: unknown; allowed?: unknown } };
  if (a.status >= 400 && a.status < 500) {
    if (typeof j.code === 'string' && /^WH_[A-Z_]+$/.test(j.code) && typeof j.message === 'string')
      return undefined;
    return `4xx without a code and reason: ${a.body.slice(0, 200)}`;
  }
  if (a.status === 200) {
    if (typeof j.response?.uid === 'string' && typeof j.response.allowed === 'boolean') return undefined;
    return `200 that is not an AdmissionReview: ${a.body.slice(0, 200)}`;
  }
  return `status ${a.status}: ${a.body.slice(0, 200)}`;
}

/** Bodies an API server would never send, and a few it would. */
function fuzzBodies(seed: number, n: number): { body: Buffer; contentType: string | null; what: string }[] {
  const review = JSON.parse(REVIEW) as Record<string, unknown>;
  const paths: string[][] = [];
  const walk = (v: unknown, p: string[]) => {
    if (p.length > 0) paths.push(p);
    if (v && typeof v === 'object') for (const [k, c] of Object.entries(v)) walk(c, [...p, k]);
  };
  walk(review, []);
  const mutate = fc
    .tuple(fc.constantFrom(...paths), fc.oneof(fc.jsonValue(), fc.constant(undefined)), fc.nat(3))
    .map(([path, value, times]) => {
      const copy = JSON.parse(REVIEW) as Record<string, unknown>;
      let o = copy as Record<string, unknown>;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
      const last = path.at(-1)!;
      if (value === undefined) delete o[last];
      else o[last] = times === 0 ? JSON.stringify(value) : value;
      return { body: Buffer.from(JSON.stringify(copy)), what: `mutated ${path.join('.')}` };
    });
  const kinds = fc.oneof(
    { weight: 4, arbitrary: mutate },
    {
      weight: 2,
      arbitrary: fc
        .nat(REVIEW.length - 1)
        .map((k) => ({ body: Buffer.from(REVIEW.slice(0, k)), what: `truncated at ${k}` })),
    },
    {
      weight: 2,
      arbitrary: fc
        .jsonValue()
        .map((v) => ({ body: Buffer.from(JSON.stringify(v) ?? ''), what: 'random json' })),
    },
    {
      weight: 1,
      arbitrary: fc
        .uint8Array({ maxLength: 2048 })
        .map((b) => ({ body: Buffer.from(b), what: 'random bytes' })),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        { body: Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), what: 'deep nesting' },
        { body: Buffer.from(REVIEW.replace('"request"', '"__proto__"')), what: 'proto poisoning' },
        {
          body: Buffer.from(
            REVIEW.replace(
              '"kind": "AdmissionReview"',
              '"constructor": {"prototype": {"x": 1}}, "kind": "AdmissionReview"',
            ),
          ),
          what: 'constructor poisoning',
        },
        {
          body: Buffer.from(REVIEW.replace('admission.k8s.io/v1', 'admission.k8s.io/v1beta1')),
          what: 'v1beta1',
        },
        { body: Buffer.from(REVIEW), what: 'valid' },
        {
          body: Buffer.concat([
            Buffer.from(REVIEW.slice(0, 200)),
            Buffer.from([0xff, 0xfe, 0xc0]),
            Buffer.from(REVIEW.slice(200)),
          ]),
          what: 'invalid utf-8',
        },
        { body: Buffer.alloc(0), what: 'empty' },
        { body: Buffer.from('null'), what: 'null' },
      ),
    },
  );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'multipart/form-data; boundary=x',
        'application/json; charset=utf-16',
        'application/yaml',
        'APPLICATION/JSON',
        '',
        null,
      ),
    },
  );
  return fc
    .sample(fc.tuple(kinds, contentType), { seed, numRuns: n })
    .map(([k, ct]) => ({ body: k.body, contentType: ct, what: k.what }));
}

/** utime + stime of a process, ms (Linux /proc; 100 Hz clock ticks). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * A keep-alive TLS connection sending POST /mutate with a minimal response parser: the load
 * generator must cost far less than the webhook (node's https client does not, here).
 */
class TlsPipe {
  private readonly socket: tls.TLSSocket;
  private readonly waiting: ((a: Answer) => void)[] = [];
  private buf = '';
  private answered = 0;
  private closedWhy = '';

  private constructor(socket: tls.TLSSocket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    const fail = (e?: Error) => {
      this.closedWhy ||= e?.message ?? `closed by the webhook after ${this.answered} answers`;
      for (const w of this.waiting.splice(0)) w({ status: 0, body: '', error: this.closedWhy });
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  static open(port: number, ca: string[]): Promise<TlsPipe> {
    return new Promise((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca }, () => resolve(new TlsPipe(s)));
      s.once('error', reject);
    });
  }

  get outstanding(): number {
    return this.waiting.length;
  }

  post(body: Buffer): Promise<Answer> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve({ status: 0, body: '', error: `connection closed (${this.closedWhy})` });
        return;
      }
      this.waiting.push(resolve);
      this.socket.write(
        `POST /mutate HTTP/1.1\r\nHost: w\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      this.socket.write(body);
    });
  }

  private onData(d: Buffer): void {
    this.buf += d.toString('latin1');
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = this.buf.slice(0, end);
      const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (this.buf.length < end + 4 + len) return;
      const body = this.buf.slice(end + 4, end + 4 + len);
      this.buf = this.buf.slice(end + 4 + len);
      this.answered++;
      this.waiting.shift()?.({ status: Number(head.slice(9, 12)), body });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

interface SecretDir {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** Atomically replaces the pair the way the kubelet updates a secret volume; returns the new CA. */
  swap(): Promise<string>;
  readonly cas: string[];
}

async function secretDir(): Promise<SecretDir> {
  const dir = mkdtempSync(join(tmpdir(), 'realip-hardening-webhook-'));
  // Both pairs exist from the start, and clients trust both CAs (as the API server's caBundle does
  // during a rotation); the CA list never changes, so neither do the keep-alive pools keyed on it.
  const bundles = await Promise.all(
    [1, 2].map(() =>
      generateCertBundle({ commonName: 'realip-webhook', sans: ['127.0.0.1'], validityDays: 7 }),
    ),
  );
  let generation = 0;
  const install = async () => {
    const b = bundles[generation]!;
    const gen = join(dir, `..gen${++generation}`);
    mkdirSync(gen);
    writeFileSync(join(gen, 'tls.crt'), b.cert);
    writeFileSync(join(gen, 'tls.key'), b.key);
    symlinkSync(`..gen${generation}`, join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    return b.ca;
  };
  await install();
  symlinkSync('..data/tls.crt', join(dir, 'tls.crt'));
  symlinkSync('..data/tls.key', join(dir, 'tls.key'));
  return {
    dir,
    certFile: join(dir, 'tls.crt'),
    keyFile: join(dir, 'tls.key'),
    swap: install,
    cas: bundles.map((b) => b.ca),
  };
}

describe(`webhook under abuse (seed ${SEED})`, () => {
  let secret: SecretDir;
  let child: ChildProcess;
  let output = '';
  let port = 0;
  let metricsPort = 0;
  let rss: ReturnType<typeof rssSampler>;

  before(async () => {
    secret = await secretDir();
    port = await freePortBelowEphemeral();
    metricsPort = await freePortBelowEphemeral();
    child = spawn(
      process.execPath,
      webhookArgv(CLI, {
        port,
        metricsPort,
        args: [
          '--tls-cert-file',
          secret.certFile,
          '--tls-key-file',
          secret.keyFile,
          '--tls-poll-interval-ms',
          '500',
          '--log-level',
          'warn',
        ],
      }),
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          REALIP_NATIVE_SIDECAR: 'on',
          REALIP_TRUSTED_CIDRS: '10.0.0.0/8',
          REALIP_SIDECAR_IMAGE: 'registry.example/realip/sidecar:hardening',
        },
      },
    );
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-100_000);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`webhook exited ${child.exitCode}:\n${output}`);
      const ok = await fetch(`http://127.0.0.1:${metricsPort}/readyz`)
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ok) break;
      if (Date.now() > until) throw new Error(`webhook not ready:\n${output}`);
      await sleep(100);
    }
    rss = rssSampler(child.pid!, 200);
    console.log(`webhook fuzz seed: ${SEED} (re-run with REALIP_SPOOF_SEED=${SEED})`);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    if (secret) rmSync(secret.dir, { recursive: true, force: true });
  });

  const alive = () => assert.equal(child.exitCode, null, `webhook died:\n${output}`);

  test(`${FUZZ} fuzzed, truncated, malformed bodies and wrong content types: 4xx with a reason or a review`, async (t) => {
    const cases = fuzzBodies(SEED, FUZZ);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 8 });
    const bad: string[] = [];
    const statuses: Record<string, number> = {};
    await pool(cases.length, 8, async (i) => {
      const c = cases[i]!;
      const a = await post(port, secret.cas, c.body, { agent, contentType: c.contentType });
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      const why = acceptable(a);
      if (why) bad.push(`${c.what} (content-type ${c.contentType}): ${why}`);
    });
    // Shapes outside the body: huge bodies, wrong methods and paths.
    const extra: [string, Promise<Answer>][] = [
      ['huge body (4 MiB)', hugePost(port, secret.cas, 4 * 1024 * 1024)],
      ['huge body (1 GiB announced)', hugePost(port, secret.cas, 1024 * 1024 * 1024)],
      [
        'huge valid-looking review (3.5 MiB annotation)',
        hugePost(
          port,
          secret.cas,
          0,
          Buffer.from(
            REVIEW.replace('"namespace": "shop"', `"namespace": "shop", "pad": "${'x'.repeat(3_500_000)}"`),
          ),
        ),
      ],
      ['GET /mutate', post(port, secret.cas, '', { agent, method: 'GET' })],
      ['PUT /mutate', post(port, secret.cas, REVIEW, { agent, method: 'PUT' })],
      ['POST /nothing', post(port, secret.cas, REVIEW, { agent, path: '/nothing' })],
      ['POST /mutate?x=../../', post(port, secret.cas, REVIEW, { agent, path: '/mutate?x=../../' })],
    ];
    for (const [what, p] of extra) {
      const a = await p;
      statuses[a.status] = (statuses[a.status] ?? 0) + 1;
      const why = acceptable(a);
      if (why) bad.push(`${what}: ${why}`);
    }
    agent.destroy();
    alive();
    figure(t, {
      case: 'webhook: fuzzed and malformed requests',
      tried: cases.length + extra.length,
      passed: cases.length + extra.length - bad.length,
      violations: bad.length,
      peakRssMb: rss.peakMb(),
      note: `seed ${SEED}; statuses ${JSON.stringify(statuses)}`,
    });
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} unacceptable answers`);
  });

  test(`${SLOW_TLS} slow TLS clients (nothing, a partial ClientHello) do not stop service`, async (t) => {
    // A real ClientHello's first bytes, captured from a TLS connect, cut short.
    const hello = await new Promise<Buffer>((resolve) => {
      const srv = net.createServer((s) =>
        s.once('data', (d: Buffer) => {
          resolve(d);
          s.destroy();
          srv.close();
        }),
      );
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        const s = https.request({ host: '127.0.0.1', port: p, agent: false });
        s.on('error', () => {});
        s.end();
      });
    });
    const slow: net.Socket[] = [];
    let closedEarly = 0;
    for (let i = 0; i < SLOW_TLS; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.on('close', () => closedEarly++);
      if (i % 3 === 1) s.on('connect', () => s.write(hello.subarray(0, 5 + (i % 40))));
      if (i % 3 === 2) s.on('connect', () => s.write(hello.subarray(0, 3)));
      slow.push(s);
    }
    await sleep(500);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 4 });
    const latencies: number[] = [];
    const bad: string[] = [];
    for (let i = 0; i < 200; i++) {
      const at = performance.now();
      const a = await post(port, secret.cas, REVIEW, { agent });
      latencies.push(performance.now() - at);
      if (a.status !== 200) bad.push(acceptable(a) ?? String(a.status));
    }
    agent.destroy();
    alive();
    const open = slow.filter((s) => !s.destroyed).length;
    for (const s of slow) s.destroy();
    figure(t, {
      case: 'webhook: slow TLS clients',
      tried: SLOW_TLS + 200,
      passed: 200 - bad.length + SLOW_TLS,
      violations: bad.length,
      peakRssMb: rss.peakMb(),
      p99Ms: percentile(latencies, 99),
      note: `${open} slow clients still open after the run (Node's TLS handshake timeout is 120 s), ${closedEarly} closed earlier; admissions meanwhile p50 ${percentile(latencies, 50)} ms`,
    });
    assert.deepEqual(bad, []);
    assert.ok(percentile(latencies, 99) < 500, `p99 ${percentile(latencies, 99)} ms with slow TLS clients`);
  });

  test(`${RATE} admissions/s for ${SECONDS} s with a certificate swap in the middle: no error`, {
    timeout: (SECONDS + 60) * 1000,
  }, async (t) => {
    // Like the API server: keep-alive connections with one request in flight each (no pipelining:
    // node's HTTP server drops a connection that pipelines many requests with large answers,
    // HPE_PAUSED; see docs/hardening.md). Requests wait here when every connection is busy.
    const pipes = await Promise.all(Array.from({ length: 64 }, () => TlsPipe.open(port, secret.cas)));
    const queue: { body: Buffer; resolve: (a: Answer) => void }[] = [];
    const idle = [...pipes];
    const send = (body: Buffer): Promise<Answer> =>
      new Promise((resolve) => {
        queue.push({ body, resolve });
        pump();
      });
    const pump = () => {
      while (idle.length > 0 && queue.length > 0) {
        const pipe = idle.pop()!;
        const job = queue.shift()!;
        void pipe.post(job.body).then((a) => {
          idle.push(pipe);
          job.resolve(a);
          pump();
        });
      }
    };
    const total = RATE * SECONDS;
    const latencies: number[] = [];
    const errors: string[] = [];
    const fresh: { at: number; secureAt: number; fingerprint: string }[] = [];
    const inflight: Promise<void>[] = [];
    const start = performance.now();
    let swapStart = Number.POSITIVE_INFINITY;
    let swappedAt = Number.POSITIVE_INFINITY;
    let newCa = '';
    const cpuBefore = cpuMs(child.pid!);
    const swap = (async () => {
      await sleep((SECONDS * 1000) / 2);
      swapStart = performance.now();
      newCa = await secret.swap();
      swappedAt = performance.now();
    })();
    for (let i = 0; i < total; i++) {
      const scheduled = start + (i * 1000) / RATE;
      const wait = scheduled - performance.now();
      if (wait > 1) await sleep(wait);
      // One request in 50 on a new TLS connection: it shows which certificate is served now.
      const own = i % 50 === 0;
      const sentAt = performance.now();
      inflight.push(
        (own ? post(port, secret.cas, REVIEW) : send(REVIEW_BYTES)).then((a) => {
          latencies.push(performance.now() - scheduled);
          if (a.status !== 200 || !a.body.includes('"patchType":"JSONPatch"'))
            errors.push(
              `${a.status} ${a.error ?? a.body.slice(0, 100)} at ${((performance.now() - start) / 1000).toFixed(2)} s (swap at ${((swapStart - start) / 1000).toFixed(2)} s)`,
            );
          if (own && a.fingerprint)
            fresh.push({ at: sentAt, secureAt: a.secureAt ?? sentAt, fingerprint: a.fingerprint });
        }),
      );
    }
    await Promise.all(inflight);
    await swap;
    const seconds = (performance.now() - start) / 1000;
    const cpuPerAdmission = (cpuMs(child.pid!) - cpuBefore) / total;
    for (const p of pipes) p.close();
    alive();
    const fingerprints = new Set(fresh.map((f) => f.fingerprint));
    // New connections whose handshake was over before the swap began got the first certificate;
    // those opened 1.5 s after it (fs.watch, or the 500 ms poll) the second. The handshake time,
    // not the send time: on a loaded machine a connection asked for before the swap may shake
    // hands seconds later (seen: 500 admissions/s achieved of 1000, p50 9 s behind schedule).
    const before = new Set(fresh.filter((f) => f.secureAt < swapStart).map((f) => f.fingerprint));
    const later = new Set(fresh.filter((f) => f.at > swappedAt + 1500).map((f) => f.fingerprint));
    const p99 = percentile(latencies, 99);
    figure(t, {
      case: 'webhook: sustained admissions + cert swap',
      tried: total,
      passed: total - errors.length,
      violations: errors.length,
      errors: errors.length,
      peakRssMb: rss.stop(),
      p99Ms: p99,
      note: `${Math.round(total / seconds)} admissions/s achieved over ${seconds.toFixed(1)} s; p50 ${percentile(latencies, 50)} ms (latency counted from the scheduled send time); webhook CPU ${cpuPerAdmission.toFixed(2)} ms per admission; ${fingerprints.size} certificates seen by new connections`,
    });
    assert.deepEqual(errors.slice(0, 5), [], `${errors.length} admissions failed`);
    assert.ok(newCa !== '' && Number.isFinite(swappedAt), 'the certificate was swapped');
    assert.equal(fingerprints.size, 2, 'new connections after the swap did not get the new certificate');
    assert.equal(before.size, 1, 'new connections before the swap saw two certificates');
    assert.equal(later.size, 1, 'new connections 1.5 s after the swap got both certificates');
    assert.notDeepEqual(
      [...later],
      [...before],
      'new connections after the swap still got the old certificate',
    );
  });
});
