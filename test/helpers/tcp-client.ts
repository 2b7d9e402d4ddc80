// A tiny client run inside a network namespace by the transparent tests:
//   node tcp-client.ts '{"host":"198.51.100.1","port":8080,"count":1,"header":"<hex>"}'
// Opens `count` connections at once, writes the optional header (hex), reads the first line of
// each, closes them all, and prints the lines as a JSON array on stdout.
import net from 'node:net';

const o = JSON.parse(process.argv[2] ?? '{}') as {
  host: string;
  port: number;
  count?: number;
  header?: string;
  localAddress?: string;
};
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
