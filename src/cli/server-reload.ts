/**
 * What `bore server` reads again on SIGHUP: the secrets of `--secret-file` (a rotation)
 * and the certificate and key of `--tls-cert`/`--tls-key` (a renewal). Each is taken on
 * its own; a file that cannot be used is logged as an error naming it, and the server
 * keeps what it had. Tunnels that are up stay either way.
 */
import { SecretFileError, readSecrets } from '../system/secret-file.js';
import { CertificateFileError, readCertificateFiles } from '../server/certificate-files.js';
import type { CertificateInfo } from '../server/certificate.js';
import type { ServerTlsOptions } from '../server/tls.js';

/** What a reload needs of the server. */
interface Reloadable {
  setSecret(secrets: string[]): void;
  setCertificate(pem: ServerTlsOptions): void;
  readonly certificate: CertificateInfo | undefined;
}

/** What a reload needs of the logger. */
interface ReloadLogger {
  info(message: string): unknown;
  error(message: string, meta?: object): unknown;
}

/** The files `bore server` reads again on SIGHUP. */
export interface ReloadFiles {
  /** `--secret-file`. */
  secretFile?: string;
  /** `--tls-cert` and `--tls-key`. */
  tls?: { cert: string; key: string };
}

/** Gives `server` the secrets of `file` again, or keeps its own if the file gives none; says which. */
function reloadSecrets(server: Reloadable, file: string, logger: ReloadLogger): void {
  try {
    const secrets = readSecrets(file);
    server.setSecret(secrets);
    logger.info(`secrets reloaded from ${file}: ${secrets.length} secret${secrets.length === 1 ? '' : 's'}`);
  } catch (err) {
    if (!(err instanceof SecretFileError)) throw err;
    logger.error(`SIGHUP: secret file ${err.message}; the server keeps the secrets it had`, { file });
  }
}

/** Gives `server` the certificate of `files` (it logs the new one), or keeps its own if they cannot be used; says which. */
function reloadCertificate(server: Reloadable, files: { cert: string; key: string }, logger: ReloadLogger): void {
  const kept = server.certificate?.fingerprint ?? 'none';
  try {
    server.setCertificate(readCertificateFiles(files.cert, files.key));
  } catch (err) {
    const file = err instanceof CertificateFileError ? err.file : files.cert;
    const reason = err instanceof Error ? err.message : String(err);
    logger.error(`SIGHUP: ${reason}; the server keeps its TLS certificate (${kept})`, { file });
  }
}

/** The reload of `files` into `server`, or undefined if there is nothing to reload. */
export function reloader(server: Reloadable, files: ReloadFiles, logger: ReloadLogger): (() => void) | undefined {
  const { secretFile, tls } = files;
  if (secretFile === undefined && tls === undefined) return undefined;
  return () => {
    if (secretFile !== undefined) reloadSecrets(server, secretFile, logger);
    if (tls !== undefined) reloadCertificate(server, tls, logger);
  };
}
