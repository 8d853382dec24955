/**
 * A private CA for test upstreams (not frametap's own): a TLS server certificate for localhost and
 * 127.0.0.1 signed by it, made with frametap's certificate module and checked by OpenSSL in
 * test/ca/certificate.test.ts.
 */
import crypto from 'node:crypto';
import { createCaCertificate, createLeafCertificate, generateKeyPair, keyIdentifier, toPem } from '../../src/ca/certificate.js';
import { certificateSubject } from '../../src/ca/der-reader.js';

export interface TestPki {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export function makeTestPki(name = 'frametap test upstream CA'): TestPki {
  const caKeys = generateKeyPair();
  const caDer = createCaCertificate({ commonName: name, keys: caKeys });
  const x509 = new crypto.X509Certificate(caDer);
  const serverKeys = generateKeyPair();
  const certDer = createLeafCertificate({
    host: 'localhost',
    alsoFor: ['127.0.0.1', '::1'],
    publicKey: serverKeys.publicKey,
    issuer: { subject: certificateSubject(caDer), keyIdentifier: keyIdentifier(caKeys.publicKey), privateKey: caKeys.privateKey, notAfter: new Date(x509.validTo) },
  });
  return {
    caPem: toPem(caDer),
    certPem: toPem(certDer),
    keyPem: serverKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}
