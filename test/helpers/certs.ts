/**
 * Certificates for the server-side TLS tests: server certificates for localhost and
 * 127.0.0.1 signed by a test CA, valid for a given number of days, and their SHA-256
 * fingerprints and expiries as the server and client show them. Made by the TLS tests'
 * own maker (`tls-certs.ts`), in a directory of their own.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { TestCerts as Maker } from './tls-certs.js';

/** A directory of test certificates with its CA (`ca.pem`). */
export class TestCerts {
  readonly #maker = new Maker();
  readonly dir = this.#maker.dir;

  /** The path of `name` in the directory. */
  path(name: string): string {
    return this.#maker.path(name);
  }

  /** Makes `<name>.pem` and `<name>.key`, signed by the CA for localhost and 127.0.0.1, valid for `days` days. */
  make(name: string, days: number): { cert: string; key: string } {
    this.#maker.make(name, 'localhost', 'DNS:localhost,IP:127.0.0.1', days);
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
    this.#maker.remove();
  }
}
