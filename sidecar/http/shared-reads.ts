/**
 * Switches an accepted client socket to Node's `onread` mode: reads land in a caller's buffer and
 * go to a callback, as for the app sockets (`net.connect({ onread })`), instead of through the
 * Readable stream ('data' events). A CPU profile of the hop under load put the stream path of
 * client reads (a 64 KiB allocation and an ArrayBuffer per read, push, emit, maybeReadMore's
 * nextTick) at about 10% of its time (docs/decisions.md, HTTP hop CPU).
 *
 * Node offers `onread` only to sockets it creates for us, not to accepted ones, so this sets the
 * same three fields that the net.Socket constructor sets for `onread` (found by their symbol
 * descriptions) and calls the handle's useUserBuffer(), exactly what the constructor's
 * initSocketHandle() does. From then on the socket behaves like any onread socket: pause() and
 * resume() stop and start the handle's reads, the callback returning false stops them, 'end',
 * 'error' and 'close' come as before. When the fields are not there (another Node version), it
 * returns undefined and the caller keeps 'data' events: slower, same behaviour.
 * test/unit/http-shared-reads.test.ts fails if the Node we run has lost the fast path.
 */
import net from 'node:net';

/** Called synchronously per read with the bytes in buf[0, n); it must copy what it keeps. */
export type SharedReadCallback = (n: number, buf: Uint8Array) => boolean;

interface OnreadFields {
  readonly buffer: symbol;
  readonly callback: symbol;
  readonly generator: symbol;
}

interface UserBufferHandle {
  useUserBuffer?(buf: Uint8Array): void;
}

let fields: OnreadFields | null | undefined;

/** The net.Socket fields behind `onread`, looked up once on a socket that has none set. */
function onreadFields(): OnreadFields | null {
  if (fields !== undefined) return fields;
  const probe = new net.Socket();
  const bySymbol = new Map<string, symbol>();
  for (const s of Object.getOwnPropertySymbols(probe)) if (s.description) bySymbol.set(s.description, s);
  const buffer = bySymbol.get('kBuffer');
  const callback = bySymbol.get('kBufferCb');
  const generator = bySymbol.get('kBufferGen');
  const own = probe as unknown as Record<symbol, unknown>;
  fields =
    buffer &&
    callback &&
    generator &&
    own[buffer] === null &&
    own[callback] === null &&
    own[generator] === null
      ? { buffer, callback, generator }
      : null;
  probe.destroy();
  return fields;
}

/** Whether this Node lets accepted sockets read into a shared buffer (the test checks it). */
export function sharedReadsAvailable(): boolean {
  return onreadFields() !== null;
}

/**
 * Makes `socket` read into `buffer` and call `callback`. Returns the bytes the stream had already
 * buffered (the ones put back after the PROXY header), which the caller must process before any
 * read, or null if there were none; undefined if the socket cannot be switched (nothing changed).
 */
export function readIntoShared(
  socket: net.Socket,
  buffer: Buffer,
  callback: SharedReadCallback,
): Buffer | null | undefined {
  const f = onreadFields();
  const handle = (socket as unknown as { _handle?: UserBufferHandle | null })._handle;
  if (f === null || socket.destroyed || !handle || typeof handle.useUserBuffer !== 'function')
    return undefined;
  const own = socket as unknown as Record<symbol, unknown>;
  if (own[f.buffer] !== null || own[f.generator] !== null) return undefined;
  const chunks: Buffer[] = [];
  for (let c: Buffer | null = socket.read(); c !== null; c = socket.read()) chunks.push(c);
  own[f.buffer] = buffer;
  own[f.callback] = callback;
  handle.useUserBuffer(buffer);
  if (chunks.length === 0) return null;
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/**
 * Hands `bytes` to the socket's reader as one read from the network would: to the shared-read
 * callback, else as a 'data' event. For tests that feed a hop reads of chosen sizes without
 * depending on how TCP segments them (the callback's request to stop reading is not applied).
 */
export function simulateRead(socket: net.Socket, bytes: Buffer): void {
  const f = onreadFields();
  const own = socket as unknown as Record<symbol, unknown>;
  const buffer = f === null ? null : own[f.buffer];
  const callback = f === null ? null : own[f.callback];
  if (buffer instanceof Uint8Array && typeof callback === 'function' && bytes.length <= buffer.length) {
    buffer.set(bytes);
    (callback as SharedReadCallback)(bytes.length, buffer);
  } else socket.emit('data', bytes);
}
