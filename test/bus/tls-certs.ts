// A throwaway certificate authority for TLS tests, made with the openssl CLI: a CA, a server
// certificate for 127.0.0.1/localhost, a client certificate from the CA, and a "rogue" client
// certificate from another CA. Tests skip when openssl is not installed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'ignore' });
}

export const haveOpenssl = ((): boolean => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

export interface TestCerts {
  /** Path of a file in the certificate directory: ca.pem, server.pem/.key, client.pem/.key, rogue.pem/.key. */
  path(file: string): string;
  remove(): void;
}

export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'vmsg-tls-'));
  const p = (f: string): string => join(dir, f);
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(p('client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const ca of ['ca', 'rogue-ca']) openssl(['req', '-x509', ...key, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '1', '-subj', `/CN=vmsg test ${ca}`], dir);
  const issue = (name: string, ca: string, ext: string): void => {
    openssl(['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', ext], dir);
  };
  issue('server', 'ca', 'server.ext');
  issue('client', 'ca', 'client.ext');
  issue('rogue', 'rogue-ca', 'client.ext');
  return { path: p, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
