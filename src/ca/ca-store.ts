/**
 * frametap's interception CA on disk (cli.md): `$FRAMETAP_HOME` (default `~/.frametap`) holds
 * `ca-cert.pem` and `ca-key.pem` (mode 0600). Created on first use; files are created exclusively
 * and read without following symbolic links, so a link planted there cannot redirect the key.
 * No message here ever contains key material: errors name the path and what is wrong.
 */
import crypto, { type KeyObject } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FrametapError } from '../errors.js';
import { certificateSubject } from './der-reader.js';
import { createCaCertificate, generateKeyPair, keyIdentifier, spkiHash, toPem, type Issuer } from './certificate.js';

export const CERT_FILE = 'ca-cert.pem';
export const KEY_FILE = 'ca-key.pem';

export interface CertificateAuthority extends Issuer {
  readonly home: string;
  readonly certPath: string;
  readonly keyPath: string;
  readonly certPem: string;
  readonly certDer: Buffer;
  /** `AB:CD:…`, SHA-256 of the certificate. */
  readonly fingerprint256: string;
  /** For Chromium's `--ignore-certificate-errors-spki-list`. */
  readonly spki: string;
  readonly x509: crypto.X509Certificate;
}

export function frametapHome(env: NodeJS.ProcessEnv = process.env): string {
  const home = env.FRAMETAP_HOME;
  return home && home !== '' ? path.resolve(home) : path.join(os.homedir(), '.frametap');
}

/** Loads the CA from `home`, creating it (and `home`, mode 0700) when there is none yet. */
export function loadOrCreateCa(home: string = frametapHome()): CertificateAuthority {
  const certPath = path.join(home, CERT_FILE);
  const keyPath = path.join(home, KEY_FILE);
  const hasKey = exists(keyPath);
  const hasCert = exists(certPath);
  if (!hasKey && !hasCert) {
    try {
      create(home, certPath, keyPath);
    } catch (error) {
      // Another frametap made it at the same moment: use theirs.
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new FrametapError(`cannot create the CA in ${home}: ${describe(error)}`, { cause: error });
      }
    }
  } else if (hasKey !== hasCert) {
    throw new FrametapError(
      `incomplete CA in ${home}: ${hasKey ? CERT_FILE : KEY_FILE} is missing; remove ${hasKey ? KEY_FILE : CERT_FILE} to have a new CA made (then trust the new one)`,
    );
  }
  return load(home, certPath, keyPath);
}

function exists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new FrametapError(`cannot read ${file}: ${describe(error)}`, { cause: error });
  }
}

function create(home: string, certPath: string, keyPath: string): void {
  fs.mkdirSync(home, { recursive: true, mode: 0o700 });
  const keys = generateKeyPair();
  const commonName = `frametap CA on ${os.hostname()}`;
  const certDer = createCaCertificate({ commonName, keys });
  const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  // Key first: a cert without its key is useless, and the key file is what must never be lost.
  publishExclusive(keyPath, keyPem, 0o600);
  publishExclusive(certPath, toPem(certDer), 0o644);
}

/**
 * Written to a fresh temporary name (`wx`: O_CREAT|O_EXCL, which never follows a link), then
 * hard-linked to its final name, which fails with EEXIST rather than replace anything.
 */
function publishExclusive(file: string, content: string, mode: number): void {
  const temp = `${path.dirname(file)}/.${path.basename(file)}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  const fd = fs.openSync(temp, 'wx', mode);
  try {
    fs.fchmodSync(fd, mode);
    fs.writeSync(fd, content);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    fs.linkSync(temp, file);
  } finally {
    fs.unlinkSync(temp);
  }
}

function readNoFollow(file: string, secret: boolean): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new FrametapError(code === 'ELOOP' ? `${file} is a symbolic link; frametap does not follow it (remove it)` : `cannot read ${file}: ${describe(error)}`, { cause: error });
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new FrametapError(`${file} is not a regular file`);
    if (secret && (stat.mode & 0o077) !== 0) {
      throw new FrametapError(`${file} can be read by other users (mode ${(stat.mode & 0o777).toString(8)}); run: chmod 600 ${file}`);
    }
    return fs.readFileSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function load(home: string, certPath: string, keyPath: string): CertificateAuthority {
  const certPem = readNoFollow(certPath, false).toString('utf8');
  const keyPem = readNoFollow(keyPath, true);
  let x509: crypto.X509Certificate;
  let privateKey: KeyObject;
  try {
    x509 = new crypto.X509Certificate(certPem);
  } catch {
    throw new FrametapError(`${certPath} is not a PEM certificate; remove ${certPath} and ${keyPath} to have a new CA made`);
  }
  try {
    privateKey = crypto.createPrivateKey(keyPem);
  } catch {
    // Deliberately without the parser's message: it could quote the file.
    throw new FrametapError(`${keyPath} is not a PEM private key; remove ${certPath} and ${keyPath} to have a new CA made`);
  }
  if (!x509.checkPrivateKey(privateKey)) {
    throw new FrametapError(`${keyPath} is not the key of ${certPath}; remove both to have a new CA made`);
  }
  const certDer = x509.raw;
  return {
    home,
    certPath,
    keyPath,
    certPem,
    certDer,
    x509,
    subject: certificateSubject(certDer),
    keyIdentifier: keyIdentifier(x509.publicKey),
    privateKey,
    notAfter: new Date(x509.validTo),
    fingerprint256: x509.fingerprint256,
    spki: spkiHash(x509.publicKey),
  };
}

function describe(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  return e.code ? `${e.code}${e.syscall ? ` (${e.syscall})` : ''}` : String(e.message ?? error);
}
