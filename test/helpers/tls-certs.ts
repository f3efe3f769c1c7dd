/**
 * Test certificates made with the `openssl` CLI (Debian package `openssl`; CI installs it)
 * in a temp dir: a CA, a server certificate for 127.0.0.1/localhost, a client certificate
 * signed by that CA, one signed by an unrelated CA, and an expired one.
 *
 * The expired certificate: OpenSSL 3.0's `x509 -req` has no `-not_before/-not_after`
 * (added in 3.4) and `-days` must be positive, so it is issued with `openssl ca`, whose
 * `-startdate/-enddate` accept any dates (here 2020-01-01 .. 2020-01-02). EC P-256 keys
 * keep generation fast.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestPki {
  readonly dir: string;
  /** PEM of the CA that signs the server and the good client certificates. */
  readonly caCert: string;
  readonly serverKey: string;
  /** Server certificate for DNS:localhost, IP:127.0.0.1, IP:::1 signed by `caCert`. */
  readonly serverCert: string;
  readonly clientKey: string;
  /** Client certificate signed by `caCert`. */
  readonly clientCert: string;
  readonly otherCaCert: string;
  /** Client certificate signed by an unrelated CA (key: `otherClientKey`). */
  readonly otherClientCert: string;
  readonly otherClientKey: string;
  /** Client certificate signed by `caCert` that expired on 2020-01-02 (key: `clientKey`). */
  readonly expiredClientCert: string;
  cleanup(): void;
}

/** Whether the openssl CLI is on PATH (tests skip with a reason when it is not). */
export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused

[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth

[ca]
default_ca = ca_default
[ca_default]
dir = DIR
database = DIR/index.txt
new_certs_dir = DIR
serial = DIR/serial
private_key = DIR/ca.key
certificate = DIR/ca.pem
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
[policy_any]
commonName = supplied
`;

/** Generate the whole set. Synchronous; ~100 ms with EC keys. */
export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'veneur-pki-'));
  const p = (name: string): string => join(dir, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  try {
    writeFileSync(p('openssl.cnf'), CONFIG.replaceAll('DIR', dir));
    writeFileSync(p('index.txt'), '');
    writeFileSync(p('serial'), '1000\n');
    const cnf = ['-config', p('openssl.cnf')];
    const key = (name: string): void =>
      ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(name));
    const selfSignedCa = (k: string, out: string, cn: string): void =>
      ssl(
        'req',
        ...cnf,
        '-x509',
        '-new',
        '-key',
        p(k),
        '-subj',
        `/CN=${cn}`,
        '-days',
        '3650',
        '-extensions',
        'ca_ext',
        '-out',
        p(out),
      );
    const csr = (k: string, out: string, cn: string): void =>
      ssl('req', ...cnf, '-new', '-key', p(k), '-subj', `/CN=${cn}`, '-out', p(out));
    const sign = (csrFile: string, caCert: string, caKey: string, ext: string, out: string): void =>
      ssl(
        'x509',
        '-req',
        '-in',
        p(csrFile),
        '-CA',
        p(caCert),
        '-CAkey',
        p(caKey),
        '-CAcreateserial',
        '-days',
        '3650',
        '-extfile',
        p('openssl.cnf'),
        '-extensions',
        ext,
        '-sha256',
        '-out',
        p(out),
      );

    key('ca.key');
    selfSignedCa('ca.key', 'ca.pem', 'veneur test CA');
    key('other-ca.key');
    selfSignedCa('other-ca.key', 'other-ca.pem', 'unrelated test CA');

    key('server.key');
    csr('server.key', 'server.csr', 'localhost');
    sign('server.csr', 'ca.pem', 'ca.key', 'server_ext', 'server.pem');

    key('client.key');
    csr('client.key', 'client.csr', 'veneur test client');
    sign('client.csr', 'ca.pem', 'ca.key', 'client_ext', 'client.pem');

    key('other-client.key');
    csr('other-client.key', 'other-client.csr', 'client of another CA');
    sign('other-client.csr', 'other-ca.pem', 'other-ca.key', 'client_ext', 'other-client.pem');

    // `openssl ca` takes any validity window, unlike `x509 -req -days` on OpenSSL < 3.4
    ssl(
      'ca',
      ...cnf,
      '-batch',
      '-notext',
      '-in',
      p('client.csr'),
      '-startdate',
      '20200101000000Z',
      '-enddate',
      '20200102000000Z',
      '-extensions',
      'client_ext',
      '-extfile',
      p('openssl.cnf'),
      '-out',
      p('expired-client.pem'),
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl failed: ${(err as Error).message}\n${stderr}`);
  }
  const read = (name: string): string => readFileSync(p(name), 'utf8');
  return {
    dir,
    caCert: read('ca.pem'),
    serverKey: read('server.key'),
    serverCert: read('server.pem'),
    clientKey: read('client.key'),
    clientCert: read('client.pem'),
    otherCaCert: read('other-ca.pem'),
    otherClientKey: read('other-client.key'),
    otherClientCert: read('other-client.pem'),
    expiredClientCert: read('expired-client.pem'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
