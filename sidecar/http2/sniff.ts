/**
 * Reads the first bytes of a connection handed to an `http2` listener's hop, until the preface
 * (preface.ts) is complete or a byte differs, then puts every byte read back with unshift() and
 * says which it was. A client that sends nothing, or a part of the preface and then nothing, is
 * bounded by `timeoutMs` (the request-head timeout, as the HTTP/1.1 hop bounds a first head).
 */
import type { Socket } from 'node:net';
import { SNIFF_H2, SNIFF_NEED_MORE, sniffPreface } from './preface.ts';

/** h2: the preface; http1: anything else; closed: the client went away (or timed out) first. */
export type SniffResult = 'h2' | 'http1' | 'timeout' | 'closed';

export function sniffConnection(
  socket: Socket,
  timeoutMs: number,
  done: (r: SniffResult) => void,
): () => void {
  let held: Buffer | null = null;
  let settled = false;
  const settle = (r: SniffResult) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeListener('readable', onReadable);
    socket.removeListener('end', onEnd);
    socket.removeListener('close', onEnd);
    if ((r === 'h2' || r === 'http1') && held !== null) socket.unshift(held);
    done(r);
  };
  const onReadable = () => {
    for (let c: Buffer | null = socket.read(); c !== null; c = socket.read()) {
      held = held === null ? c : Buffer.concat([held, c]);
    }
    if (held === null) return;
    const s = sniffPreface(held);
    if (s === SNIFF_NEED_MORE) return;
    settle(s === SNIFF_H2 ? 'h2' : 'http1');
  };
  // An end before the preface is complete: a partial preface is no request of any kind.
  const onEnd = () => settle('closed');
  const timer = setTimeout(() => settle('timeout'), timeoutMs);
  socket.on('readable', onReadable);
  socket.once('end', onEnd);
  socket.once('close', onEnd);
  return () => settle('closed');
}
