// Issue 11 findings 3 and 6, without sockets: every field on the forwarding list is removed by the
// default `replace` policy in every spelling a framework could read as the same field; `append`
// keeps its documented behaviour; Upgrade fields other than WebSocket and HTTP2-Settings are removed
// in every policy; and the list is the one docs/sidecar.md publishes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { F_OTHER, FORWARDING_FIELDS } from '../../sidecar/http/forwarding-fields.ts';
import { RequestHead } from '../../sidecar/http/request-head.ts';
import { HeadRewriter } from '../../sidecar/http/rewrite.ts';

const CLIENT = { address: '198.51.100.7', port: 5555, family: 4 as const };

function rewrite(policy: 'replace' | 'append', head: string): { out: string; upgrade: boolean } {
  const buf = Buffer.from(head, 'latin1');
  const h = new RequestHead();
  assert.ok(h.parse(buf, 0, buf.length), `parse failed: ${h.code} for ${JSON.stringify(head)}`);
  const out = new HeadRewriter(policy, CLIENT, 80, '').rewrite(buf, buf.length, h).toString('latin1');
  return { out, upgrade: h.upgrade };
}

/** Field names of a head, lowercased, '_' folded to '-' (how CGI-style stacks see them). */
function names(head: string): string[] {
  return head
    .split('\r\n')
    .slice(1)
    .filter((l) => l.includes(':'))
    .map((l) => l.slice(0, l.indexOf(':')).toLowerCase().replaceAll('_', '-'));
}

function spellings(name: string): string[] {
  const title = name.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
  return [name, title, name.toUpperCase(), title.replaceAll('-', '_')];
}

test('replace (default): every listed field is removed in every spelling; only ours remain', () => {
  for (const f of FORWARDING_FIELDS) {
    for (const spelled of spellings(f.name)) {
      const { out } = rewrite(
        'replace',
        `GET / HTTP/1.1\r\nHost: a\r\n${spelled}: 6.6.6.6\r\n${spelled}: on\r\n\r\n`,
      );
      assert.ok(
        !out.includes('6.6.6.6') && !out.includes(': on'),
        `${spelled} passed: ${JSON.stringify(out)}`,
      );
      assert.deepEqual(names(out), [
        'host',
        'x-forwarded-for',
        'x-real-ip',
        'forwarded',
        'x-forwarded-port',
        'x-forwarded-proto',
      ]);
      assert.match(out, /\r\nX-Forwarded-For: 198\.51\.100\.7\r\n/);
    }
  }
});

test('the issue 11 examples are on the list (PHP, Rack, request-ip, CDNs)', () => {
  const listed = new Set(FORWARDING_FIELDS.map((f) => f.name));
  for (const n of [
    'client-ip',
    'x-client-ip',
    'fastly-client-ip',
    'x-forwarded',
    'forwarded-for',
    'x-original-forwarded-for',
    'x-appengine-user-ip',
    'cf-pseudo-ipv4',
    'x-forwarded-ssl',
    'x-forwarded-scheme',
  ])
    assert.ok(listed.has(n), n);
});

test('append: X-Forwarded-For and Forwarded get ours appended, the other listed fields pass through', () => {
  const others = FORWARDING_FIELDS.filter((f) => f.role === F_OTHER);
  const head = `GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.9\r\n${others.map((f) => `${f.name}: v\r\n`).join('')}\r\n`;
  const { out } = rewrite('append', head);
  assert.match(out, /\r\nX-Forwarded-For: 203\.0\.113\.9, 198\.51\.100\.7\r\n/);
  for (const f of others) assert.ok(out.includes(`\r\n${f.name}: v\r\n`), `${f.name} kept by append`);
});

test('Upgrade: only WebSocket survives; h2c, TLS and mixed lists are removed with HTTP2-Settings, in both policies', () => {
  const cases: [string, boolean][] = [
    ['Upgrade: websocket', true],
    ['Upgrade: WebSocket', true],
    ['Upgrade: websocket\r\nUpgrade: websocket', true],
    ['Upgrade: h2c', false],
    ['Upgrade: H2C', false],
    ['Upgrade: websocket, h2c', false],
    ['Upgrade: websocket\r\nUpgrade: h2c', false],
    ['Upgrade: TLS/1.0', false],
    ['Upgrade: websocket/13', false],
    ['Upgrade: ', false],
  ];
  for (const policy of ['replace', 'append'] as const) {
    for (const [line, kept] of cases) {
      const { out, upgrade } = rewrite(
        policy,
        `GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n${line}\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n`,
      );
      assert.equal(upgrade, kept, `${policy} ${line}`);
      assert.equal(/\r\nupgrade:/i.test(out), kept, `${policy} ${line}: ${JSON.stringify(out)}`);
      assert.ok(!/http2-settings:/i.test(out), `${policy}: HTTP2-Settings removed`);
    }
  }
  const { out } = rewrite('replace', 'GET / HTTP/1.1\r\nHost: a\r\nHTTP2_Settings: x\r\n\r\n');
  assert.ok(!/http2.settings/i.test(out));
});

test('docs/sidecar.md lists every removed field', () => {
  const doc = readFileSync(new URL('../../docs/sidecar.md', import.meta.url), 'utf8').toLowerCase();
  const missing = FORWARDING_FIELDS.filter((f) => !doc.includes(`\`${f.name}\``)).map((f) => f.name);
  assert.deepEqual(missing, []);
});
