/**
 * `frametap ca [--pem|--spki]` (cli.md): the interception CA — made on first use — where it is,
 * its fingerprints, and how to trust it. Never prints the key.
 */
import { UsageError } from '../../errors.js';
import { parseFlags } from '../args.js';

export const HELP = `usage: frametap ca [--pem | --spki]

Shows frametap's interception CA (made on first use in $FRAMETAP_HOME, default ~/.frametap):
where its certificate and key are, its SHA-256 fingerprint, the SPKI hash for Chromium's
--ignore-certificate-errors-spki-list, and how to trust it. The key (mode 0600) is never printed.

      --pem     print the CA certificate (PEM) alone
      --spki    print the SPKI hash alone (base64 SHA-256 of the public key)
  -h, --help    this help
`;

const FLAGS = {
  pem: { type: 'boolean' },
  spki: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export async function run(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parseFlags('ca', argv, FLAGS);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`ca: unexpected argument '${positionals[0]}' (see 'frametap ca --help')`);
  if (values.pem && values.spki) throw new UsageError(`ca: give --pem or --spki, not both`);
  const { loadOrCreateCa, frametapHome } = await import('../../ca/ca-store.js');
  const ca = loadOrCreateCa(frametapHome());
  if (values.pem) {
    process.stdout.write(ca.certPem);
    return 0;
  }
  if (values.spki) {
    process.stdout.write(`${ca.spki}\n`);
    return 0;
  }
  process.stdout.write(describeCa(ca));
  return 0;
}

export function describeCa(ca: { certPath: string; keyPath: string; fingerprint256: string; spki: string; x509: { subject: string; validTo: string } }): string {
  const cert = ca.certPath;
  return `frametap interception CA (${ca.x509.subject.replace(/\n/g, ', ')})
  certificate  ${cert}
  key          ${ca.keyPath} (mode 0600; keep it private: whoever has it can impersonate any site to you)
  valid until  ${ca.x509.validTo}
  SHA-256      ${ca.fingerprint256}
  SPKI         ${ca.spki}

Start the proxy:   frametap -l 8080          (forward mode: no -u)
Use it from a browser, one of:
  Chromium, this run only (no trust store change):
    chromium --proxy-server=http://127.0.0.1:8080 --ignore-certificate-errors-spki-list=${ca.spki} \\
      --proxy-bypass-list='<-loopback>' --user-data-dir=$(mktemp -d)
  Chromium/Chrome and Firefox on Linux (NSS databases; certutil is in Debian's libnss3-tools):
    certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n frametap -i ${cert}
    certutil -d sql:PATH/TO/FIREFOX/PROFILE -A -t C,, -n frametap -i ${cert}
  Debian/Ubuntu system store (curl, wget, Python requests via the system bundle):
    sudo cp ${cert} /usr/local/share/ca-certificates/frametap.crt && sudo update-ca-certificates
  macOS keychain:
    sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${cert}
  Node.js clients:
    NODE_EXTRA_CA_CERTS=${cert} node app.js
Remove it again the same way (certutil -D -n frametap; delete the .crt and update-ca-certificates --fresh;
security delete-certificate -c 'frametap CA').
`;
}
