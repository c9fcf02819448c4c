/**
 * Where a server's certificate comes from: the option `tls` (PEM given), the files of
 * `tlsCert` and `tlsKey`, or the self-signed certificate of `tlsSelfSigned` (made once,
 * kept in its directory). Each failure is an option error that names the file or the
 * directory at fault. Files are read at construction; a self-signed certificate that is
 * not there yet is made by {@link CertificateSource.ready}, when the server starts
 * listening. What a start should say of the certificate (the fingerprint to pin, names
 * it lacks) is logged by {@link CertificateSource.announce}.
 */
import type { Logger } from '../log/logger.js';
import { OPTION_ERROR } from '../options/rules.js';
import { defaultStateDir } from '../system/state-dir.js';
import { ServerCertificate } from './certificate.js';
import { CertificateFileError, readCertificateFiles } from './certificate-files.js';
import { certificateFields } from './certificate-watch.js';
import { isCertificateName } from './certificate-names.js';
import { type SelfSigned, keptSelfSigned, makeSelfSignedIn, selfSignedFiles } from './self-signed-store.js';
import type { ServerTlsOptions } from './tls.js';

/** The options a certificate comes from (those of `ServerOptions`). */
export interface CertificateOptions {
  tls?: ServerTlsOptions;
  tlsCert?: string;
  tlsKey?: string;
  tlsSelfSigned?: boolean | string;
  tlsNames?: string | readonly string[];
}

/** A server's certificate and what to say of it. */
export interface CertificateSource {
  /** The certificate; undefined without TLS, or while a self-signed one is still to be made. */
  certificate: ServerCertificate | undefined;
  /** The certificate, once made if it is to be made; rejects with an option error if it cannot be kept. */
  ready(): Promise<ServerCertificate | undefined>;
  /** How to renew it, for the expiry warnings. */
  renew: string;
  /** Logs what a start says of the certificate. */
  announce(log: Logger): void;
}

/** Throws an option error (a `RangeError`) saying `message`. */
function optionError(message: string, cause?: unknown): never {
  throw Object.assign(new RangeError(message, { cause }), { code: OPTION_ERROR });
}

/** `tlsNames` as a list, each checked. */
function namesOf(names: string | readonly string[] | undefined): string[] {
  const list = (typeof names === 'string' ? names.split(',') : (names ?? [])).map((n) => n.trim()).filter((n) => n !== '');
  for (const name of list) if (!isCertificateName(name)) optionError(`tlsNames: '${name}' is not a host name or an IP address`);
  return list;
}

/** What `keep` returns; a failure of it as an option error. */
function asOptionError<T>(keep: () => T): T {
  try {
    return keep();
  } catch (err) {
    return optionError(err instanceof CertificateFileError ? `${err.message}: fix or delete it` : (err as Error).message, err);
  }
}

/** The self-signed certificate of `dir`: the one kept there, or one made when the server starts. */
function selfSigned(dir: string, names: string[]): CertificateSource {
  let kept = asOptionError(() => keptSelfSigned(dir, names));
  const { certFile, keyFile } = selfSignedFiles(dir);
  const source: CertificateSource = {
    certificate: kept && new ServerCertificate(kept.pem),
    async ready() {
      if (source.certificate) return source.certificate;
      try {
        kept = await makeSelfSignedIn(dir, names);
      } catch (err) {
        return optionError((err as Error).message, err);
      }
      source.certificate = new ServerCertificate(kept.pem);
      return source.certificate;
    },
    renew: `delete ${certFile} and ${keyFile} and restart to make a new one, then give the clients its new fingerprint`,
    announce: (log) => {
      if (kept && source.certificate) announceSelfSigned(log, kept, source.certificate);
    },
  };
  return source;
}

/** What the self-signed certificate's start says: its fingerprint to pin, a key others may read, names it lacks. */
function announceSelfSigned(log: Logger, kept: SelfSigned, certificate: ServerCertificate): void {
  const info = certificate.info;
  log.info(
    `self-signed TLS certificate ${kept.created ? 'made' : 'kept'} in ${kept.dir}: clients connect with --tls-fingerprint ${info.fingerprint}`,
    certificateFields(info),
  );
  if (kept.looseKeyMode !== undefined) {
    const mode = kept.looseKeyMode.toString(8).padStart(4, '0');
    log.warn(`the TLS key file ${kept.keyFile} may be read by others (mode ${mode}): chmod 600 ${kept.keyFile}`);
  }
  if (kept.missing.length > 0) {
    log.warn(
      `the self-signed TLS certificate in ${kept.dir} does not name ${kept.missing.join(', ')} (it was made before): delete ${kept.certFile} and ${kept.keyFile} and restart to make one that does, then give the clients its new fingerprint`,
      { names: info.names },
    );
  }
}

/** The certificate of `options`, read or made now; throws an option error naming the option, file or directory at fault. */
export function certificateSource(options: CertificateOptions): CertificateSource {
  const { tls, tlsCert, tlsKey, tlsSelfSigned, tlsNames } = options;
  const files = tlsCert !== undefined || tlsKey !== undefined;
  if (tlsSelfSigned && (files || tls)) optionError('tlsSelfSigned excludes tls, tlsCert and tlsKey: give one source of the certificate');
  if (tlsNames !== undefined && !tlsSelfSigned) optionError('tlsNames goes with tlsSelfSigned (the names of the certificate it makes)');
  if (tlsSelfSigned) return selfSigned(tlsSelfSigned === true ? defaultStateDir() : tlsSelfSigned, namesOf(tlsNames));
  if (tls) return withInfo(new ServerCertificate(tls), 'renew it and give it to the server (setCertificate)');
  if (!files) return { certificate: undefined, ready: () => Promise.resolve(undefined), renew: '', announce: () => {} };
  if (tlsCert === undefined || tlsKey === undefined) optionError('tlsCert and tlsKey go together: give both');
  try {
    const certificate = new ServerCertificate(readCertificateFiles(tlsCert, tlsKey));
    return withInfo(certificate, `renew ${tlsCert} and ${tlsKey} and reload them (bore server: SIGHUP)`);
  } catch (err) {
    return optionError(err instanceof Error ? err.message : String(err), err);
  }
}

/** A certificate whose start logs its fingerprint and expiry. */
function withInfo(certificate: ServerCertificate, renew: string): CertificateSource {
  return {
    certificate,
    ready: () => Promise.resolve(certificate),
    renew,
    announce: (log) => log.info('TLS certificate', certificateFields(certificate.info)),
  };
}
