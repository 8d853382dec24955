/**
 * The CA and leaf certificates as verifiers see them: Node's X509Certificate (checkIssued, verify,
 * checkHost/checkIP) and OpenSSL (`openssl verify`, `openssl x509 -text`), plus the CA store on
 * disk (mode 0600, no link followed, the key never in a message) and the leaf cache bound.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CERT_FILE, KEY_FILE, frametapHome, loadOrCreateCa } from '../../src/ca/ca-store.js';
import { ipBytes, toPem } from '../../src/ca/certificate.js';
import { LeafIssuer } from '../../src/ca/leaf-issuer.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempHome(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'frametap-ca-'));
  dirs.push(d);
  return path.join(d, 'home');
}
function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
}

describe('the CA', () => {
  it('is made on first use: key mode 0600, directory 0700, loaded again the same', () => {
    const home = tempHome();
    const ca = loadOrCreateCa(home);
    expect(fs.statSync(path.join(home, KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(home).mode & 0o777).toBe(0o700);
    const again = loadOrCreateCa(home);
    expect(again.fingerprint256).toBe(ca.fingerprint256);
    expect(ca.x509.ca).toBe(true);
    expect(ca.x509.subject).toMatch(/^CN=frametap CA on /);
    const text = openssl(['x509', '-noout', '-text', '-in', ca.certPath]);
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
    expect(text).toMatch(/ecdsa-with-SHA256/);
    // Chromium's SPKI hash, computed the way its documentation says (openssl pkey -pubin -outform der | sha256 | base64).
    const spkiDer = ca.x509.publicKey.export({ type: 'spki', format: 'der' });
    expect(ca.spki).toBe(crypto.createHash('sha256').update(spkiDer).digest('base64'));
  });

  it('FRAMETAP_HOME decides where it lives, else ~/.frametap', () => {
    expect(frametapHome({ FRAMETAP_HOME: '/x/y' })).toBe('/x/y');
    expect(frametapHome({})).toBe(path.join(os.homedir(), '.frametap'));
  });

  it('refuses a key file that is a link, readable by others or not the certificate’s; messages never hold key bytes', () => {
    const home = tempHome();
    const ca = loadOrCreateCa(home);
    const keyPath = path.join(home, KEY_FILE);
    const keyText = fs.readFileSync(keyPath, 'utf8');
    const body = keyText.split('\n')[1]!;

    fs.chmodSync(keyPath, 0o644);
    expect(() => loadOrCreateCa(home)).toThrow(/can be read by other users.*chmod 600/);
    fs.chmodSync(keyPath, 0o600);

    const real = path.join(path.dirname(home), 'elsewhere.pem');
    fs.renameSync(keyPath, real);
    fs.symlinkSync(real, keyPath);
    let message = '';
    try {
      loadOrCreateCa(home);
    } catch (error) {
      message = String(error);
    }
    expect(message).toMatch(/symbolic link/);
    expect(message).not.toContain(body);
    fs.unlinkSync(keyPath);

    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    fs.writeFileSync(keyPath, other, { mode: 0o600 });
    expect(() => loadOrCreateCa(home)).toThrow(/is not the key of/);
    fs.writeFileSync(keyPath, 'garbage', { mode: 0o600 });
    expect(() => loadOrCreateCa(home)).toThrow(/is not a PEM private key/);
    fs.unlinkSync(keyPath);
    expect(() => loadOrCreateCa(home)).toThrow(/incomplete CA/);
    expect(ca.certPath).toBe(path.join(home, CERT_FILE));
  });

  it('a link planted at the key path before creation is not followed', () => {
    const home = tempHome();
    fs.mkdirSync(home, { recursive: true });
    const target = path.join(path.dirname(home), 'victim');
    fs.symlinkSync(target, path.join(home, KEY_FILE));
    expect(() => loadOrCreateCa(home)).toThrow();
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('leaf certificates', () => {
  it('name the host in the SAN (DNS or IP), chain to the CA, and OpenSSL verifies them for serverAuth', () => {
    const home = tempHome();
    const ca = loadOrCreateCa(home);
    const issuer = new LeafIssuer(ca);
    const cases: ReadonlyArray<readonly [string, string]> = [
      ['App.Example.TEST.', 'DNS:app.example.test'],
      ['127.0.0.1', 'IP Address:127.0.0.1'],
      ['[::1]', 'IP Address:0:0:0:0:0:0:0:1'],
      ['2001:db8::8:800:200c:417a', 'IP Address:2001:DB8:0:0:8:800:200C:417A'],
      ['::ffff:192.0.2.1', 'IP Address:0:0:0:0:0:FFFF:C000:201'],
      [`${'a'.repeat(63)}.${'b'.repeat(20)}.test`, `DNS:${'a'.repeat(63)}.${'b'.repeat(20)}.test`],
    ];
    for (const [host, san] of cases) {
      const leaf = issuer.leafFor(host);
      const x = new crypto.X509Certificate(leaf.certDer);
      expect(x.subjectAltName, host).toBe(san);
      expect(x.checkIssued(ca.x509)).toBe(true);
      expect(x.verify(ca.x509.publicKey)).toBe(true);
      expect(x.ca).toBe(false);
      const file = path.join(path.dirname(home), 'leaf.pem');
      fs.writeFileSync(file, toPem(leaf.certDer));
      expect(openssl(['verify', '-purpose', 'sslserver', '-CAfile', ca.certPath, file]).trim()).toBe(`${file}: OK`);
    }
    const dns = new crypto.X509Certificate(issuer.leafFor('app.example.test').certDer);
    expect(dns.checkHost('app.example.test')).toBe('app.example.test');
    expect(dns.checkHost('other.example.test')).toBeUndefined();
    expect(new crypto.X509Certificate(issuer.leafFor('127.0.0.1').certDer).checkIP('127.0.0.1')).toBe('127.0.0.1');
    const text = openssl(['x509', '-noout', '-text'], toPem(issuer.leafFor('app.example.test').certDer));
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/Digital Signature/);
    expect(text).toMatch(/TLS Web Server Authentication/);
    expect(text).toMatch(/Authority Key Identifier/);
    // CA/Browser Forum: at most 398 days.
    expect(new Date(dns.validTo).getTime() - new Date(dns.validFrom).getTime()).toBeLessThanOrEqual(398 * 24 * 3600 * 1000);
  });

  it('are cached per host, in a bounded cache (least recently used goes first)', () => {
    const issuer = new LeafIssuer(loadOrCreateCa(tempHome()), { maxEntries: 50 });
    const first = issuer.leafFor('keep.example.test');
    for (let i = 0; i < 200; i++) {
      issuer.leafFor(`host${i}.example.test`);
      issuer.leafFor('keep.example.test');
    }
    expect(issuer.size).toBe(50);
    expect(issuer.leafFor('keep.example.test')).toBe(first);
    expect(issuer.leafFor('host0.example.test').certDer.equals(issuer.leafFor('host0.example.test').certDer)).toBe(true);
  });

  it('ipBytes: v4, v6 with ::, embedded v4 and zones', () => {
    expect(ipBytes('10.0.0.1')?.toString('hex')).toBe('0a000001');
    expect(ipBytes('::')?.toString('hex')).toBe('0'.repeat(32));
    expect(ipBytes('fe80::1%eth0')?.toString('hex')).toBe('fe80' + '0'.repeat(27) + '1');
    expect(ipBytes('1:2:3:4:5:6:7:8')?.toString('hex')).toBe('00010002000300040005000600070008');
    expect(ipBytes('example.test')).toBeNull();
  });
});
