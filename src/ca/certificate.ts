/**
 * X.509 v3 certificates (RFC 5280) for TLS interception, signed with ECDSA P-256 / SHA-256
 * (RFC 5758 §3.2) by `node:crypto`: the self-signed CA and the per-host leaves it issues.
 */
import crypto, { type KeyObject } from 'node:crypto';
import net from 'node:net';
import * as der from './der.js';

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** RFC 5280 §4.2.1.3 KeyUsage bit numbers. */
const KeyUsage = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

const DAY_MS = 24 * 60 * 60 * 1000;
/** A day of slack for clocks behind ours. */
const BACKDATE_MS = DAY_MS;
/** CA/Browser Forum: at most 398 days for a server certificate; Chromium and Safari enforce it. */
const LEAF_VALIDITY_MS = 396 * DAY_MS;
const CA_VALIDITY_MS = 10 * 365 * DAY_MS;
/** RFC 5280 appendix A: ub-common-name 64. */
const MAX_COMMON_NAME = 64;

/** RFC 5758 §3.2: ecdsa-with-SHA256 has no parameters. */
const SIGNATURE_ALGORITHM = der.sequence(der.oid(OID.ecdsaWithSha256));

export function generateKeyPair(): { readonly privateKey: KeyObject; readonly publicKey: KeyObject } {
  return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
}

/** The Name (RFC 5280 §4.1.2.4) as a sequence of single-attribute RDNs, UTF8String values. */
export function encodeName(attributes: ReadonlyArray<readonly ['CN' | 'O', string]>): Buffer {
  return der.sequence(
    ...attributes.map(([type, value]) =>
      der.set(der.sequence(der.oid(type === 'CN' ? OID.commonName : OID.organizationName), der.utf8String(value))),
    ),
  );
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits (the EC point). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || !jwk.x || !jwk.y) throw new Error('frametap internal error: expected an EC public key');
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return crypto.createHash('sha1').update(point).digest();
}

/** RFC 5280 §4.1.2.2: positive, at most 20 octets; 127 random bits make collisions moot. */
function randomSerial(): Buffer {
  const bytes = crypto.randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  // X.690 §11.5 (DER): a DEFAULT FALSE `critical` is left out, never encoded as FALSE.
  return critical ? der.sequence(der.oid(id), der.boolean(true), der.octetString(value)) : der.sequence(der.oid(id), der.octetString(value));
}

interface TbsInput {
  readonly serial: Buffer;
  readonly issuer: Buffer;
  readonly subject: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly extensions: readonly Buffer[];
}

function sign(tbs: TbsInput, signer: KeyObject): Buffer {
  const tbsDer = der.sequence(
    der.explicit(0, der.smallInteger(2)), // v3
    der.unsignedInteger(tbs.serial),
    SIGNATURE_ALGORITHM,
    tbs.issuer,
    der.sequence(der.time(tbs.notBefore), der.time(tbs.notAfter)),
    tbs.subject,
    tbs.publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, der.sequence(...tbs.extensions)),
  );
  const signature = crypto.sign('sha256', tbsDer, { key: signer, dsaEncoding: 'der' });
  return der.sequence(tbsDer, SIGNATURE_ALGORITHM, der.bitString(signature));
}

export interface CaCertificateInput {
  readonly commonName: string;
  readonly keys: { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  readonly now?: Date;
}

/** A self-signed root: CA with path length 0 (it signs leaves only), keyCertSign and cRLSign. */
export function createCaCertificate(input: CaCertificateInput): Buffer {
  const now = (input.now ?? new Date()).getTime();
  const name = encodeName([['CN', input.commonName.slice(0, MAX_COMMON_NAME)], ['O', 'frametap']]);
  const ski = keyIdentifier(input.keys.publicKey);
  return sign(
    {
      serial: randomSerial(),
      issuer: name,
      subject: name,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + CA_VALIDITY_MS),
      publicKey: input.keys.publicKey,
      extensions: [
        extension(OID.basicConstraints, true, der.sequence(der.boolean(true), der.smallInteger(0))),
        extension(OID.keyUsage, true, der.namedBits([KeyUsage.keyCertSign, KeyUsage.cRLSign])),
        extension(OID.subjectKeyIdentifier, false, der.octetString(ski)),
      ],
    },
    input.keys.privateKey,
  );
}

/** What a leaf needs of its issuer. */
export interface Issuer {
  /** The CA's subject Name, DER, byte for byte. */
  readonly subject: Buffer;
  readonly keyIdentifier: Buffer;
  readonly privateKey: KeyObject;
  readonly notAfter: Date;
}

export interface LeafInput {
  /** A DNS name or an IP address (v4, or v6 without brackets). */
  readonly host: string;
  /** More SAN entries (names or IP literals), e.g. `localhost` and `127.0.0.1` on one test server. */
  readonly alsoFor?: readonly string[];
  readonly publicKey: KeyObject;
  readonly issuer: Issuer;
  readonly now?: Date;
}

/**
 * A server certificate for one host: the SAN carries a dNSName, or an iPAddress for an IP literal
 * (RFC 5280 §4.2.1.6; browsers ignore the CN, RFC 6125 §6.4.4), serverAuth only.
 */
export function createLeafCertificate(input: LeafInput): Buffer {
  const now = (input.now ?? new Date()).getTime();
  const notAfter = Math.min(now + LEAF_VALIDITY_MS, input.issuer.notAfter.getTime());
  const san = [input.host, ...(input.alsoFor ?? [])].map((name) => {
    const ip = ipBytes(name);
    return ip ? der.implicitPrimitive(7, ip) : der.ia5String(name, 0x82);
  });
  const subject = input.host.length <= MAX_COMMON_NAME ? encodeName([['CN', input.host], ['O', 'frametap']]) : encodeName([['O', 'frametap']]);
  return sign(
    {
      serial: randomSerial(),
      issuer: input.issuer.subject,
      subject,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(notAfter),
      publicKey: input.publicKey,
      extensions: [
        extension(OID.basicConstraints, true, der.sequence()),
        extension(OID.keyUsage, true, der.namedBits([KeyUsage.digitalSignature])),
        extension(OID.extKeyUsage, false, der.sequence(der.oid(OID.serverAuth))),
        extension(OID.subjectAltName, false, der.sequence(...san)),
        extension(OID.subjectKeyIdentifier, false, der.octetString(keyIdentifier(input.publicKey))),
        extension(OID.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, input.issuer.keyIdentifier))),
      ],
    },
    input.issuer.privateKey,
  );
}

/** 4 or 16 bytes for an IP literal, null for a name. */
export function ipBytes(host: string): Buffer | null {
  const kind = net.isIP(host);
  if (kind === 4) return Buffer.from(host.split('.').map(Number));
  if (kind === 6) return ipv6Bytes(host);
  return null;
}

/** RFC 4291 §2.2 text forms: `::` once, an optional trailing dotted IPv4, an optional zone dropped. */
function ipv6Bytes(text: string): Buffer {
  const address = text.replace(/%.*$/, '');
  const [head, tail] = address.includes('::') ? address.split('::') as [string, string] : [address, null];
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const piece of part.split(':')) {
      if (piece.includes('.')) {
        const v4 = piece.split('.').map(Number);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const first = groups(head);
  const last = tail === null ? [] : groups(tail);
  const fill = tail === null ? [] : new Array<number>(8 - first.length - last.length).fill(0);
  const all = [...first, ...fill, ...last];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

export function toPem(derBytes: Buffer, label = 'CERTIFICATE'): string {
  const b64 = derBytes.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** Chromium's `--ignore-certificate-errors-spki-list` entry: base64 SHA-256 of the SubjectPublicKeyInfo. */
export function spkiHash(publicKey: KeyObject): string {
  return crypto.createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
}
