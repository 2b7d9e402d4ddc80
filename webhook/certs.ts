/**
 * Certificates for self-managed TLS: an ECDSA P-256 CA and a serving certificate signed by it,
 * with SANs for the webhook Service's DNS names. Keys come from node:crypto (WebCrypto); the X.509
 * encoding from @peculiar/x509 (which needs the reflect-metadata polyfill loaded first).
 */
import 'reflect-metadata';
import { X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;

export interface CertBundle {
  /** PEM of the CA that signed `cert` (goes into the webhook configuration's caBundle). */
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

export interface GenerateOptions {
  readonly commonName: string;
  /** DNS names and IP addresses. */
  readonly sans: readonly string[];
  readonly validityDays: number;
  readonly now?: Date;
}

/** The DNS names a Service answers to inside the cluster. */
export function serviceSans(service: string, namespace: string, extra: readonly string[] = []): string[] {
  const names = [
    `${service}.${namespace}`,
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    ...extra,
  ];
  return [...new Set(names)];
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64');
  return `-----BEGIN ${label}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${label}-----\n`;
}

export async function generateCertBundle(opts: GenerateOptions): Promise<CertBundle> {
  const now = opts.now ?? new Date();
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate clock skew
  const notAfter = new Date(now.getTime() + opts.validityDays * DAY_MS);
  const caKeys = (await webcrypto.subtle.generateKey(ALG, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=realip-webhook-ca-${now.getTime()}`,
    keys: caKeys,
    notBefore,
    // The CA outlives the serving certificate a little, so it is never the first to expire.
    notAfter: new Date(notAfter.getTime() + DAY_MS),
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    subject: `CN=${opts.commonName}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        opts.sans.map((s) =>
          isIP(s) ? { type: 'ip' as const, value: s } : { type: 'dns' as const, value: s },
        ),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    ca: ca.toString('pem'),
    cert: cert.toString('pem'),
    key: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)),
  };
}

/** When the (first) certificate in a PEM expires; undefined when it does not parse. */
export function certificateExpiry(certPem: string): Date | undefined {
  try {
    return new Date(new NodeX509(certPem).validTo);
  } catch {
    return undefined;
  }
}

/** Does the certificate name every SAN we need? */
export function coversSans(certPem: string, sans: readonly string[]): boolean {
  try {
    const c = new NodeX509(certPem);
    const have = (c.subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, ''));
    return sans.every((s) => have.includes(s));
  } catch {
    return false;
  }
}

/** Splits a PEM bundle into its certificates. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
}
