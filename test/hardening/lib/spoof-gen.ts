/**
 * The spoofing generator: hostile connections for the http, tcp and transparent listeners, drawn
 * with fast-check from a printed seed (re-run one with REALIP_SPOOF_SEED). Pure: it returns bytes
 * and what the app may legitimately see; spoof-run.ts sends them.
 *
 * Two address pools that never meet:
 * - TRUSTED (10.0.0.0/8, fd00:7:: /32): only in a well-formed FIRST header from a trusted source,
 *   one distinct address per connection, so a leak from one connection into another is visible;
 * - FORGED (100.64.0.0/10, 2001:db8:bad::/48, and the word "forged"): everywhere an attacker can
 *   put bytes: untrusted headers, second headers, broken headers, X-Forwarded-For & co in any
 *   casing or folding, smuggled requests in bodies, TLV values carrying CR/LF.
 * An app that ever sees an address outside {its connection's trusted address, a loopback peer}
 * has been spoofed.
 */
import fc from 'fast-check';
import { encodeV1, encodeV2 } from '../../../sidecar/proxy-protocol/encode.ts';
import { TlvType } from '../../../sidecar/proxy-protocol/tlv.ts';
import type { Tlv } from '../../../sidecar/proxy-protocol/types.ts';

export type SpoofMode = 'http' | 'tcp' | 'transparent';

export interface SpoofCase {
  readonly index: number;
  readonly mode: SpoofMode;
  /** Header shape, for the per-kind figures. */
  readonly kind: string;
  /** Connect to the sidecar over this loopback family... */
  readonly host: '127.0.0.1' | '::1';
  /** ...from this address (127.0.0.1 / ::1 are trusted, 127.0.0.2.. are not). */
  readonly localAddress: string;
  /** The bytes, as separate writes (split points drawn by the generator). */
  readonly chunks: readonly Buffer[];
  /** The trusted address the app may see for this connection (null: only a loopback peer). */
  readonly legit: string | null;
  /** TLV values the app may see as X-Realip-* headers. */
  readonly legitTlvs: readonly string[];
}

/** Deterministic distinct trusted addresses: index -> a scattered 10/8 or fd00:7::/32 address. */
export function trustedAddress(index: number, v6: boolean, salt: number): string {
  const x = (Math.imul(index + 1, 2654435761) ^ salt) >>> 0;
  if (!v6) return `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;
  return `fd00:7:${(index >> 16).toString(16)}:${(index & 0xffff).toString(16)}:${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}:1:${((x >>> 8) & 0xffff).toString(16)}`;
}

const forgedV4 = fc
  .tuple(fc.integer({ min: 64, max: 127 }), fc.nat(255), fc.nat(255))
  .map(([b, c, d]) => `100.${b}.${c}.${d}`);
const forgedV6 = fc
  .tuple(fc.nat(0xffff), fc.nat(0xffff))
  .map(([a, b]) => `2001:db8:bad:${a.toString(16)}::${b.toString(16)}`);
const forged = fc.oneof(forgedV4, forgedV6);
const port = fc.integer({ min: 1, max: 65535 });

/** Random casing of a header name. */
const casing = (name: string) =>
  fc
    .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
    .map((bits) => [...name].map((ch, i) => (bits[i] ? ch.toUpperCase() : ch.toLowerCase())).join(''));

const forwardingName = fc.constantFrom(
  'X-Forwarded-For',
  'X-Real-IP',
  'Forwarded',
  'X-Realip-Authority',
  'X-Realip-Unique-Id',
  'X-Realip-Aws-Vpce-Id',
);

const forgedValue = fc.oneof(
  forged,
  fc.tuple(forged, forged).map(([a, b]) => `${a}, ${b}`),
  forgedV4.map((a) => `for=${a}`),
  forgedV6.map((a) => `for="[${a}]";proto=https`),
  forgedV4.map((a) => `for=unknown, For=${a};by=forged`),
  forged.map((a) => `forged-${a}`),
);

/** One forged forwarding header line (without its line end), in a hostile shape. */
const forgedHeader = fc
  .record({
    name: forwardingName.chain(casing),
    value: forgedValue,
    value2: forgedValue,
    shape: fc.constantFrom(
      'plain',
      'plain',
      'plain',
      'plain',
      'no-space',
      'dup',
      'dup',
      'fold',
      'fold-tab',
      'space-before-colon',
      'tab-before-colon',
      'dup',
      'bare-cr',
      'nul',
      'leading-space',
      'empty-then-fold',
    ),
  })
  .map(({ name, value, value2, shape }) => {
    switch (shape) {
      case 'no-space':
        return `${name}:${value}`;
      case 'fold':
        return `${name}: ${value}\r\n ${value2}`;
      case 'fold-tab':
        return `${name}: ${value}\r\n\t${value2}`;
      case 'space-before-colon':
        return `${name} : ${value}`;
      case 'tab-before-colon':
        return `${name}\t: ${value}`;
      case 'dup':
        return `${name}: ${value}\r\n${name}: ${value2}`;
      case 'bare-cr':
        return `${name}: ${value}\r${name}: ${value2}`;
      case 'nul':
        return `${name}: ${value}\u0000${value2}`;
      case 'leading-space':
        return ` ${name}: ${value}`;
      case 'empty-then-fold':
        return `${name}:\r\n ${value}`;
      default:
        return `${name}: ${value}`;
    }
  });

function smuggled(index: number, a: string): string {
  return `GET /smuggled/${index} HTTP/1.1\r\nHost: s\r\nX-Forwarded-For: ${a}\r\nX-Real-IP: ${a}\r\nForwarded: for=${a}\r\n\r\n`;
}

/** Body framing, including the request-smuggling shapes; the body carries a forged request. */
const framing = fc.constantFrom(
  'none',
  'none',
  'none',
  'none',
  'none',
  'cl',
  'cl',
  'chunked',
  'cl-short',
  'cl',
  'cl-short',
  'chunked',
  'cl+te',
  'te+cl',
  'two-cl-same',
  'two-cl-diff',
  'te-identity',
  'te-chunked-identity',
  'te-space',
  'te-case',
  'te-twice',
  'chunk-hex-prefix',
  'chunk-ext',
  'chunk-negative',
  'chunk-overflow',
  'chunk-lf-only',
  'chunk-plus',
  'cl-plus',
  'cl-comma',
);

function body(shape: string, smug: string): { headers: string[]; bytes: string } {
  const chunk = (size: string, data: string) => `${size}\r\n${data}\r\n0\r\n\r\n`;
  const n = smug.length;
  const hex = n.toString(16);
  switch (shape) {
    case 'cl':
      return { headers: [`Content-Length: ${n}`], bytes: smug };
    case 'cl-short':
      return { headers: ['Content-Length: 3'], bytes: `abc${smug}` };
    case 'chunked':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(hex, smug) };
    case 'cl+te':
      return { headers: ['Content-Length: 5', 'Transfer-Encoding: chunked'], bytes: `0\r\n\r\n${smug}` };
    case 'te+cl':
      return {
        headers: ['Transfer-Encoding: chunked', `Content-Length: ${n + 7}`],
        bytes: `0\r\n\r\n${smug}`,
      };
    case 'two-cl-same':
      return { headers: [`Content-Length: ${n}`, `Content-Length: ${n}`], bytes: smug };
    case 'two-cl-diff':
      return { headers: ['Content-Length: 0', `Content-Length: ${n}`], bytes: smug };
    case 'te-identity':
      return { headers: ['Transfer-Encoding: identity'], bytes: smug };
    case 'te-chunked-identity':
      return { headers: ['Transfer-Encoding: chunked, identity'], bytes: `0\r\n\r\n${smug}` };
    case 'te-space':
      return { headers: ['Transfer-Encoding : chunked'], bytes: `0\r\n\r\n${smug}` };
    case 'te-case':
      return { headers: ['transfer-encoding: CHUNKED'], bytes: chunk(hex, smug) };
    case 'te-twice':
      return {
        headers: ['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'],
        bytes: chunk(hex, smug),
      };
    case 'chunk-hex-prefix':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(`0x${hex}`, smug) };
    case 'chunk-ext':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(`${hex};a="\r\n"`, smug) };
    case 'chunk-negative':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(`-${hex}`, smug) };
    case 'chunk-overflow':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(`1000000000000000${hex}`, smug) };
    case 'chunk-lf-only':
      return { headers: ['Transfer-Encoding: chunked'], bytes: `${hex}\n${smug}\n0\n\n` };
    case 'chunk-plus':
      return { headers: ['Transfer-Encoding: chunked'], bytes: chunk(`+${hex}`, smug) };
    case 'cl-plus':
      return { headers: [`Content-Length: +${n}`], bytes: smug };
    case 'cl-comma':
      return { headers: [`Content-Length: ${n}, ${n}`], bytes: smug };
    default:
      return { headers: [], bytes: '' };
  }
}

const httpRequest = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'OPTIONS'),
  version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'),
  forged: fc.array(forgedHeader, { maxLength: 3 }),
  forgedAfterHost: fc.boolean(),
  framing,
  smugAddr: forged,
  lfOnly: fc.nat(9).map((x) => x === 0),
  keepAlive: fc.boolean(),
});

type HttpRequestSpec = typeof httpRequest extends fc.Arbitrary<infer T> ? T : never;

function renderRequest(index: number, n: number, r: HttpRequestSpec): string {
  const b = body(r.framing, smuggled(index, r.smugAddr));
  const lines = [`${r.method} /c/${index}/${n} ${r.version}`];
  if (!r.forgedAfterHost) lines.push(...r.forged);
  lines.push('Host: app.example');
  if (r.version === 'HTTP/1.0' && r.keepAlive) lines.push('Connection: keep-alive');
  lines.push(...b.headers);
  if (r.forgedAfterHost) lines.push(...r.forged);
  const eol = r.lfOnly ? '\n' : '\r\n';
  return `${lines.join(eol)}${eol}${eol}${b.bytes}`;
}

/** TLVs of a trusted v2 header: safe values the app may see, and values carrying CR/LF that it must not. */
const tlvSpec = fc.array(
  fc.record({
    which: fc.constantFrom('authority', 'unique-id', 'aws'),
    evil: fc.boolean(),
    addr: forged,
    sep: fc.constantFrom('\r\n', '\n', '\r', '\u0000', ' ', ','),
    n: fc.nat(1_000_000),
  }),
  { maxLength: 3 },
);

function renderTlvs(spec: typeof tlvSpec extends fc.Arbitrary<infer T> ? T : never): {
  tlvs: Tlv[];
  legit: string[];
} {
  const tlvs: Tlv[] = [];
  const legit: string[] = [];
  for (const t of spec) {
    const value = t.evil ? `forged${t.sep}X-Forwarded-For: ${t.addr}` : `ok-${t.which}-${t.n}.example`;
    if (!t.evil) legit.push(value);
    if (t.which === 'authority') tlvs.push({ type: TlvType.AUTHORITY, value: Buffer.from(value) });
    else if (t.which === 'unique-id') tlvs.push({ type: TlvType.UNIQUE_ID, value: Buffer.from(value) });
    else tlvs.push({ type: TlvType.AWS, value: Buffer.concat([Buffer.from([1]), Buffer.from(value)]) });
  }
  return { tlvs, legit };
}

/** Header shapes. Only 'v1', 'v2' and 'v2-tlv' from a trusted source may be believed. */
const HEADER_KINDS = [
  'v1',
  'v2',
  'v2-tlv',
  'second-header',
  'untrusted-source',
  'none',
  'v2-local-with-addrs',
  'v1-unknown-with-addrs',
  'v2-unspec-with-addrs',
  'v2-bad-crc',
  'v2-family-mismatch',
  'v2-udp',
  'v2-oversized',
  'v2-truncated',
  'v1-truncated',
  'v1-bare-lf',
  'v1-leading-zeros',
  'v1-108',
  'v1-family-mismatch',
  'v1-lowercase',
  'v2-bad-version',
  'v2-bad-gcp-tlv',
  'garbage',
] as const;

const connectionSpec = fc.record({
  // Half the connections carry a well-formed trusted header, so the requests reach the app.
  kind: fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(...HEADER_KINDS) },
    { weight: 1, arbitrary: fc.constantFrom('v1', 'v2', 'v2-tlv', 'v2-tlv') },
  ),
  v6: fc.boolean(),
  forgedAddr: forged,
  forgedV4,
  forgedV6,
  sport: port,
  dport: port,
  tlvs: tlvSpec,
  requests: fc.array(httpRequest, { minLength: 1, maxLength: 3 }),
  junk: fc.uint8Array({ maxLength: 64 }),
  cutMode: fc.constantFrom('random', 'random', 'bytes-of-header', 'whole'),
  cuts: fc.array(fc.nat(4096), { maxLength: 6 }),
  untrustedHost: fc.integer({ min: 2, max: 254 }),
  trunc: fc.nat(1000),
});

type ConnectionSpec = typeof connectionSpec extends fc.Arbitrary<infer T> ? T : never;

function v2(family: 'TCP4' | 'TCP6', src: string, dst: string, s: ConnectionSpec, tlvs: Tlv[] = []) {
  return encodeV2({
    family,
    source: { address: src, port: s.sport },
    destination: { address: dst, port: s.dport },
    tlvs,
  });
}

/** Builds one connection. `salt` keeps trusted addresses scattered per run. */
export function buildCase(index: number, mode: SpoofMode, s: ConnectionSpec, salt: number): SpoofCase {
  const t = trustedAddress(index, s.v6, salt);
  const fam = s.v6 ? 'TCP6' : 'TCP4';
  const dst = s.v6 ? 'fd00:7::d' : '10.255.255.254';
  const f = s.v6 ? s.forgedV6 : s.forgedV4;
  let header: Buffer;
  let legit: string | null = null;
  let legitTlvs: string[] = [];
  let untrusted = false;
  switch (s.kind) {
    case 'v1':
      header = encodeV1({
        family: fam,
        source: { address: t, port: s.sport },
        destination: { address: dst, port: s.dport },
      });
      legit = t;
      break;
    case 'v2':
      header = v2(fam, t, dst, s);
      legit = t;
      break;
    case 'v2-tlv': {
      const r = renderTlvs(s.tlvs);
      header = encodeV2(
        {
          family: fam,
          source: { address: t, port: s.sport },
          destination: { address: dst, port: s.dport },
          tlvs: r.tlvs,
        },
        { crc32c: s.sport % 2 === 0 },
      );
      legit = t;
      legitTlvs = r.legit;
      break;
    }
    case 'second-header':
      header = Buffer.concat([
        v2(fam, t, dst, s),
        s.sport % 2 === 0
          ? encodeV1({ family: fam, source: { address: f, port: 1 }, destination: { address: dst, port: 2 } })
          : v2(fam, f, dst, s),
      ]);
      legit = t;
      break;
    case 'untrusted-source':
      untrusted = true;
      header =
        s.sport % 2 === 0
          ? v2('TCP4', s.forgedV4, '10.255.255.254', s)
          : encodeV1({
              family: 'TCP4',
              source: { address: s.forgedV4, port: 1 },
              destination: { address: '10.255.255.254', port: 2 },
            });
      break;
    case 'none':
      header = Buffer.alloc(0);
      break;
    case 'v2-local-with-addrs': {
      // LOCAL with an address block: the addresses must be ignored (the socket's peer is used).
      header = v2(fam, f, dst, s);
      header[12] = 0x20;
      break;
    }
    case 'v1-unknown-with-addrs':
      header = Buffer.from(`PROXY UNKNOWN ${f} ${dst} ${s.sport} ${s.dport}\r\n`, 'latin1');
      break;
    case 'v2-unspec-with-addrs':
      header = v2(fam, f, dst, s);
      header[13] = 0x00;
      break;
    case 'v2-bad-crc': {
      header = encodeV2(
        { family: fam, source: { address: f, port: s.sport }, destination: { address: dst, port: s.dport } },
        { crc32c: true },
      );
      header[header.length - 1] = header[header.length - 1]! ^ 0x5a;
      break;
    }
    case 'v2-family-mismatch': {
      // Claims TCP6 with a TCP4-sized address block (or the reverse with a short block).
      header = v2('TCP4', s.forgedV4, '10.255.255.254', s);
      header[13] = 0x21;
      break;
    }
    case 'v2-udp':
      header = v2(fam, f, dst, s);
      header[13] = (header[13]! & 0xf0) | 0x02;
      break;
    case 'v2-oversized': {
      header = v2(fam, f, dst, s, [{ type: TlvType.NOOP, value: Buffer.alloc(8000 + (s.trunc % 5000)) }]);
      break;
    }
    case 'v2-truncated': {
      const full = v2(fam, f, dst, s);
      header = full.subarray(0, s.trunc % full.length);
      break;
    }
    case 'v1-truncated': {
      const full = encodeV1({
        family: fam,
        source: { address: f, port: s.sport },
        destination: { address: dst, port: s.dport },
      });
      header = full.subarray(0, full.length - 1 - (s.trunc % (full.length - 1)));
      break;
    }
    case 'v1-bare-lf':
      header = Buffer.from(`PROXY ${fam} ${f} ${dst} ${s.sport} ${s.dport}\n`, 'latin1');
      break;
    case 'v1-leading-zeros': {
      const z = s.forgedV4
        .split('.')
        .map((o) => o.padStart(3, '0'))
        .join('.');
      header = Buffer.from(`PROXY TCP4 ${z} 10.255.255.254 0${s.sport} ${s.dport}\r\n`, 'latin1');
      break;
    }
    case 'v1-108': {
      // 108 bytes: one more than the spec's maximum line.
      const base = `PROXY TCP6 ${s.forgedV6} fd00:7::d ${s.sport} ${s.dport}`;
      header = Buffer.from(`${base}${' '.repeat(Math.max(0, 106 - base.length))}\r\n`, 'latin1');
      break;
    }
    case 'v1-family-mismatch':
      header = Buffer.from(`PROXY TCP4 ${s.forgedV6} fd00:7::d ${s.sport} ${s.dport}\r\n`, 'latin1');
      break;
    case 'v1-lowercase':
      header = Buffer.from(`proxy tcp4 ${s.forgedV4} 10.255.255.254 ${s.sport} ${s.dport}\r\n`, 'latin1');
      break;
    case 'v2-bad-version': {
      header = v2(fam, f, dst, s);
      header[12] = 0x11;
      break;
    }
    case 'v2-bad-gcp-tlv':
      header = v2(fam, f, dst, s, [{ type: TlvType.GCP, value: Buffer.from('forged') }]);
      break;
    default:
      header = Buffer.concat([Buffer.from('PROXY '), Buffer.from(s.junk)]);
  }
  const truncatedKind = s.kind === 'v2-truncated' || s.kind === 'v1-truncated';
  let payload: Buffer;
  if (truncatedKind) payload = Buffer.alloc(0);
  else if (mode === 'http')
    payload = Buffer.from(s.requests.map((r, n) => renderRequest(index, n, r)).join(''), 'latin1');
  else payload = Buffer.concat([Buffer.from(`id:${index}\n`), Buffer.from(s.junk)]);
  const all = Buffer.concat([header, payload]);
  let cuts: number[];
  if (s.cutMode === 'whole') cuts = [];
  else if (s.cutMode === 'bytes-of-header' && header.length > 0 && header.length < 200)
    cuts = Array.from({ length: header.length }, (_, i) => i + 1);
  else cuts = s.cuts.map((c) => c % (all.length + 1));
  const points = [...new Set([0, ...cuts, all.length])].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  for (let i = 1; i < points.length; i++) chunks.push(all.subarray(points[i - 1]!, points[i]!));
  const host = s.v6 && !untrusted ? '::1' : '127.0.0.1';
  return {
    index,
    mode,
    kind: s.kind,
    host,
    localAddress: untrusted ? `127.0.0.${s.untrustedHost}` : host,
    chunks,
    legit,
    legitTlvs,
  };
}

/** `n` cases for `mode`, indices from `first` (distinct across modes in one run). */
export function spoofCases(seed: number, mode: SpoofMode, first: number, n: number): SpoofCase[] {
  const specs = fc.sample(connectionSpec, { seed: seed + first, numRuns: n });
  return specs.map((s, i) => buildCase(first + i, mode, s, seed));
}

const V4 = /\b(?:\d{1,3}\.){3}\d{1,3}\b/g;
const V6 = /(?:[0-9a-fA-F]{0,4}:){2,7}[0-9a-fA-F]{0,4}/g;

/** Every IP-like token in a header value, lowercased. */
export function addressesIn(value: string): string[] {
  const out: string[] = [...(value.match(V4) ?? [])];
  for (const m of value.match(V6) ?? []) if (m.replace(/:/g, '').length > 0) out.push(m.toLowerCase());
  return out;
}

export function isLoopback(a: string): boolean {
  return a.startsWith('127.') || a === '::1' || a === '::ffff:127.0.0.1';
}
