/**
 * Runs spoofing cases against a sidecar listener and checks what the recording apps saw.
 * The apps: an HTTP app on node:http with the LENIENT parser (insecureHTTPParser: the most
 * credulous app a sidecar may front: it joins folded lines, accepts odd framing), a PROXY-aware TCP
 * app (reads the header the tcp hop emits), and a plain TCP app (its peer address, transparent).
 */
import http from 'node:http';
import net from 'node:net';
import { setImmediate as tick } from 'node:timers/promises';
import { normalizeIp } from '../../../common/ip.ts';
import { decode } from '../../../sidecar/proxy-protocol/decode.ts';
import { addressesIn, isLoopback, type SpoofCase } from './spoof-gen.ts';

export interface Seen {
  /** Connection index the app could tie the traffic to (path /c/N/, /smuggled/N, or id:N). */
  readonly index: number | null;
  /** Addresses the app would believe: forwarding headers (http), header source (tcp), peer (transparent). */
  readonly addresses: readonly string[];
  /** X-Realip-* values (http). */
  readonly tlvValues: readonly string[];
  /** Raw forwarding-header values, for messages. */
  readonly raw: string;
}

export interface RecordingApp {
  readonly server: net.Server;
  readonly seen: Seen[];
  port(): number;
  close(): Promise<void>;
}

const FORWARDING = new Set(['x-forwarded-for', 'x-real-ip', 'forwarded']);

function indexOf(text: string): number | null {
  const m = /\/(?:c|smuggled)\/(\d+)/.exec(text) ?? /id:(\d+)\n/.exec(text);
  return m ? Number(m[1]) : null;
}

function listen(server: net.Server, host: string, port = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, ipv6Only: false }, () => resolve());
  });
}

function app(server: net.Server, seen: Seen[]): RecordingApp {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    server,
    seen,
    port: () => (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export async function httpApp(host = '127.0.0.1'): Promise<RecordingApp> {
  const seen: Seen[] = [];
  const server = http.createServer(
    { insecureHTTPParser: true, requireHostHeader: false, keepAliveTimeout: 5000 },
    (req, res) => {
      const addresses: string[] = [];
      const tlvValues: string[] = [];
      let raw = '';
      const h = req.rawHeaders;
      for (let i = 0; i + 1 < h.length; i += 2) {
        const name = h[i]!.toLowerCase();
        const value = h[i + 1]!;
        if (FORWARDING.has(name)) {
          raw += `${h[i]}: ${value} | `;
          addresses.push(...addressesIn(value));
          if (value.includes('forged')) addresses.push(`forged-marker(${value})`);
        } else if (name.startsWith('x-realip-')) {
          raw += `${h[i]}: ${value} | `;
          tlvValues.push(value);
        }
      }
      seen.push({ index: indexOf(req.url ?? ''), addresses, tlvValues, raw });
      req.resume();
      req.on('end', () => res.end('ok'));
      req.on('error', () => res.destroy());
    },
  );
  server.on('clientError', (_err, socket) => socket.destroy());
  await listen(server, host);
  return app(server, seen);
}

/** PROXY-aware app: records the source of the header the tcp hop emitted, and the id line after it. */
export async function proxyAwareApp(host = '127.0.0.1'): Promise<RecordingApp> {
  const seen: Seen[] = [];
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let source: string | null = null;
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const after = buf.toString('latin1');
      seen.push({
        index: indexOf(after),
        addresses: source ? [source] : ['no-header-from-sidecar'],
        tlvValues: [],
        raw: after.slice(0, 80),
      });
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (source === null) {
        const r = decode(buf);
        if (r.kind === 'need-more') return;
        if (r.kind === 'error') {
          source = `bad-header(${r.error.code})`;
        } else {
          source = r.header.source?.address ?? `no-source(${r.header.command} ${r.header.family})`;
          buf = buf.subarray(r.consumed);
        }
      }
      if (buf.includes(0x0a)) record();
    });
    s.on('end', () => {
      if (source !== null) record();
      s.end();
    });
    s.on('error', () => {});
  });
  await listen(server, host);
  return app(server, seen);
}

/** Unmodified TCP app: records its peer address (what getpeername says) and the id line. */
export async function peerApp(host = '::', port = 0): Promise<RecordingApp> {
  const seen: Seen[] = [];
  const server = net.createServer((s) => {
    const peer = normalizeIp(s.remoteAddress ?? 'none');
    let buf = Buffer.alloc(0);
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      const after = buf.toString('latin1');
      seen.push({ index: indexOf(after), addresses: [peer], tlvValues: [], raw: after.slice(0, 80) });
    };
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.includes(0x0a)) record();
    });
    s.on('end', () => {
      record();
      s.end();
    });
    s.on('error', () => {});
  });
  await listen(server, host, port);
  return app(server, seen);
}

/** One hostile client: connect, write the chunks as separate segments, half-close, wait for close. */
export function runClient(
  c: SpoofCase,
  port: number,
  timeoutMs: number,
): Promise<'closed' | 'timeout' | 'error'> {
  return new Promise((resolve) => {
    let outcome: 'closed' | 'timeout' | 'error' = 'closed';
    const s = net.connect({ host: c.host, port, localAddress: c.localAddress, noDelay: true });
    const timer = setTimeout(() => {
      outcome = 'timeout';
      s.destroy();
    }, timeoutMs);
    s.on('error', () => {
      if (outcome === 'closed') outcome = 'error';
    });
    s.on('data', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(outcome);
    });
    s.once('connect', async () => {
      for (const chunk of c.chunks) {
        if (s.destroyed) return;
        s.write(chunk);
        await tick();
      }
      if (!s.destroyed) s.end();
    });
  });
}

export interface SpoofVerdict {
  /** Addresses (or forged markers) seen that did not come from a trusted PROXY header. */
  readonly violations: string[];
  /** Connections with no violation. */
  readonly passed: number;
  /** Requests / connections the apps saw. */
  readonly appSaw: number;
}

/** Checks everything the apps saw against the cases that were sent. */
export function verdict(cases: readonly SpoofCase[], seen: readonly Seen[]): SpoofVerdict {
  const byIndex = new Map(cases.map((c) => [c.index, c]));
  const trustedAll = new Set(cases.filter((c) => c.legit).map((c) => normalizeIp(c.legit!)));
  const violations: string[] = [];
  const bad = new Set<number>();
  for (const s of seen) {
    const c = s.index === null ? undefined : byIndex.get(s.index);
    const legit = c?.legit ? normalizeIp(c.legit) : undefined;
    for (const a0 of s.addresses) {
      const a = a0.startsWith('forged') || a0.includes('(') ? a0 : normalizeIp(a0);
      const ok = isLoopback(a) || (c ? a === legit : trustedAll.has(a));
      if (!ok) {
        violations.push(
          `conn ${s.index ?? '?'} (${c?.kind ?? 'untied'}, mode ${c?.mode ?? '?'}): app saw ${a} ` +
            `(trusted: ${legit ?? 'none'}); ${s.raw}; bytes ${JSON.stringify(
              Buffer.concat(c?.chunks ?? [])
                .toString('latin1')
                .slice(0, 600),
            )}`,
        );
        if (s.index !== null) bad.add(s.index);
      }
    }
    for (const v of s.tlvValues) {
      const ok = c ? c.legitTlvs.includes(v) || /^[0-9a-f]+$/.test(v) : !v.includes('forged');
      if (!ok || v.includes('forged')) {
        violations.push(
          `conn ${s.index ?? '?'} (${c?.kind ?? 'untied'}): app saw TLV header value ${JSON.stringify(v)}`,
        );
        if (s.index !== null) bad.add(s.index);
      }
    }
  }
  return { violations, passed: cases.length - bad.size, appSaw: seen.length };
}

/** Sends every case (at most `concurrency` at once); resolves with client outcomes. */
export async function sendAll(
  cases: readonly SpoofCase[],
  port: number,
  concurrency: number,
  timeoutMs: number,
): Promise<{ closed: number; timeout: number; error: number }> {
  const out = { closed: 0, timeout: 0, error: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const c = cases[next++]!;
        out[await runClient(c, port, timeoutMs)]++;
      }
    }),
  );
  return out;
}
