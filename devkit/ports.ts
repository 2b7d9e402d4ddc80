/**
 * Ports for test and bench servers. Two kinds on purpose:
 *
 * - `freeEphemeralPort`: bind port 0 and read what the kernel gave. Cheap and fine for a process
 *   that binds it a moment later while little else on the machine opens outgoing connections.
 * - `freePortBelowEphemeral`: a random port BELOW the ephemeral range (32768-60999 on Linux). A port
 *   from bind(0) is ephemeral, so a concurrent outgoing connection (a load test's hundreds of
 *   thousands of clients, another test file running beside this one) may take it as its source port
 *   between the pick and the server's bind. Ports below the range are never picked as source ports,
 *   so only another listener can race us, and one that did fails the bind check here.
 */
import net from 'node:net';

/** A port that was free a moment ago on `host` (bind 0, read, close); it lies in the ephemeral range. */
export function freeEphemeralPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A port in 20000-31999, checked bindable on 127.0.0.1 and :: (or on `host` when given). */
export async function freePortBelowEphemeral(host?: string): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const hosts = host ? [host] : ['127.0.0.1', '::'];
    const free = await Promise.all(hosts.map((h) => canBind(port, h)));
    if (free.every(Boolean)) return port;
  }
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host, ipv6Only: host === '::' }, () => s.close(() => resolve(true)));
  });
}

/** Resolves once something accepts on host:port; throws after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`nothing listens on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
