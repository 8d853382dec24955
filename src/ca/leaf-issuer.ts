/**
 * TLS server contexts for intercepted hosts: one leaf certificate per host, signed by the CA,
 * all sharing one P-256 key pair (made once per process: a key pair per host would cost more than
 * the certificate). Contexts are kept in a bounded LRU cache: a browser that visits thousands of
 * hosts costs at most `maxEntries` contexts.
 */
import crypto from 'node:crypto';
import tls from 'node:tls';
import { createLeafCertificate, generateKeyPair, toPem } from './certificate.js';
import type { CertificateAuthority } from './ca-store.js';

export interface Leaf {
  readonly host: string;
  readonly certDer: Buffer;
  readonly context: tls.SecureContext;
}

export class LeafIssuer {
  readonly #ca: CertificateAuthority;
  readonly #keys = generateKeyPair();
  readonly #keyPem: string;
  readonly #maxEntries: number;
  /** Map order is insertion order: a hit is re-inserted, so the first key is the least recently used. */
  readonly #cache = new Map<string, Leaf>();

  constructor(ca: CertificateAuthority, options: { readonly maxEntries?: number } = {}) {
    this.#ca = ca;
    this.#keyPem = this.#keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.#maxEntries = options.maxEntries ?? 1000;
  }

  get size(): number {
    return this.#cache.size;
  }

  /** `host`: a DNS name (any case, a trailing dot allowed) or an IP literal (IPv6 with or without brackets). */
  leafFor(host: string): Leaf {
    const key = normaliseHost(host);
    const hit = this.#cache.get(key);
    if (hit) {
      this.#cache.delete(key);
      this.#cache.set(key, hit);
      return hit;
    }
    const certDer = createLeafCertificate({ host: key, publicKey: this.#keys.publicKey, issuer: this.#ca });
    // The CA goes in the chain: Chromium's SPKI allow-list matches a key anywhere in the chain and
    // rejects a lone leaf with ERR_CERT_AUTHORITY_INVALID.
    const context = tls.createSecureContext({ key: this.#keyPem, cert: toPem(certDer) + this.#ca.certPem, minVersion: 'TLSv1.2' });
    const leaf: Leaf = { host: key, certDer, context };
    this.#cache.set(key, leaf);
    if (this.#cache.size > this.#maxEntries) this.#cache.delete(this.#cache.keys().next().value!);
    return leaf;
  }

  /** For tests: the shared leaf public key. */
  get publicKey(): crypto.KeyObject {
    return this.#keys.publicKey;
  }
}

export function normaliseHost(host: string): string {
  let h = host.toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}
