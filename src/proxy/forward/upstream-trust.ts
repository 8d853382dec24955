/**
 * Which upstream certificates forward mode trusts (cli.md): Node's bundled roots, plus the file
 * named by NODE_EXTRA_CA_CERTS, plus `--upstream-ca FILE`s. A `ca` option *replaces* Node's
 * defaults, so the list is built whole, once, into one SecureContext shared by every dial
 * (building one per dial would parse ~150 roots each time).
 */
import fs from 'node:fs';
import tls from 'node:tls';
import { UsageError } from '../../errors.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in a file; a file without any is a usage error naming the flag. */
export function readCertificates(file: string, flag: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${flag} file '${file}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const certs = text.match(PEM_CERT) ?? [];
  if (certs.length === 0) throw new UsageError(`${flag} file '${file}' holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  return certs;
}

export function upstreamTrust(extra: readonly string[], env: NodeJS.ProcessEnv = process.env): tls.SecureContext {
  const fromEnv: string[] = [];
  const file = env.NODE_EXTRA_CA_CERTS;
  if (file) {
    // Node itself only warns when this file cannot be read; do the same by ignoring it.
    try {
      fromEnv.push(...(fs.readFileSync(file, 'utf8').match(PEM_CERT) ?? []));
    } catch {
      /* Node printed its own warning at startup */
    }
  }
  return tls.createSecureContext({ ca: [...tls.rootCertificates, ...fromEnv, ...extra] });
}
