/**
 * RST_STREAM with a given code, and nothing before it. node:http2's `stream.close(code)` first
 * ends the writable side when it is still open (closeStream() calls end()), which queues an
 * END_STREAM ahead of the RST_STREAM: the peer sees a stream that ended cleanly, so a response the
 * app reset halfway would reach the client as complete, and a cancelled upload would reach the app
 * as whole. Marking the writable side as ending first makes close() send the RST_STREAM alone
 * (what `stream.destroy()` does, except that destroy() can only say INTERNAL_ERROR or CANCEL).
 * test/integration/http2-hop.test.ts ("RST_STREAM both ways") fails if a Node release changes it.
 */
import http2 from 'node:http2';

export function resetStream(stream: http2.Http2Stream, code: number): void {
  if (stream.closed || stream.destroyed) return;
  if (code !== http2.constants.NGHTTP2_NO_ERROR) {
    const w = (stream as unknown as { _writableState?: { ending: boolean } })._writableState;
    if (w !== undefined) w.ending = true;
  }
  stream.close(code);
}
