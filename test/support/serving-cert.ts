/**
 * A serving certificate for a webhook on 127.0.0.1, written as the chart's Secret mount would hold
 * it (tls.crt, tls.key) in a temp directory that the test removes when it ends.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type CertBundle, generateCertBundle } from '../../webhook/certs.ts';

export interface ServingCertFiles {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The CA to pin, and the certificate and key that were written. */
  readonly bundle: CertBundle;
}

export async function servingCertFiles(
  t: TestContext,
  prefix: string,
  validityDays: number,
): Promise<ServingCertFiles> {
  const dir = mkdtempSync(join(tmpdir(), `realip-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bundle = await generateCertBundle({
    commonName: 'realip-webhook',
    sans: ['127.0.0.1'],
    validityDays,
  });
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  writeFileSync(certFile, bundle.cert);
  writeFileSync(keyFile, bundle.key);
  return { dir, certFile, keyFile, bundle };
}
