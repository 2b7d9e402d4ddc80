/**
 * The standard gRPC health check (grpc/grpc doc/health-checking.md), as kubelet's `grpc` probe
 * sends it: pure. One unary call, `/grpc.health.v1.Health/Check`, whose request and response are
 * one-field protobuf messages; written here rather than pulled in with a protobuf library, which
 * every pod would pay for in memory.
 *
 *   HealthCheckRequest  { string service = 1; }
 *   HealthCheckResponse { ServingStatus status = 1; }   UNKNOWN 0, SERVING 1, NOT_SERVING 2,
 *                                                       SERVICE_UNKNOWN 3
 * A gRPC message on the wire: 1 byte compressed flag, 4 bytes big-endian length, the message.
 */

export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

export const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;

/** The request's gRPC message: `service` is visible ASCII of at most 256 bytes (checkAppProbe). */
export function encodeHealthCheckRequest(service: string): Buffer {
  const name = Buffer.from(service, 'latin1');
  // Field 1, wire type 2 (length-delimited); a length below 128 is a one-byte varint. An empty
  // service is the field's default, which protobuf leaves out.
  const body =
    name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a, ...varint(name.length)]), name]);
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  body.copy(frame, 5);
  return frame;
}

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return out;
}

export type HealthAnswer =
  | { readonly ok: true; readonly status: number }
  | { readonly ok: false; readonly problem: string };

/** Most a health response may be; anything longer is not one (the probe reads no further). */
export const MAX_HEALTH_RESPONSE_BYTES = 1024;

/**
 * The status in a response body (every DATA byte of the call, concatenated). Unknown fields are
 * skipped as protobuf requires; a compressed or truncated message is a problem, not a guess.
 */
export function decodeHealthCheckResponse(body: Buffer): HealthAnswer {
  if (body.length < 5) return { ok: false, problem: `a ${body.length}-byte body is not a gRPC message` };
  if (body[0] !== 0)
    return { ok: false, problem: 'the answer is compressed, which the probe never asked for' };
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) {
    return { ok: false, problem: `message length ${len} does not match the ${body.length - 5} bytes sent` };
  }
  let status = 0; // absent field: its default, UNKNOWN
  let i = 5;
  while (i < body.length) {
    const key = readVarint(body, i);
    if (key === undefined) return { ok: false, problem: 'truncated field key' };
    i = key.next;
    const field = key.value >>> 3;
    const wire = key.value & 7;
    if (wire === 0) {
      const v = readVarint(body, i);
      if (v === undefined) return { ok: false, problem: 'truncated varint' };
      i = v.next;
      if (field === 1) status = v.value;
    } else if (wire === 2) {
      const n = readVarint(body, i);
      if (n === undefined || n.next + n.value > body.length) return { ok: false, problem: 'truncated field' };
      i = n.next + n.value;
    } else if (wire === 5) i += 4;
    else if (wire === 1) i += 8;
    else return { ok: false, problem: `wire type ${wire} is not protobuf` };
    if (i > body.length) return { ok: false, problem: 'truncated field' };
  }
  return { ok: true, status };
}

function readVarint(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && shift <= 28; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    shift += 7;
  }
  return undefined;
}

export function statusName(status: number): string {
  return SERVING_STATUS[status] ?? `status ${status}`;
}
