import type { Family } from './spec.ts';

/** The HTTP hop: answers it writes itself (`http` is the status), or connections it closes. */
export const HTTP_ERRORS = {
  HTTP_BAD_REQUEST_LINE: {
    http: 400,
    meaning:
      'The request line is not `METHOD SP target SP HTTP/1.x CRLF` (invalid token, control byte, not HTTP at all).',
  },
  HTTP_VERSION_NOT_SUPPORTED: {
    http: 505,
    meaning:
      'An HTTP version other than 1.0 and 1.1 on an `http` listener (HTTP/2 prior knowledge as the first bytes of a connection goes to the HTTP/2 proxy instead).',
  },
  HTTP_BAD_HEADER: {
    http: 400,
    meaning:
      'A header line that is not `name: value CRLF`: bare LF, lone CR, NUL or control bytes, space before the colon; or `Content_Length` / `Transfer_Encoding` (an underscore spelling CGI stacks read as the framing field).',
  },
  HTTP_OBS_FOLD: {
    http: 400,
    meaning: 'A folded header line (starting with SP or HTAB), refused rather than unfolded (RFC 9112 5.2).',
  },
  HTTP_BAD_CONTENT_LENGTH: {
    http: 400,
    meaning: 'Content-Length not all digits, over 15 digits, or given twice with different values.',
  },
  HTTP_BAD_TRANSFER_ENCODING: {
    http: 400,
    meaning:
      'Transfer-Encoding whose last coding is not `chunked`, `chunked` twice, an empty element, or in HTTP/1.0.',
  },
  HTTP_UNSUPPORTED_TRANSFER_ENCODING: {
    http: 501,
    meaning: 'A coding before `chunked` (e.g. `gzip, chunked`), as nginx answers.',
  },
  HTTP_CONTENT_LENGTH_AND_CHUNKED: {
    http: 400,
    meaning:
      'Both Content-Length and Transfer-Encoding: refused, not guessed (RFC 9112 6.3; request smuggling).',
  },
  HTTP_BAD_HOST: {
    http: 400,
    meaning: 'No Host in HTTP/1.1, or more than one Host.',
  },
  HTTP_CONNECT_REFUSED: {
    http: 405,
    meaning:
      'A CONNECT request. The app is an origin server, not a proxy: a CONNECT answered 2xx would make the connection a blind tunnel whose later requests reach the app unrewritten. nginx answers 405 too.',
  },
  HTTP_CONNECT_WITH_BODY: {
    http: 400,
    retired: '0.2.0',
    meaning:
      'Retired (0.2.0): CONNECT is refused as a whole with `HTTP_CONNECT_REFUSED`. The code is not reused.',
  },
  HTTP_HEAD_TOO_LARGE: {
    http: 431,
    meaning: 'The request head exceeds `--max-request-head` (default 32768 bytes).',
  },
  HTTP_HEAD_TIMEOUT: {
    http: 408,
    meaning: 'A request head started but did not complete within `--header-timeout`.',
  },
  HTTP_BAD_CHUNK: {
    http: 400,
    orClose: true,
    meaning:
      'A malformed chunk-size line or chunk terminator. 400 if the app has not answered yet, else the connection closes.',
  },
  HTTP_BAD_TRAILER: {
    http: 400,
    orClose: true,
    meaning: 'A malformed or oversized trailer section.',
  },
  HTTP_APP_REFUSED: {
    http: 502,
    meaning: 'The app refused the connection (nothing listens on the app port).',
  },
  HTTP_APP_RESET: {
    http: 502,
    meaning: 'The app reset the connection before sending any byte of the response.',
  },
  HTTP_APP_CLOSED: {
    http: 502,
    meaning: 'The app closed the connection before sending any byte of the response.',
  },
  HTTP_APP_CONNECT_TIMEOUT: {
    http: 504,
    meaning: 'Connecting to the app took longer than `--connect-timeout`.',
  },
  HTTP_APP_TIMEOUT: {
    http: 504,
    meaning: 'The app sent no response head within `--app-timeout` of the complete request.',
  },
  HTTP_BAD_RESPONSE: {
    http: 0,
    meaning:
      "The app's response cannot be framed (malformed status line or Content-Length): it is forwarded as is, no further requests are read, the connection closes after it. Logged as a warning.",
  },
  HTTP_TLS_ON_HTTP_LISTENER: {
    http: 0,
    meaning:
      'The connection starts with a TLS ClientHello: closed, with a hint in the log (use a tcp or transparent listener for TLS passthrough).',
  },
  HTTP_TLV_VALUE_REFUSED: {
    meaning:
      'Not an error answer: a TLV selected by `--tlv-headers` holds unsafe bytes, so its header is omitted (warning, `realip_http_tlv_headers_omitted_total{tlv}`).',
  },
  HTTP_INTERNAL: {
    http: 0,
    meaning:
      'A bug in the hop: the connection is destroyed (never the process), the stack is logged at error level. Please report it.',
  },
} as const satisfies Family<'HTTP'>;
