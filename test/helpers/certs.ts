/**
 * Certificates for tests, made with openssl in a directory of their own: a CA, server
 * certificates it signs (each with its own key) valid for a given number of days, and
 * their SHA-256 fingerprints and expiries as the server and client show them.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A directory of test certificates with its CA (`ca.pem`). */
export class TestCerts {
  readonly dir = mkdtempSync(join(tmpdir(), 'bore-certs-'));

  constructor() {
    this.#openssl('req', '-x509', ...this.#newKey('ca'), '-out', 'ca.pem', '-days', '30', '-subj', '/CN=bore test CA');
  }

  /** The path of `name` in the directory. */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** Makes `<name>.pem` and `<name>.key`, signed by the CA for localhost and 127.0.0.1, valid for `days` days. */
  make(name: string, days: number): { cert: string; key: string } {
    writeFileSync(this.path(`${name}.ext`), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    this.#openssl('req', ...this.#newKey(name), '-out', `${name}.csr`, '-subj', '/CN=localhost');
    this.#openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      String(days),
      '-extfile',
      `${name}.ext`,
      '-out',
      `${name}.pem`,
    );
    return { cert: this.path(`${name}.pem`), key: this.path(`${name}.key`) };
  }

  /** `sha256:HEX` of the certificate in `file` (what `--tls-fingerprint` takes). */
  static fingerprint(file: string): string {
    return `sha256:${new X509Certificate(readFileSync(file)).fingerprint256.replace(/:/g, '')}`;
  }

  /** When the certificate in `file` expires (its notAfter). */
  static expiry(file: string): Date {
    return new Date(new X509Certificate(readFileSync(file)).validTo);
  }

  /** Removes the directory. */
  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #newKey(name: string): string[] {
    return ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`];
  }

  #openssl(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'ignore' });
  }
}
