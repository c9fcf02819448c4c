/**
 * What ACME keeps across restarts, in the ACME state directory: per CA (its directory
 * URL, e.g. `acme-v02.api.letsencrypt.org_directory/`) the account key and, per host
 * name, the certificate (full chain) and its key. A restart serves the stored
 * certificate instead of ordering a new one (CAs limit orders per week); a certificate
 * from another CA (a staging directory, a test server) is never taken for this one's.
 */
import { nodeCrypto } from '../protocol/on-demand.js';
import { join } from 'node:path';
import { privateDir, readIfExists, writePrivateFile } from '../system/state-dir.js';
import type { ServerTlsOptions } from './tls.js';

/** The folder name of a CA's directory URL: its host, port and path, each odd character a `_`. */
export function caFolder(directoryUrl: string): string {
  const url = new URL(directoryUrl);
  return `${url.host}${url.pathname}`.replace(/[^a-zA-Z0-9.-]+/g, '_').replace(/^_+|_+$/g, '');
}

/** A new ECDSA P-256 private key, PEM (PKCS #8): what Let's Encrypt takes for accounts and certificates. */
export function newPrivateKey(): string {
  return nodeCrypto().generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/** The ACME files of one CA under the state directory `root` (created 0700 when first written). */
export class AcmeStore {
  /** The CA's folder. */
  readonly dir: string;

  constructor(root: string, directoryUrl: string) {
    this.dir = join(root, caFolder(directoryUrl));
  }

  /** The account key, made and stored (0600) the first time. */
  accountKey(): string {
    const path = join(this.dir, 'account.key.pem');
    const stored = readIfExists(path);
    if (stored) return stored.toString();
    const key = newPrivateKey();
    privateDir(this.dir);
    writePrivateFile(path, key);
    return key;
  }

  /**
   * The stored certificate and key of `hostname`, if both are there, belong together
   * and name it; undefined otherwise (then a new one is ordered).
   */
  certificate(hostname: string): (ServerTlsOptions & { cert: string; key: string }) | undefined {
    const cert = readIfExists(this.#certPath(hostname));
    const key = readIfExists(this.#keyPath(hostname));
    if (!cert || !key) return undefined;
    try {
      const { X509Certificate, createPrivateKey } = nodeCrypto();
      const leaf = new X509Certificate(cert);
      if (!leaf.checkPrivateKey(createPrivateKey(key)) || leaf.checkHost(hostname) === undefined) return undefined;
    } catch {
      return undefined;
    }
    return { cert: cert.toString(), key: key.toString() };
  }

  /** Stores `hostname`'s certificate and key (0600), the key first: a pair cut short does not match and is not taken. */
  saveCertificate(hostname: string, pem: { cert: string; key: string }): void {
    privateDir(this.dir);
    writePrivateFile(this.#keyPath(hostname), pem.key);
    writePrivateFile(this.#certPath(hostname), pem.cert);
  }

  #certPath(hostname: string): string {
    return join(this.dir, `${hostname.toLowerCase()}.cert.pem`);
  }

  #keyPath(hostname: string): string {
    return join(this.dir, `${hostname.toLowerCase()}.key.pem`);
  }
}
