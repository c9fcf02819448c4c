/**
 * The control port's certificate, swappable while the server runs (a reload on SIGHUP,
 * an ACME renewal): each new TLS connection takes the context current at its
 * handshake; connections already up keep theirs, so a swap drops no tunnel.
 */
import type { X509Certificate } from 'node:crypto';
import { nodeCrypto } from '../protocol/on-demand.js';
import type { SecureContext } from 'node:tls';
import { type ServerTlsOptions, serverSecureContext } from './tls.js';

/** What the server's current certificate says of itself (for logs, metrics and views). */
export interface CertificateInfo {
  /** The leaf certificate's subject, e.g. `CN=bore.example.com`. */
  subject: string;
  /** Its issuer. */
  issuer: string;
  /** Its DNS and IP names (subjectAltName), as OpenSSL prints them. */
  names: string;
  /** `sha256:` and the upper-case hex of the leaf's SHA-256 digest (what `--tls-fingerprint` takes). */
  fingerprint: string;
  /** When it stops being valid. */
  validTo: Date;
}

/** The leaf (first certificate) of a PEM chain, parsed; throws a `RangeError` if there is none. */
function leafOf(cert: string | Buffer): X509Certificate {
  const text = cert.toString();
  const first = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(text);
  if (!first) throw new RangeError('no PEM certificate in the TLS certificate file');
  return new (nodeCrypto().X509Certificate)(first[0]);
}

/** The facts of `cert` (PEM, the leaf first). */
export function certificateInfo(cert: string | Buffer): CertificateInfo {
  const leaf = leafOf(cert);
  const digest = nodeCrypto().createHash('sha256').update(leaf.raw).digest('hex').toUpperCase();
  return {
    subject: leaf.subject.replace(/\n/g, ', '),
    issuer: leaf.issuer.replace(/\n/g, ', '),
    names: leaf.subjectAltName ?? '',
    fingerprint: `sha256:${digest}`,
    validTo: new Date(leaf.validTo),
  };
}

/** The server's certificate and key as a secure context that {@link ServerCertificate.replace} swaps. */
export class ServerCertificate {
  #context: SecureContext;
  #info: CertificateInfo;

  /** Throws if the certificate or key is invalid or they do not belong together. */
  constructor(pem: ServerTlsOptions) {
    this.#context = serverSecureContext(pem);
    this.#info = certificateInfo(pem.cert);
  }

  /** The context new TLS connections are accepted with. */
  get context(): SecureContext {
    return this.#context;
  }

  /** What the current certificate says of itself. */
  get info(): CertificateInfo {
    return this.#info;
  }

  /** Takes `pem` for the connections to come; throws (and keeps the current one) if it is invalid. */
  replace(pem: ServerTlsOptions): void {
    const context = serverSecureContext(pem);
    const info = certificateInfo(pem.cert);
    this.#context = context;
    this.#info = info;
  }
}
