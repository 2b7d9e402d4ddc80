// A tiny client run inside a network namespace by the transparent tests:
//   node tcp-client.ts '{"host":"198.51.100.1","port":8080,"count":1,"header":"<hex>"}'
// Opens `count` connections at once, writes the optional header (hex), reads the first line of
// each, closes them all, and prints the lines as a JSON array on stdout.
// With "echo": N, one connection sends N random bytes, half-closes, reads until the peer's end, and
// prints [firstLine, sha256 of what came back after it, sha256 of what was sent].
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  host: string;
  port: number;
  count?: number;
  header?: string;
  localAddress?: string;
  echo?: number;
};
if (o.echo !== undefined) {
  const payload = randomBytes(o.echo);
  const out = await new Promise<string[]>((resolve, reject) => {
    const s = net.connect({ host: o.host, port: o.port, allowHalfOpen: true }, () => {
      if (o.header) s.write(Buffer.from(o.header, 'hex'));
      s.end(payload);
    });
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(chunks);
      const nl = all.indexOf(10);
      resolve([
        all.subarray(0, nl).toString(),
        createHash('sha256')
          .update(all.subarray(nl + 1))
          .digest('hex'),
        createHash('sha256').update(payload).digest('hex'),
      ]);
      s.destroy();
    });
  });
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(0);
}
const sockets: net.Socket[] = [];
const lines = await Promise.all(
  Array.from(
    { length: o.count ?? 1 },
    () =>
      new Promise<string>((resolve, reject) => {
        const s = net.connect({
          host: o.host,
          port: o.port,
          ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        });
        sockets.push(s);
        let buf = '';
        s.on('connect', () => {
          if (o.header) s.write(Buffer.from(o.header, 'hex'));
        });
        s.on('data', (d: Buffer) => {
          buf += d.toString();
          const nl = buf.indexOf('\n');
          if (nl >= 0) resolve(buf.slice(0, nl));
        });
        s.on('error', reject);
        s.on('close', () => resolve(buf === '' ? '<closed>' : buf));
        setTimeout(() => resolve('<timeout>'), 8000).unref();
      }),
  ),
);
for (const s of sockets) s.destroy();
process.stdout.write(`${JSON.stringify(lines)}\n`);
