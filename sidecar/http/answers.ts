import type { HttpCode } from '../../common/error-codes/registry.ts';

/**
 * The responses the hop writes itself, always followed by a close. The error code is in the
 * body and in an X-Realip-Error field so that a client (or a curl in a debugging session) sees
 * which rule fired; the code is documented in docs/errors.md.
 */
const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

const cache = new Map<string, Buffer>();

export function answer(status: number, code: HttpCode | ''): Buffer {
  const key = `${status} ${code}`;
  let b = cache.get(key);
  if (!b) {
    const reason = REASONS[status] ?? 'Error';
    const body = `${status} ${reason} (${code})\n`;
    b = Buffer.from(
      `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n` +
        `Connection: close\r\nX-Realip-Error: ${code}\r\n\r\n${body}`,
      'latin1',
    );
    cache.set(key, b);
  }
  return b;
}
