/**
 * HTTP/2 peers for the http2 hop's tests: a node:http2 (nghttp2) client session over a socket that
 * first sends a PROXY v1 header, a node:http2 h2c app whose handler the test writes, and raw
 * frames (for what a well-behaved client never sends: too many streams, oversized header lists).
 */
import http2 from 'node:http2';
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function proxyV1(client: string, port = 40000, dstPort = 443): string {
  return `PROXY TCP4 ${client} 127.0.0.1 ${port} ${dstPort}\r\n`;
}

/**
 * A client session through the sidecar listening on `port`, presenting `client` (a PROXY v1
 * header), or sending `header` as it is (e.g. a v2 header with TLVs).
 */
export function h2Client(
  port: number,
  client: string,
  settings: http2.Settings = {},
  header?: Buffer,
): http2.ClientHttp2Session {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    settings,
    createConnection: () => {
      const s = net.connect(port, '127.0.0.1');
      s.write(header ?? proxyV1(client));
      return s;
    },
  });
  session.on('error', () => {});
  return session;
}

export interface H2Response {
  readonly status: number;
  readonly headers: http2.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: http2.IncomingHttpHeaders | null;
  readonly rstCode: number;
}

/** One request; resolves when the stream closes, whatever way. */
export function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body?: Buffer | string,
  trailers?: http2.OutgoingHttpHeaders,
): Promise<H2Response> {
  return new Promise((resolve) => {
    const req = session.request(headers, trailers ? { waitForTrailers: true } : {});
    if (trailers) req.on('wantTrailers', () => req.sendTrailers(trailers));
    let status = 0;
    let head: http2.IncomingHttpHeaders = {};
    let tr: http2.IncomingHttpHeaders | null = null;
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      head = h;
      status = Number(h[':status']);
    });
    req.on('trailers', (t) => {
      tr = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    req.on('close', () =>
      resolve({
        status,
        headers: head,
        body: Buffer.concat(chunks),
        trailers: tr,
        rstCode: req.rstCode ?? 0,
      }),
    );
    req.end(body);
  });
}

export interface H2App {
  readonly port: number;
  readonly server: http2.Http2Server;
  /** Request headers of every stream, in arrival order. */
  readonly seen: http2.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** An h2c app on an ephemeral loopback port; `onStream` answers (default: 200 with the path). */
export async function startH2App(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void = (s, h) => {
    s.respond({ ':status': 200 });
    s.end(String(h[':path']));
  },
  settings: http2.Settings = {},
): Promise<H2App> {
  const seen: http2.IncomingHttpHeaders[] = [];
  const server = http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.on('error', () => {});
    onStream(stream, headers);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    server,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A frame: 9-byte header + payload (RFC 9113 4.1). */
export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** HPACK literal without indexing, new name, no Huffman (RFC 7541 6.2.2); lengths < 127 or 2-byte. */
function hpackString(s: Buffer): Buffer {
  if (s.length < 127) return Buffer.concat([Buffer.from([s.length]), s]);
  // 7-bit prefix integer: 127 then the rest in 7-bit groups.
  const bytes = [127];
  let rest = s.length - 127;
  while (rest >= 128) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>= 7;
  }
  bytes.push(rest);
  return Buffer.concat([Buffer.from(bytes), s]);
}

/** A header block: GET http / (static table) + :authority a, then the given literal fields. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x61])];
  for (const [n, v] of fields) {
    parts.push(
      Buffer.from([0x00]),
      hpackString(Buffer.from(n, 'latin1')),
      hpackString(Buffer.from(v, 'latin1')),
    );
  }
  return Buffer.concat(parts);
}

/** HEADERS with END_STREAM | END_HEADERS. */
export function getFrame(stream: number, fields: readonly (readonly [string, string])[] = []): Buffer {
  return frame(0x1, 0x5, stream, headerBlock(fields));
}

export const SETTINGS_EMPTY = frame(0x4, 0, 0, Buffer.alloc(0));
export const SETTINGS_ACK = frame(0x4, 0x1, 0, Buffer.alloc(0));

export interface RawFrame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/** Splits received bytes into frames (the tail of a partial one is left out). */
export function parseFrames(buf: Buffer): RawFrame[] {
  const out: RawFrame[] = [];
  let at = 0;
  while (at + 9 <= buf.length) {
    const len = buf.readUIntBE(at, 3);
    if (at + 9 + len > buf.length) break;
    out.push({
      type: buf[at + 3]!,
      flags: buf[at + 4]!,
      stream: buf.readUInt32BE(at + 5),
      payload: buf.subarray(at + 9, at + 9 + len),
    });
    at += 9 + len;
  }
  return out;
}

/** A raw connection through the sidecar: PROXY header, preface, SETTINGS, then `frames`. */
export async function rawH2(
  port: number,
  client: string,
  frames: readonly Buffer[],
  waitMs = 500,
): Promise<RawFrame[]> {
  const s = net.connect(port, '127.0.0.1');
  const got: Buffer[] = [];
  s.on('data', (d: Buffer) => got.push(d));
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(Buffer.concat([Buffer.from(proxyV1(client), 'latin1'), PREFACE, SETTINGS_EMPTY]));
  // Let the server's SETTINGS come, acknowledge them so its limits are in force, then send.
  await new Promise((r) => setTimeout(r, 100));
  s.write(Buffer.concat([SETTINGS_ACK, ...frames]));
  await new Promise((r) => setTimeout(r, waitMs));
  s.destroy();
  return parseFrames(Buffer.concat(got));
}
