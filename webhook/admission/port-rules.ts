/**
 * Which app ports are intercepted, and in which mode: pure. Do no harm (ARCHITECTURE.md): a port
 * is intercepted only in a mode that cannot break its app, and when its protocol cannot be known
 * it is left alone, with a reason code. Port names follow the Kubernetes / Istio convention
 * `<protocol>[-<suffix>]` (istio.io "Protocol Selection"); a name is a promise about the bytes.
 *
 *   http, http-*                                  -> http hop (plain HTTP/1.1)
 *   http2, h2c, grpc (and -*)                     -> http2 hop (HTTP/2 prior knowledge, with
 *                                                    HTTP/1.1 on the same port for grpc-web and
 *                                                    health checks)
 *   https, tls, ssl, h2 (and -* / *-), *-https    -> left alone: TLS (`h2` is HTTP/2's TLS ALPN
 *                                                    name); the HTTP hops would close every
 *                                                    handshake (HTTP_TLS_ON_HTTP_LISTENER)
 *   any other name, or none                       -> left alone, unless realip.dev/ports opts in:
 *                                                    `tcp` for a PROXY-aware app, `transparent` for
 *                                                    an unmodified one
 *
 * The realip.dev/ports grammar (pod annotation, or the same annotation on the namespace as the
 * default for its pods): comma-separated entries
 *   PORT=MODE   intercept PORT in MODE (http, http2, tcp, transparent), or `off` to leave it alone;
 *               `http` on an HTTP/2-named port means http2 (a superset: it serves HTTP/1.1 too)
 *   PORT        intercept PORT in the mode its name gives (left alone when the name says nothing)
 *   *=MODE      every declared port whose name says nothing gets MODE (named ports keep their rule)
 * With the annotation, ports it does not list (and `*` does not cover) are left alone, as before.
 */
import type { CodeOf } from '../../common/error-codes/registry.ts';
import { Annotations, LISTENER_MODES, type ListenerMode, parsePort } from '../../common/contract.ts';
import type { Pod } from './pod.ts';

/** Why a port is left alone (stable codes; docs/errors.md, docs/install.md). */
export const PortReasons = Object.freeze({
  tls: 'INJ_PORT_TLS',
  unknownProtocol: 'INJ_PORT_UNKNOWN_PROTOCOL',
  notListed: 'INJ_PORT_NOT_LISTED',
  off: 'INJ_PORT_OFF',
  podSecurity: 'INJ_PORT_POD_SECURITY',
} satisfies Record<string, CodeOf<'INJ'>>);
export type PortReason = (typeof PortReasons)[keyof typeof PortReasons];

/** Short: admission warnings over ~120 characters are truncated by some clients. */
export const PORT_REASON_TEXT: Readonly<Record<PortReason, string>> = {
  [PortReasons.tls]: 'TLS by its name, never through the HTTP/1.1 hop',
  [PortReasons.unknownProtocol]: `protocol unknown; opt in: ${Annotations.ports} PORT=tcp|transparent`,
  [PortReasons.notListed]: `not in ${Annotations.ports}`,
  [PortReasons.off]: `${Annotations.ports} says off`,
  [PortReasons.podSecurity]: 'transparent needs NET_ADMIN, which Pod Security forbids here',
};

/** What a port's name says about its protocol. */
export type NameClass = 'http' | 'tls' | 'http2' | 'unknown';

const TLS_NAME = /^(?:https|tls|ssl|h2)(?:-.*)?$|-(?:https|tls|ssl)$/;
/** Cleartext HTTP/2: prior knowledge (h2c), every gRPC server without TLS. */
const HTTP2_NAME = /^(?:http2|h2c|grpc)(?:-.*)?$/;
const HTTP_NAME = /^http(?:-.*)?$/;

export function classifyPortName(name: string | undefined): NameClass {
  if (name === undefined) return 'unknown';
  if (TLS_NAME.test(name)) return 'tls';
  if (HTTP2_NAME.test(name)) return 'http2';
  if (HTTP_NAME.test(name)) return 'http';
  return 'unknown';
}

/** One app port and what happens to it. */
export interface PortDecision {
  readonly port: number;
  readonly name?: string;
  /** Set when intercepted. */
  readonly mode?: ListenerMode;
  /** Set when left alone. */
  readonly reason?: PortReason;
}

export interface PortChoice {
  readonly decisions: readonly PortDecision[];
  /** Where the rules came from: the pod's annotation, the namespace's, or port names alone. */
  readonly source: 'pod' | 'namespace' | 'names';
}

/** Declared TCP container ports of the app containers: port -> name (first declaration wins). */
export function declaredPorts(pod: Pod): Map<number, string | undefined> {
  const out = new Map<number, string | undefined>();
  for (const c of pod.spec.containers) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? 'TCP') !== 'TCP') continue;
      // out of range: the API server's validation rejects the pod after us; do not plan for it
      if (p.containerPort < 1 || p.containerPort > 65535) continue;
      if (!out.has(p.containerPort))
        out.set(p.containerPort, typeof p.name === 'string' ? p.name : undefined);
    }
  }
  return out;
}

/** Every port number any container of the pod declares, whatever its protocol (the sidecar avoids them). */
export function allDeclaredPortNumbers(pod: Pod): Set<number> {
  const out = new Set<number>();
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (typeof p.containerPort === 'number') out.add(p.containerPort);
      if (typeof p.hostPort === 'number') out.add(p.hostPort);
    }
  }
  return out;
}

function byName(port: number, name: string | undefined, fallback?: ListenerMode): PortDecision {
  const n = name !== undefined ? { name } : {};
  const cls = classifyPortName(name);
  if (cls === 'http') return { port, ...n, mode: 'http' };
  if (cls === 'tls') return { port, ...n, reason: PortReasons.tls };
  if (cls === 'http2') return { port, ...n, mode: 'http2' };
  if (fallback !== undefined) return { port, ...n, mode: fallback };
  return { port, ...n, reason: PortReasons.unknownProtocol };
}

function explicit(port: number, name: string | undefined, mode: ListenerMode | 'off'): PortDecision {
  const n = name !== undefined ? { name } : {};
  if (mode === 'off') return { port, ...n, reason: PortReasons.off };
  // Said by the user, but certain to break: TLS bytes through an HTTP hop.
  const cls = classifyPortName(name);
  const httpMode = mode === 'http' || mode === 'http2';
  if (httpMode && cls === 'tls') return { port, ...n, reason: PortReasons.tls };
  // http on a port whose name says HTTP/2: the http2 hop serves both, the http hop would 505.
  if (mode === 'http' && cls === 'http2') return { port, ...n, mode: 'http2' };
  return { port, ...n, mode };
}

const EXPECTED =
  'a comma-separated list of PORT=MODE, PORT or *=MODE (MODE one of http, http2, tcp, transparent, off), e.g. 8080=http,5432=tcp';

/**
 * Port decisions for a pod, sorted by port. `nsPorts` is the namespace's realip.dev/ports (the
 * default when the pod has none). Problems name the annotation, its value and what is expected.
 */
export function choosePorts(pod: Pod, nsPorts: string | undefined, problems: string[]): PortChoice {
  const declared = declaredPorts(pod);
  const podText = pod.metadata?.annotations?.[Annotations.ports];
  const text = podText ?? nsPorts;
  const source = podText !== undefined ? 'pod' : nsPorts !== undefined ? 'namespace' : 'names';
  const where = podText !== undefined ? Annotations.ports : `namespace annotation ${Annotations.ports}`;
  const decisions: PortDecision[] = [];
  if (text === undefined) {
    for (const [port, name] of declared) decisions.push(byName(port, name));
    return { decisions: decisions.sort((a, b) => a.port - b.port), source };
  }
  const bad = (detail: string) =>
    problems.push(
      `annotation ${where}: ${JSON.stringify(text)} is not valid; expected ${EXPECTED}; ${detail}`,
    );
  const listed = new Map<number, ListenerMode | 'off' | undefined>();
  let wildcard: ListenerMode | 'off' | undefined;
  let wildcardSeen = false;
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const portText = eq === -1 ? entry : entry.slice(0, eq).trim();
    const modeText = eq === -1 ? undefined : entry.slice(eq + 1).trim();
    if (
      modeText !== undefined &&
      modeText !== 'off' &&
      !(LISTENER_MODES as readonly string[]).includes(modeText)
    ) {
      bad(`"${modeText}" is not a mode`);
      continue;
    }
    const mode = modeText as ListenerMode | 'off' | undefined;
    if (portText === '*') {
      if (mode === undefined) bad('"*" needs a mode, e.g. *=transparent');
      else if (wildcardSeen) bad('"*" is listed twice');
      else wildcard = mode;
      wildcardSeen = true;
      continue;
    }
    const port = parsePort(portText);
    if (port === undefined) {
      bad(`"${portText}" is not a port 1-65535`);
      continue;
    }
    if (listed.has(port)) {
      bad(`port ${port} is listed twice`);
      continue;
    }
    listed.set(port, mode);
  }
  for (const [port, mode] of listed) {
    const name = declared.get(port);
    decisions.push(mode === undefined ? byName(port, name) : explicit(port, name, mode));
  }
  for (const [port, name] of declared) {
    if (listed.has(port)) continue;
    const n = name !== undefined ? { name } : {};
    if (wildcard === undefined) decisions.push({ port, ...n, reason: PortReasons.notListed });
    else if (wildcard === 'off') decisions.push({ port, ...n, reason: PortReasons.off });
    else decisions.push(byName(port, name, wildcard));
  }
  return { decisions: decisions.sort((a, b) => a.port - b.port), source };
}
