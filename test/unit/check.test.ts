// `realip check`'s pure parts: label selector matching (as the API server does for namespaceSelector),
// certificate-vs-caBundle verification, and the report format.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { selectorMatches } from '../../webhook/check/checks.ts';
import { daysLeft, parseBundle, verifyAgainstBundle } from '../../webhook/check/served-cert.ts';
import { formatResults } from '../../webhook/check/report.ts';
import { generateCertBundle } from '../../webhook/certs.ts';

describe('selectorMatches', () => {
  const chart = {
    matchExpressions: [
      { key: 'realip.dev/inject', operator: 'In', values: ['enabled'] },
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['kube-system', 'realip-system'] },
    ],
  };
  test("the chart's namespaceSelector", () => {
    const ns = (name: string, inject?: string) => ({
      'kubernetes.io/metadata.name': name,
      ...(inject !== undefined ? { 'realip.dev/inject': inject } : {}),
    });
    assert.equal(selectorMatches(chart, ns('shop', 'enabled')), true);
    assert.equal(selectorMatches(chart, ns('shop')), false);
    assert.equal(selectorMatches(chart, ns('shop', 'disabled')), false);
    assert.equal(selectorMatches(chart, ns('kube-system', 'enabled')), false);
    assert.equal(selectorMatches(chart, ns('realip-system', 'enabled')), false);
  });
  test('matchLabels, Exists, DoesNotExist, no selector, unknown operator', () => {
    assert.equal(selectorMatches({ matchLabels: { a: '1' } }, { a: '1', b: '2' }), true);
    assert.equal(selectorMatches({ matchLabels: { a: '1' } }, { a: '2' }), false);
    assert.equal(selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Exists' }] }, { a: '' }), true);
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] }, { a: '' }),
      false,
    );
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['x'] }] }, {}),
      true,
    );
    assert.equal(selectorMatches(undefined, {}), true);
    assert.equal(
      selectorMatches({ matchExpressions: [{ key: 'a', operator: 'Gt', values: ['1'] }] }, { a: '2' }),
      false,
    );
  });
});

describe('verifyAgainstBundle', async () => {
  const now = new Date();
  const host = 'realip.realip-system.svc';
  const mine = await generateCertBundle({
    commonName: host,
    sans: [host, '127.0.0.1'],
    validityDays: 90,
    now,
  });
  const other = await generateCertBundle({ commonName: host, sans: [host], validityDays: 90, now });
  const [leaf] = parseBundle(mine.cert);

  test('a certificate signed by a CA in the bundle, for the right name, passes', () => {
    assert.equal(verifyAgainstBundle(leaf!, parseBundle(other.ca + mine.ca), host), undefined);
    assert.equal(verifyAgainstBundle(leaf!, parseBundle(mine.ca), '127.0.0.1'), undefined);
  });
  test('another CA, or another name, fails with the reason', () => {
    assert.match(
      verifyAgainstBundle(leaf!, parseBundle(other.ca), host)!,
      /not signed by any of the 1 certificate/,
    );
    assert.match(
      verifyAgainstBundle(leaf!, parseBundle(mine.ca), 'evil.example')!,
      /not valid for evil\.example/,
    );
    assert.match(verifyAgainstBundle(leaf!, parseBundle(mine.ca), '10.0.0.1')!, /not valid for 10\.0\.0\.1/);
  });
  test('days left', () => {
    const d = daysLeft(leaf!, now);
    assert.ok(d > 89 && d <= 90, String(d));
  });
  test('a bundle that is not PEM certificates', () => {
    assert.deepEqual(parseBundle(''), []);
    assert.throws(() => parseBundle('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'));
  });
});

test('report: one line per check, CODE: detail after the title, a closing verdict with the codes', () => {
  const out = formatResults([
    { id: 'api', status: 'pass', title: 'Kubernetes API', detail: 'v1.36.3' },
    {
      id: 'ns',
      status: 'warn',
      title: 'labelled namespaces',
      detail: 'none',
      code: 'CHK_NO_LABELLED_NAMESPACE',
    },
    {
      id: 'cert',
      status: 'fail',
      title: 'certificate validity',
      detail: '3 days left',
      code: 'CHK_CERT_EXPIRING',
    },
    { id: 'dry', status: 'skip', title: 'dry-run pod is injected', detail: 'no namespace' },
  ]);
  assert.equal(
    out,
    [
      '[ok]   Kubernetes API: v1.36.3',
      '[warn] labelled namespaces: CHK_NO_LABELLED_NAMESPACE: none',
      '[FAIL] certificate validity: CHK_CERT_EXPIRING: 3 days left',
      '[skip] dry-run pod is injected: no namespace',
      '',
      'realip check: CHK_FAILED: 1 check(s) failed (CHK_CERT_EXPIRING)',
    ].join('\n'),
  );
});
