/**
 * The self-signed certificate kept in a directory (`--tls-self-signed [DIR]`): made once,
 * on the first start, and read again at every later one, so its fingerprint (what the
 * clients pin) stays. The directory is made private (0700), the key and the
 * certificate are written 0600, each to a temporary file renamed into place, the key
 * first: a crash leaves either both or a pair that is made anew. Only making one loads
 * the X.509 encoder (`self-signed.ts`); reading one needs `node:crypto` alone.
 */
import { nodeCrypto } from '../protocol/on-demand.js';
import { accessSync, constants, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { readCertificateFiles } from './certificate-files.js';
import { isCertificateName } from './certificate-names.js';
import type { ServerTlsOptions } from './tls.js';

/** The certificate's file in the directory. */
export const SELF_SIGNED_CERT_FILE = 'tls-cert.pem';
/** The key's file in the directory. */
export const SELF_SIGNED_KEY_FILE = 'tls-key.pem';

/** A self-signed certificate as kept in its directory. */
export interface SelfSigned {
  /** The certificate and its key. */
  pem: ServerTlsOptions;
  /** The directory. */
  dir: string;
  /** The certificate's file. */
  certFile: string;
  /** The key's file. */
  keyFile: string;
  /** Made now (the first start), rather than read. */
  created: boolean;
  /** Names asked for that the kept certificate lacks (it was made before they were asked). */
  missing: string[];
  /** The key file's mode when others than its owner may read it (made by hand), else undefined. */
  looseKeyMode: number | undefined;
}

/** The names a new certificate is made for: `extra` (the first one its common name), this host's name, and loopback's. */
export function selfSignedNames(extra: readonly string[]): string[] {
  const host = hostname();
  const names = [...extra, ...(isCertificateName(host) ? [host] : []), 'localhost', '127.0.0.1', '::1'];
  return [...new Set(names.map((n) => n.toLowerCase()))];
}

/** The certificate's and the key's files in `dir`. */
export function selfSignedFiles(dir: string): { certFile: string; keyFile: string } {
  return { certFile: join(dir, SELF_SIGNED_CERT_FILE), keyFile: join(dir, SELF_SIGNED_KEY_FILE) };
}

/** Throws an `Error` with `code` saying what could not be done with `dir`. */
function failure(what: string, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code ?? String(err);
  throw Object.assign(new Error(`${what} (${code}): give --tls-self-signed a directory this user can write`), { code });
}

/**
 * The self-signed certificate kept in `dir`, if both its files are there; `names` are the
 * names asked for besides the automatic ones. Without them, makes `dir` (0700) if it is
 * not there and checks that it can be written, and returns undefined: the certificate
 * is to be made ({@link makeSelfSignedIn}). Throws a `CertificateFileError` if a kept
 * file is unusable (it names the file), and an `Error` if `dir` cannot be made or written.
 */
export function keptSelfSigned(dir: string, names: readonly string[] = []): SelfSigned | undefined {
  const { certFile, keyFile } = selfSignedFiles(dir);
  if (existsSync(certFile) && existsSync(keyFile)) {
    const pem = readCertificateFiles(certFile, keyFile);
    const leaf = new (nodeCrypto().X509Certificate)(pem.cert);
    const missing = names.filter((n) => (isIP(n) ? leaf.checkIP(n) : leaf.checkHost(n, { wildcards: false })) === undefined);
    const mode = statSync(keyFile).mode & 0o777;
    return { pem, dir, certFile, keyFile, created: false, missing, looseKeyMode: (mode & 0o077) === 0 ? undefined : mode };
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
  } catch (err) {
    failure(`cannot make or write the directory ${dir} of the self-signed TLS certificate`, err);
  }
  return undefined;
}

/** Writes `text` to `file` (mode 0600) through a temporary file renamed into place. */
function writePrivate(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, file);
}

/** Makes a self-signed certificate for `names` (besides the automatic ones) and keeps it in `dir`; throws if it cannot be written. */
export async function makeSelfSignedIn(dir: string, names: readonly string[] = []): Promise<SelfSigned> {
  const { makeSelfSigned } = await import('./self-signed.js');
  const pem = makeSelfSigned(selfSignedNames(names));
  const { certFile, keyFile } = selfSignedFiles(dir);
  try {
    writePrivate(keyFile, pem.key.toString());
    writePrivate(certFile, pem.cert.toString());
  } catch (err) {
    failure(`cannot write the self-signed TLS certificate in ${dir}`, err);
  }
  return { pem, dir, certFile, keyFile, created: true, missing: [], looseKeyMode: undefined };
}
