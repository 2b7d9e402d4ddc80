// Self-managed TLS logic against an in-memory API with the API server's concurrency semantics
// (409 AlreadyExists on create, 409 Conflict on a stale resourceVersion). The real API server run
// lives in the chart's suite; this pins the decisions: first writer wins, rotation, caBundle.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { silentLogger } from '../../common/logger.ts';
import { type CertBundle, generateCertBundle, serviceSans, splitPem } from '../../webhook/certs.ts';
import { type KubeCertApi, SelfManagedCerts, type StoredSecret } from '../../webhook/self-managed.ts';

class MemoryApi implements KubeCertApi {
  secret: StoredSecret | undefined;
  version = 0;
  caBundles = ['', ''];
  creates = 0;
  patches = 0;
  private tick = () => new Promise((r) => setImmediate(r));
  async readSecret() {
    await this.tick();
    return this.secret;
  }
  async createSecret(_ns: string, _n: string, bundle: CertBundle) {
    await this.tick();
    if (this.secret) return false;
    this.creates++;
    this.secret = { bundle, resourceVersion: String(++this.version) };
    return true;
  }
  async replaceSecret(_ns: string, _n: string, bundle: CertBundle, rv: string) {
    await this.tick();
    if (!this.secret || this.secret.resourceVersion !== rv) return false;
    this.secret = { bundle, resourceVersion: String(++this.version) };
    return true;
  }
  async readCaBundles() {
    await this.tick();
    return [...this.caBundles];
  }
  async patchCaBundles(_c: string, ca: string) {
    await this.tick();
    this.patches++;
    this.caBundles = this.caBundles.map(() => ca);
  }
}

function replica(api: KubeCertApi, now?: () => Date) {
  return new SelfManagedCerts({
    api,
    namespace: 'realip-system',
    secretName: 'realip-webhook-tls',
    serviceName: 'realip-webhook',
    webhookConfigName: 'realip',
    extraSans: ['127.0.0.1'],
    log: silentLogger(),
    ...(now ? { now } : {}),
  });
}

test('generated certificate: signed by the CA, SANs for the Service and extras, serverAuth', async () => {
  const sans = serviceSans('realip-webhook', 'realip-system', ['127.0.0.1']);
  assert.deepEqual(sans, [
    'realip-webhook.realip-system',
    'realip-webhook.realip-system.svc',
    'realip-webhook.realip-system.svc.cluster.local',
    '127.0.0.1',
  ]);
  const b = await generateCertBundle({ commonName: sans[1]!, sans, validityDays: 365 });
  const ca = new X509Certificate(b.ca);
  const cert = new X509Certificate(b.cert);
  assert.ok(ca.ca);
  assert.ok(!cert.ca);
  assert.ok(cert.verify(ca.publicKey), 'signed by the CA');
  assert.ok(cert.checkIssued(ca));
  assert.equal(cert.checkHost('realip-webhook.realip-system.svc'), 'realip-webhook.realip-system.svc');
  assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
  assert.equal(cert.checkHost('evil.example'), undefined);
  assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(b.key)));
  assert.ok(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth');
});

test('two replicas starting together: the first writer wins, both serve the same certificate', async () => {
  const api = new MemoryApi();
  const [a, b] = await Promise.all([replica(api).ensure(), replica(api).ensure()]);
  assert.equal(api.creates, 1);
  assert.equal(a.cert, b.cert);
  assert.equal(a.key, b.key);
  assert.deepEqual(api.caBundles, [a.ca, a.ca], 'every webhook entry trusts the CA');
});

test('an existing good Secret is used as is; the caBundle is patched only when it differs', async () => {
  const api = new MemoryApi();
  const first = await replica(api).ensure();
  const patches = api.patches;
  const again = await replica(api).ensure();
  assert.equal(again.cert, first.cert);
  assert.equal(api.patches, patches, 'no needless patch');
  api.caBundles = ['stale', first.ca];
  await replica(api).ensure();
  assert.deepEqual(api.caBundles, [first.ca, first.ca]);
});

test('within 30 days of expiry: rotated, and the caBundle trusts new and old CA', async () => {
  const api = new MemoryApi();
  const past = new Date(Date.now() - 340 * 86_400_000); // 25 days left of 365
  const old = await replica(api, () => past).ensure();
  assert.ok(replica(api).needsRenewal(undefined), 'no Secret: generate');
  assert.ok(replica(api).needsRenewal(old), '25 days left is inside the renewal window');
  const fresh = await replica(api).ensure();
  assert.notEqual(fresh.cert, old.cert);
  const cas = splitPem(fresh.ca);
  assert.equal(cas.length, 2);
  assert.equal(cas[1], splitPem(old.ca)[0]);
  assert.ok(new X509Certificate(fresh.cert).verify(new X509Certificate(cas[0]!).publicKey));
  assert.deepEqual(api.caBundles, [fresh.ca, fresh.ca]);
});

test('two replicas rotating together: one replace wins, the other takes its certificate', async () => {
  const api = new MemoryApi();
  const past = new Date(Date.now() - 350 * 86_400_000);
  await replica(api, () => past).ensure();
  const [a, b] = await Promise.all([replica(api).ensure(), replica(api).ensure()]);
  assert.equal(a.cert, b.cert);
  assert.equal(api.secret!.bundle.cert, a.cert);
});

test('a certificate missing our SANs is replaced', async () => {
  const api = new MemoryApi();
  const wrong = await generateCertBundle({ commonName: 'x', sans: ['other.example'], validityDays: 365 });
  api.secret = { bundle: wrong, resourceVersion: '7' };
  api.version = 7;
  const got = await replica(api).ensure();
  assert.notEqual(got.cert, wrong.cert);
  assert.equal(
    new X509Certificate(got.cert).checkHost('realip-webhook.realip-system.svc'),
    'realip-webhook.realip-system.svc',
  );
});

test('the periodic check picks up a rotation done by another replica', async (t) => {
  const api = new MemoryApi();
  const me = replica(api);
  await me.ensure();
  const changed = new Promise<CertBundle>((resolve) => me.start(20, resolve));
  t.after(() => me.close());
  const other = await generateCertBundle({
    commonName: 'realip-webhook.realip-system.svc',
    sans: serviceSans('realip-webhook', 'realip-system', ['127.0.0.1']),
    validityDays: 365,
  });
  api.secret = { bundle: other, resourceVersion: String(++api.version) };
  const got = await changed;
  assert.equal(got.cert, other.cert);
});

test('a placeholder Secret (pre-created, empty) is filled in, not served empty', async () => {
  const api = new MemoryApi();
  api.secret = { bundle: { ca: '', cert: '', key: '' }, resourceVersion: '3' };
  api.version = 3;
  const got = await replica(api).ensure();
  assert.ok(got.cert.includes('BEGIN CERTIFICATE'));
  assert.equal(api.secret.bundle.cert, got.cert);
  assert.deepEqual(api.caBundles, [got.ca, got.ca]);
});
