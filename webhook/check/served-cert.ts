/**
 * Certificate helpers for `realip check`: parse a caBundle, fetch the certificate a webhook serves,
 * and verify a serving certificate against a caBundle the way the API server does (chain to a CA in
 * the bundle, name matches the host it dials).
 */
import { X509Certificate } from 'node:crypto';
import { connect } from 'node:tls';
import { TimeoutError } from './cause.ts';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM bundle; throws when a block does not parse. */
export function parseBundle(pem: string): X509Certificate[] {
  return (pem.match(PEM_CERT) ?? []).map((block) => new X509Certificate(block));
}

export interface Served {
  /** The leaf certificate the server presented. */
  readonly leaf: X509Certificate;
  /** undefined when the chain verifies against the given CAs and the name matches, else why not. */
  readonly verifyError: string | undefined;
}

/**
 * Opens a TLS connection the way the API server does when it calls the webhook: trusting only
 * `caPem`, checking `servername`. Never sends application data.
 */
export function fetchServedCertificate(
  host: string,
  port: number,
  servername: string,
  caPem: string,
  timeoutMs: number,
): Promise<Served> {
  return new Promise((resolve, reject) => {
    const isIp = /^[0-9.]+$|:/.test(servername);
    const socket = connect({
      host,
      port,
      ca: caPem === '' ? undefined : caPem,
      // SNI must be a DNS name; for an IP, Node checks the name against the IP SANs anyway.
      ...(isIp ? {} : { servername }),
      rejectUnauthorized: false,
      timeout: timeoutMs,
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate(false);
      socket.destroy();
      if (!peer?.raw) {
        reject(new Error('the server presented no certificate'));
        return;
      }
      const leaf = new X509Certificate(peer.raw);
      let verifyError: string | undefined = socket.authorized ? undefined : String(socket.authorizationError);
      // Node checks the identity against `servername` only for DNS names; do it for IPs here.
      if (verifyError === undefined && isIp && leaf.checkIP(servername) === undefined) {
        verifyError = `certificate has no IP SAN ${servername}`;
      }
      resolve({ leaf, verifyError });
    });
    socket.once('timeout', () => socket.destroy(new TimeoutError('TLS handshake', timeoutMs)));
    socket.once('error', reject);
  });
}

/**
 * Verifies a leaf against a bundle without a connection (certificate read from its Secret): issued
 * by one of the bundle's certificates (or one of them), and valid for `host`.
 */
export function verifyAgainstBundle(leaf: X509Certificate, bundle: readonly X509Certificate[], host: string) {
  const issuer = bundle.find(
    (ca) => ca.fingerprint256 === leaf.fingerprint256 || (leaf.checkIssued(ca) && leaf.verify(ca.publicKey)),
  );
  if (!issuer) return `not signed by any of the ${bundle.length} certificate(s) in the caBundle`;
  const isIp = /^[0-9.]+$|:/.test(host);
  const named = isIp ? leaf.checkIP(host) : leaf.checkHost(host);
  if (named === undefined)
    return `certificate is not valid for ${host} (subjectAltName: ${leaf.subjectAltName})`;
  return undefined;
}

export function daysLeft(cert: X509Certificate, now: Date): number {
  return (new Date(cert.validTo).getTime() - now.getTime()) / 86_400_000;
}
