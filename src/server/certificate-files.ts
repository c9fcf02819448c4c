/**
 * A certificate and its key read from their files (`--tls-cert`, `--tls-key`, the
 * self-signed certificate's directory) and checked before the server takes them: each
 * failure names the file at fault, so a bad file at start is a clear error and a bad
 * one on a reload leaves the server with its certificate. A key is never shown.
 */
import type { X509Certificate } from 'node:crypto';
import { nodeCrypto } from '../protocol/on-demand.js';
import { readFileSync } from 'node:fs';
import type { ServerTlsOptions } from './tls.js';

/** Why a certificate or key file cannot be used; `file` is the one at fault. */
export class CertificateFileError extends Error {
  override name = 'CertificateFileError';
  /** The path of the file at fault. */
  readonly file: string;

  constructor(file: string, message: string) {
    super(message);
    this.file = file;
  }
}

/** The text of `file`; an unreadable one throws a {@link CertificateFileError} with its code. */
function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new CertificateFileError(
      file,
      `cannot read the TLS ${what} file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
    );
  }
}

/** The first certificate of a PEM text, parsed; undefined if there is none or it is malformed. */
function leafOf(text: string): X509Certificate | undefined {
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  try {
    return first ? new (nodeCrypto().X509Certificate)(first[0]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The certificate (PEM, the leaf first) of `certFile` and the key of `keyFile`; throws a
 * {@link CertificateFileError} naming the file if one cannot be read, holds no
 * certificate or key, or the key is not the certificate's.
 */
export function readCertificateFiles(certFile: string, keyFile: string): ServerTlsOptions {
  const cert = read(certFile, 'certificate');
  const key = read(keyFile, 'key');
  const leaf = leafOf(cert.toString());
  if (!leaf) throw new CertificateFileError(certFile, `the TLS certificate file ${certFile} holds no PEM certificate`);
  let privateKey;
  try {
    privateKey = nodeCrypto().createPrivateKey(key);
  } catch (err) {
    // The message of a parse failure says nothing of the key's content.
    const reason = err instanceof Error ? err.message.replace(/^error:[0-9A-F]+:/, '') : String(err);
    throw new CertificateFileError(keyFile, `the TLS key file ${keyFile} holds no usable private key (${reason})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertificateFileError(keyFile, `the TLS key file ${keyFile} is not the key of the certificate in ${certFile}`);
  }
  return { cert, key };
}
