/**
 * Certificates the TLS tests make themselves with openssl, in a temporary directory: a
 * test CA, and leaf certificates it signs (or self-signed ones), for a name, valid for
 * some days (negative: expired).
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from './procs.js';

/** A directory of test certificates: `ca.pem`/`ca.key` at once, the others by {@link TestCerts.make}. */
export class TestCerts {
  readonly dir = mkdtempSync(join(tmpdir(), 'bore-tls-'));

  /** Makes the test CA (`/CN=bore test CA`, 2 days). */
  constructor() {
    this.#openssl('req', '-x509', ...this.#newKey('ca'), '-out', 'ca.pem', '-days', '2', '-subj', '/CN=bore test CA');
  }

  /** The path of file `name` (e.g. `ca.pem`). */
  path(name: string): string {
    return join(this.dir, name);
  }

  /** `name.pem` and `name.key` for `cn` with `san`, signed by the test CA (or self-signed), valid for `days` (negative: expired). */
  make(name: string, cn: string, san: string, days: number, selfSigned = false): this {
    const key = this.#newKey(name);
    if (selfSigned) {
      this.#openssl(
        'req',
        '-x509',
        ...key,
        '-out',
        `${name}.pem`,
        '-days',
        String(days),
        '-subj',
        `/CN=${cn}`,
        '-addext',
        `subjectAltName=${san}`,
      );
      return this;
    }
    writeFileSync(this.path(`${name}.ext`), `subjectAltName=${san}\n`);
    this.#openssl('req', ...key, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
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
    return this;
  }

  /** Certificate `name`, parsed. */
  x509(name: string): X509Certificate {
    return new X509Certificate(readFileSync(this.path(`${name}.pem`)));
  }

  /** The SHA-256 fingerprint of certificate `name`, as `sha256:HEX` (colons kept, as openssl prints it). */
  fingerprintOf(name: string): string {
    return `sha256:${this.x509(name).fingerprint256}`;
  }

  /** `bore server` serving TLS with certificate `name`. */
  server(name: string, args: string[] = []) {
    return startServer(['--tls-cert', this.path(`${name}.pem`), '--tls-key', this.path(`${name}.key`), ...args]);
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
