// `npm run bench:decode`: PROXY header decode throughput (headers/s), ours next to proxy-protocol-js
// (which is lenient and skips TLV parsing and CRC, so it does less work) for scale.
import ppjs from 'proxy-protocol-js';
import { decode } from '../sidecar/proxy-protocol/decode.ts';
import { encodeV1, encodeV2 } from '../sidecar/proxy-protocol/encode.ts';

const h4 = {
  family: 'TCP4' as const,
  source: { address: '198.51.100.7', port: 40000 },
  destination: { address: '203.0.113.10', port: 443 },
};
const h6 = {
  family: 'TCP6' as const,
  source: { address: '2001:db8::7', port: 40000 },
  destination: { address: '2001:db8::1', port: 443 },
};
const nlb = Buffer.from(
  '0d0a0d0a000d0a515549540a21110054ac1f0771ac1f0a1fc8f20050030004e8d6892dea001701767063652d3038643262663135666163353030316339040024000000000000000000000000000000000000000000000000000000000000000000000000',
  'hex',
);
const cases: [string, Buffer, ((b: Buffer) => unknown) | undefined][] = [
  ['v1 TCP4', encodeV1(h4), (b) => ppjs.V1ProxyProtocol.parse(b.toString('latin1'))],
  ['v1 TCP6', encodeV1(h6), (b) => ppjs.V1ProxyProtocol.parse(b.toString('latin1'))],
  ['v2 TCP4', encodeV2(h4), (b) => ppjs.V2ProxyProtocol.parse(b)],
  ['v2 TCP6', encodeV2(h6), (b) => ppjs.V2ProxyProtocol.parse(b)],
  ['v2 AWS NLB (CRC32C + VPCE + NOOP)', nlb, undefined],
  [
    'v2 TCP4 + AUTHORITY + CRC32C',
    encodeV2({ ...h4, tlvs: [{ type: 2, value: Buffer.from('api.example.com') }] }, { crc32c: true }),
    undefined,
  ],
];

function rate(fn: () => unknown, ms = 1000): number {
  for (let i = 0; i < 20000; i++) fn();
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  let now = t0;
  while (now < end) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - t0) / 1e9);
}

const fmt = (n: number) => `${(n / 1e6).toFixed(2)} M/s`;
console.log(`node ${process.version}, one core\n`);
console.log(
  `${'header'.padEnd(36)}${'realip'.padStart(12)}${'ppjs'.padStart(12)}${'ns/header'.padStart(12)}`,
);
for (const [name, buf, theirs] of cases) {
  const ours = rate(() => decode(buf));
  const other = theirs ? rate(() => theirs(buf)) : undefined;
  console.log(
    `${name.padEnd(36)}${fmt(ours).padStart(12)}${(other ? fmt(other) : '-').padStart(12)}${(1e9 / ours).toFixed(0).padStart(12)}`,
  );
}
