// Run inside a network namespace by bounded-waits.test.ts:
//   node wait-client.ts '<json: { host, maxMs, scenarios: Scenario[] }>'
// Each scenario opens `count` connections that write `first` (hex) on connect, optionally wait
// until the reply contains `awaitText`, then stay silent or write `drip` (hex) one byte every
// `dripEveryMs`. It measures, per connection, the time from the start of that silent or dripping
// phase to the moment the peer closed, and prints one JSON line per scenario when all are done
// (connections still open at maxMs are reported as open).
import net from 'node:net';

interface Scenario {
  readonly name: string;
  readonly port: number;
  readonly count?: number;
  readonly first?: string;
  readonly awaitText?: string;
  readonly drip?: string;
  readonly dripEveryMs?: number;
  /** Measure from the connect call instead of from the connect event. */
  readonly fromConnect?: boolean;
}

interface Outcome {
  readonly name: string;
  readonly closed: number;
  readonly open: number;
  readonly minMs: number;
  readonly maxMs: number;
  /** What the first connection received (latin1, first 300 bytes). */
  readonly received: string;
}

const o = JSON.parse(process.argv[2] ?? '{}') as { host: string; maxMs: number; scenarios: Scenario[] };

function one(s: Scenario, index: number): Promise<{ ms: number; received: string } | null> {
  return new Promise((resolve) => {
    const connectAt = performance.now();
    const sock = net.connect({ host: o.host, port: s.port, allowHalfOpen: false });
    let phaseStart = connectAt;
    let received = '';
    let timer: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (v: { ms: number; received: string } | null) => {
      if (done) return;
      done = true;
      clearInterval(timer);
      resolve(v);
    };
    const startPhase = () => {
      phaseStart = performance.now();
      if (s.drip === undefined) return;
      const bytes = Buffer.from(s.drip, 'hex');
      let k = 0;
      const step = () => {
        if (!sock.destroyed) sock.write(bytes.subarray(k % bytes.length, (k % bytes.length) + 1));
        k++;
      };
      step();
      timer = setInterval(step, s.dripEveryMs ?? 1000);
    };
    sock.on('connect', () => {
      if (s.first) sock.write(Buffer.from(s.first, 'hex'));
      if (s.awaitText !== undefined) return;
      startPhase();
      // "Before the header": measured from the connect call (the sidecar's timer cannot start
      // earlier, and may start before our 'connect' callback runs).
      if (s.fromConnect) phaseStart = connectAt;
    });
    sock.on('data', (b: Buffer) => {
      const was = received;
      if (received.length < 300 || index === 0) received += b.toString('latin1');
      if (s.awaitText !== undefined && !was.includes(s.awaitText) && received.includes(s.awaitText))
        startPhase();
    });
    sock.on('error', () => {});
    sock.on('close', () => finish({ ms: performance.now() - phaseStart, received }));
    setTimeout(() => {
      sock.destroy();
      finish(null);
    }, o.maxMs).unref();
  });
}

const outcomes = await Promise.all(
  o.scenarios.map(async (s): Promise<Outcome> => {
    const results = await Promise.all(Array.from({ length: s.count ?? 1 }, (_, i) => one(s, i)));
    const closed = results.filter((r): r is { ms: number; received: string } => r !== null);
    return {
      name: s.name,
      closed: closed.length,
      open: results.length - closed.length,
      minMs: Math.round(Math.min(...closed.map((r) => r.ms))),
      maxMs: Math.round(Math.max(...closed.map((r) => r.ms))),
      received: (closed[0]?.received ?? '').slice(0, 300),
    };
  }),
);
for (const out of outcomes) process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
