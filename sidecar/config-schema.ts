/**
 * The options of `realip sidecar`, each declared once: flag, REALIP_* variable, kind, default,
 * bounds and help. sidecar/config.ts reads them; --help and docs/sidecar.md's table come from here.
 */
import { Defaults, EMIT_VERSIONS, Env, PROXY_OPTION } from '../common/contract.ts';
import { LOG_LEVEL_OPTION } from '../common/logger.ts';
import { type OptionSchema, optionList } from '../common/option-schema.ts';
import { LOG_CONNECTIONS_SYNTAX } from './log-gate.ts';
import { DEFAULT_MAX_V2_LENGTH } from './proxy-protocol/types.ts';

export const FORWARDED_POLICIES = ['replace', 'append'] as const;
export type ForwardedPolicy = (typeof FORWARDED_POLICIES)[number];
/** splice: join the sockets in the kernel (native helper; the stream relay when it is missing). */
export const TCP_RELAYS = ['splice', 'js'] as const;
export type TcpRelay = (typeof TCP_RELAYS)[number];

/**
 * Every wait is bounded by default (nginx's defaults where nginx has one):
 * - a request head: 60 s (client_header_timeout), counted from when the hop starts waiting;
 * - between keep-alive requests: 75 s (keepalive_timeout);
 * - silence both ways, in every mode (a stalled body, a tunnel, an idle tcp stream): 10 min
 *   (nginx stream's proxy_timeout). Longer than the TCP idle timeouts of the edges in front of us
 *   (BIG-IP 300 s, AWS NLB 350 s, Azure LB 4 min), so it never closes what the edge would keep.
 * 0 disables the keep-alive and idle timeouts when set explicitly.
 */
export const DEFAULT_REQUEST_HEAD_TIMEOUT_MS = 60_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 75_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/**
 * HTTP/2 (`http2` listeners): streams one client session may have open at once. RFC 9113 6.5.2
 * asks for no less than 100; Envoy's default is 100 (nginx 128, Go's x/net 250). 100 keeps the
 * worst case of one session (100 streams x a 64 KiB flow-control window each way) near the
 * 10 MB of nghttp2 session memory, and every gRPC client multiplexes fine within it.
 */
export const DEFAULT_H2_MAX_CONCURRENT_STREAMS = 100;
/**
 * HTTP/2: SETTINGS_MAX_HEADER_LIST_SIZE, the decoded header list (names + values + 32 bytes per
 * field, RFC 9113 6.5.2). The same 32 KiB as --max-request-head for an HTTP/1.1 head.
 */
export const DEFAULT_H2_MAX_HEADER_LIST = 32768;
/** HTTP/2: SETTINGS_HEADER_TABLE_SIZE, the HPACK dynamic table (RFC 7541's default 4096). */
export const DEFAULT_H2_HEADER_TABLE_SIZE = 4096;
/** HTTP/2: nghttp2's buffers per session, MB (Node's default). */
export const DEFAULT_H2_MAX_SESSION_MEMORY_MB = 10;
/** The longest a timeout that may be 0 (= none) can be: a day. */
const MAX_OPTIONAL_TIMEOUT_MS = 86_400_000;

export const TLV_HEADER_NAMES = [
  'aws-vpce-id',
  'azure-link-id',
  'gcp-psc-id',
  'authority',
  'unique-id',
] as const;

export const SIDECAR_SCHEMA = {
  listener: {
    flag: 'listener',
    env: Env.listeners,
    kind: 'list',
    repeatable: true,
    help: 'MODE:LISTEN_PORT:APP_PORT, MODE is http, http2, tcp or transparent',
  },
  appHost: {
    flag: 'app-host',
    env: Env.appHost,
    kind: 'string',
    default: Defaults.appHost,
    help: 'address of the app',
  },
  trustedCidrs: {
    flag: 'trusted-cidrs',
    env: Env.trustedCidrs,
    kind: 'list',
    help: 'comma-separated sources whose PROXY headers are honoured (default: none)',
  },
  proxy: {
    ...PROXY_OPTION,
    help: 'required | optional: may a trusted source omit the header',
  },
  headerTimeoutMs: {
    flag: 'header-timeout',
    env: Env.headerTimeoutMs,
    kind: 'int',
    default: Defaults.headerTimeoutMs,
    min: 1,
    max: 600_000,
    help: 'ms to receive the PROXY header',
    doc: 'the PROXY header must be complete this long after accept (every mode; the connection is closed)',
  },
  maxHeaderBytes: {
    flag: 'max-header-bytes',
    env: 'REALIP_MAX_HEADER_BYTES',
    kind: 'int',
    default: DEFAULT_MAX_V2_LENGTH,
    min: 16,
    max: 65535,
    help: 'cap on the v2 header length field',
  },
  adminPort: {
    flag: 'admin-port',
    env: Env.adminPort,
    kind: 'int',
    default: Defaults.adminPort,
    min: 1,
    max: 65535,
    help: 'port of /healthz /readyz /metrics /app-health',
  },
  adminHost: {
    flag: 'admin-host',
    env: 'REALIP_ADMIN_HOST',
    kind: 'string',
    default: '::',
    help: 'address the admin server binds',
  },
  drainTimeoutMs: {
    flag: 'drain-timeout',
    env: 'REALIP_DRAIN_TIMEOUT_MS',
    kind: 'int',
    default: 25_000,
    min: 1,
    max: 3_600_000,
    help: 'ms in-flight work may take after SIGTERM',
  },
  forwarded: {
    flag: 'forwarded',
    env: 'REALIP_FORWARDED',
    kind: 'enum',
    values: FORWARDED_POLICIES,
    default: 'replace',
    help: 'replace | append client-supplied forwarding headers (http)',
  },
  tlvHeaders: {
    flag: 'tlv-headers',
    env: 'REALIP_TLV_HEADERS',
    kind: 'list',
    help: `TLVs exposed as headers (http): ${TLV_HEADER_NAMES.join(', ')}`,
  },
  maxRequestHeadBytes: {
    flag: 'max-request-head',
    env: 'REALIP_MAX_REQUEST_HEAD_BYTES',
    kind: 'int',
    default: 32768,
    min: 1024,
    max: 1_048_576,
    help: 'bound on one request head (http)',
    doc: 'larger request heads get 431',
  },
  appTimeoutMs: {
    flag: 'app-timeout',
    env: 'REALIP_APP_TIMEOUT_MS',
    kind: 'int',
    default: 60_000,
    min: 1,
    max: 3_600_000,
    help: 'ms for the app to answer a request head (http)',
    doc: 'the app must start its response this long after the request was fully forwarded (504)',
  },
  connectTimeoutMs: {
    flag: 'connect-timeout',
    env: 'REALIP_CONNECT_TIMEOUT_MS',
    kind: 'int',
    default: 5000,
    min: 1,
    max: 600_000,
    help: 'ms to connect to the app',
    doc: 'connecting to the app (504)',
  },
  requestHeadTimeoutMs: {
    flag: 'request-head-timeout',
    env: 'REALIP_REQUEST_HEAD_TIMEOUT_MS',
    kind: 'int',
    default: DEFAULT_REQUEST_HEAD_TIMEOUT_MS,
    min: 1,
    max: 3_600_000,
    help: 'ms for a whole request head, from when the hop waits for it (http)',
    doc: 'a whole request head, counted from when the hop starts waiting for it: the hand-off after the PROXY header for the first request, the first byte (an empty line included) for later ones; then 408 (nginx `client_header_timeout`)',
  },
  keepAliveTimeoutMs: {
    flag: 'keepalive-timeout',
    env: 'REALIP_KEEPALIVE_TIMEOUT_MS',
    kind: 'int',
    default: DEFAULT_KEEPALIVE_TIMEOUT_MS,
    min: 0,
    max: MAX_OPTIONAL_TIMEOUT_MS,
    help: 'ms of silence between a response and the next request (http; 0 = never)',
    doc: 'between a complete response and the first byte of the next request; then a quiet close (nginx `keepalive_timeout`)',
  },
  idleTimeoutMs: {
    flag: 'idle-timeout',
    env: 'REALIP_IDLE_TIMEOUT_MS',
    kind: 'int',
    default: DEFAULT_IDLE_TIMEOUT_MS,
    min: 0,
    max: MAX_OPTIONAL_TIMEOUT_MS,
    help: 'ms of silence both ways before a connection is closed (0 = never)',
    docDefault: '600000 (10 min)',
    doc: "silence both ways in any other state (a stalled upload, a client not reading, a WebSocket tunnel; the tcp and transparent hops too): the connection is closed. nginx stream's `proxy_timeout`; longer than the TCP idle timeouts of common edges (BIG-IP 300 s, AWS NLB 350 s, Azure LB 4 min), so it closes nothing the edge would have kept. A complete request waiting for the app is left to `--app-timeout`",
  },
  h2MaxConcurrentStreams: {
    flag: 'h2-max-concurrent-streams',
    env: 'REALIP_H2_MAX_CONCURRENT_STREAMS',
    kind: 'int',
    default: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
    min: 1,
    max: 10_000,
    help: 'streams one HTTP/2 client session may have open at once (http2)',
    doc: "SETTINGS_MAX_CONCURRENT_STREAMS announced to clients; a stream over it is refused (RST_STREAM `REFUSED_STREAM`). Envoy's default; RFC 9113 asks for at least 100",
  },
  h2MaxHeaderList: {
    flag: 'h2-max-header-list',
    env: 'REALIP_H2_MAX_HEADER_LIST_BYTES',
    kind: 'int',
    default: DEFAULT_H2_MAX_HEADER_LIST,
    min: 1024,
    max: 1_048_576,
    help: 'bound on one HTTP/2 header list, decoded (http2)',
    doc: 'SETTINGS_MAX_HEADER_LIST_SIZE (names + values + 32 per field); a larger header block resets the stream (`ENHANCE_YOUR_CALM`). The same bound as `--max-request-head`',
  },
  h2HeaderTableSize: {
    flag: 'h2-header-table-size',
    env: 'REALIP_H2_HEADER_TABLE_SIZE',
    kind: 'int',
    default: DEFAULT_H2_HEADER_TABLE_SIZE,
    min: 0,
    max: 65536,
    help: 'HPACK dynamic table size announced to clients, bytes (http2)',
  },
  h2MaxSessionMemoryMb: {
    flag: 'h2-max-session-memory',
    env: 'REALIP_H2_MAX_SESSION_MEMORY_MB',
    kind: 'int',
    default: DEFAULT_H2_MAX_SESSION_MEMORY_MB,
    min: 1,
    max: 1024,
    help: 'MB of nghttp2 buffers one HTTP/2 session may hold (http2)',
    doc: 'per client session and per app session; over it, new streams are refused with `ENHANCE_YOUR_CALM` (Node `maxSessionMemory`)',
  },
  emit: {
    flag: 'emit',
    env: Env.emit,
    kind: 'enum',
    values: EMIT_VERSIONS,
    default: 'v2',
    help: 'v1 | v2: PROXY version sent to the app (tcp)',
  },
  tcpRelay: {
    flag: 'tcp-relay',
    env: 'REALIP_TCP_RELAY',
    kind: 'enum',
    values: TCP_RELAYS,
    default: 'splice',
    help: 'splice | js: relay bytes with splice(2) in the kernel, or through Node streams (tcp, transparent)',
  },
  passTlvs: {
    flag: 'pass-tlvs',
    env: 'REALIP_PASS_TLVS',
    kind: 'list',
    help: 'comma-separated TLV types (e.g. 0x02,0xea) passed to the app (tcp)',
  },
  logLevel: LOG_LEVEL_OPTION,
  logConnections: {
    flag: 'log-connections',
    env: 'REALIP_LOG_CONNECTIONS',
    kind: 'string',
    default: 'all',
    help: `connection closed lines per listener: ${LOG_CONNECTIONS_SYNTAX}`,
  },
  accessLog: {
    flag: 'access-log',
    env: 'REALIP_ACCESS_LOG',
    kind: 'flag',
    help: 'log one line per HTTP request (http listeners; off by default)',
  },
  appProbes: {
    flag: 'app-probes',
    env: Env.appProbes,
    kind: 'string',
    help: 'JSON /app-health/<container>/<livez|readyz|startupz> -> probe, served on the admin port (written by the webhook)',
  },
} as const satisfies OptionSchema;

export const SIDECAR_OPTIONS = optionList(SIDECAR_SCHEMA);
