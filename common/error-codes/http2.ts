import type { Family } from './spec.ts';

/**
 * The HTTP/2 hop (`http2` listeners): answers it gives a stream itself (`http` is the `:status`,
 * with the code in an `x-realip-error` field), or streams and sessions it resets or closes (`http`
 * 0: an RST_STREAM or GOAWAY carries the HTTP/2 error code named in the meaning).
 */
export const HTTP2_ERRORS = {
  H2_PREFACE_TIMEOUT: {
    http: 0,
    meaning:
      'An `http2` listener got no first bytes (the HTTP/2 preface or an HTTP/1.1 request) within `--request-head-timeout` of the PROXY header: the connection is closed.',
  },
  H2_CONNECT_REFUSED: {
    http: 405,
    meaning:
      'A CONNECT or extended CONNECT (`:protocol`) stream, refused like `HTTP_CONNECT_REFUSED`: a tunnel would carry bytes the hop cannot rewrite.',
  },
  H2_APP_REFUSED: {
    http: 502,
    meaning:
      'The app refused the connection, or it is not an HTTP/2 (h2c prior knowledge) server: the stream is answered 502 (gRPC clients see `UNAVAILABLE`).',
  },
  H2_APP_CONNECT_TIMEOUT: {
    http: 504,
    meaning: 'Connecting to the app took longer than `--connect-timeout`.',
  },
  H2_APP_LOST: {
    http: 502,
    orClose: true,
    meaning:
      "The app's session ended (socket closed or reset, GOAWAY with an error, protocol error) before the stream's response: 502; after the response started, the stream is reset with `INTERNAL_ERROR`.",
  },
  H2_APP_RESET: {
    http: 0,
    meaning:
      'Not an error of ours: the app reset a stream (RST_STREAM); the client stream is reset with the same HTTP/2 error code (`REFUSED_STREAM` after an app GOAWAY, so the client may retry).',
  },
  H2_CLIENT_RESET: {
    http: 0,
    meaning:
      'Not an error of ours: the client reset a stream; the app stream is reset with the same HTTP/2 error code.',
  },
  H2_PROTOCOL_ERROR: {
    http: 0,
    meaning:
      'The client broke HTTP/2 (a frame nghttp2 refuses, more streams than it acknowledged): nghttp2 closed the session with GOAWAY (`PROTOCOL_ERROR`); close reason `bad_request`. Lesser faults reset one stream without a code of ours: a header list over `--h2-max-header-list`, or a session over `--h2-max-session-memory`, is RST_STREAM `ENHANCE_YOUR_CALM`.',
  },
  H2_INTERNAL: {
    http: 0,
    meaning:
      'A bug in the HTTP/2 hop: the stream is reset with `INTERNAL_ERROR` (never the process), the stack is logged at error level. Please report it.',
  },
} as const satisfies Family<'H2'>;
