/**
 * The client's TLS: what a tunnel's `tls` options resolve to, and the one line that
 * names each TLS failure's cause and fix. Never a downgrade: a tunnel with TLS only
 * ever talks TLS to its server.
 */
import { readFileSync } from 'node:fs';
import type { PeerCertificate, SecureContext, TLSSocket } from 'node:tls';
import { Duplex } from 'node:stream';
import { formatHostPort } from '../net/address.js';
import { OPTION_ERROR } from '../options/rules.js';
import { type ErrorCode, TunnelError } from './errors.js';
import { type ServersOption, serverEntries } from './servers.js';
import { nodeCrypto, nodeTls } from '../protocol/on-demand.js';

/** The library's `tls` object: a private CA (PEM), a pinned SHA-256 fingerprint, the name to verify. */
export interface TunnelTlsOptions {
  ca?: string | Buffer;
  fingerprint?: string;
  servername?: string;
}

/** A tunnel's TLS settings as its connections use them (the session is the last one the server gave). */
export interface ClientTls {
  ca?: string | Buffer;
  /** Upper-case hex without colons. */
  fingerprint?: string;
  servername?: string;
  /** A session (ticket) to resume, from an earlier connection to the server. */
  session?: Buffer;
  /** The server's certificate as the last full handshake verified it (a resumed one shows none). */
  peer?: TlsPeer;
  /** The secure context every connection of the tunnel uses (made once: the CA parsed once, not per connection). */
  context?: SecureContext;
}

/** What the server's certificate says of itself, as a tunnel shows it. */
export interface TlsPeer {
  /** The leaf's subject, e.g. `CN=bore.example.com`. */
  subject: string;
  /** `sha256:` and upper-case hex, as `--tls-fingerprint` takes it. */
  fingerprint: string;
  /** When it stops being valid (ISO 8601). */
  validTo: string;
}

/** A control connection's TLS as a tunnel's view shows it: protocol, cipher, the server's certificate, resumed or not. */
export interface TunnelTls extends TlsPeer {
  /** E.g. `TLSv1.3`. */
  protocol: string;
  /** The cipher suite's standard name, e.g. `TLS_AES_256_GCM_SHA384`. */
  cipher: string;
  /** Whether the handshake resumed an earlier session (a ticket) rather than verifying the certificate again. */
  resumed: boolean;
}

/** The certificate of `socket`'s server, from a full handshake; undefined after a resumed one (the server sends none). */
export function tlsPeerOf(socket: TLSSocket): TlsPeer | undefined {
  const cert = socket.getPeerX509Certificate();
  if (!cert) return undefined;
  return {
    subject: cert.subject.replace(/\n/g, ', '),
    fingerprint: `sha256:${cert.fingerprint256.replace(/:/g, '')}`,
    validTo: new Date(cert.validTo).toISOString(),
  };
}

/**
 * The view of a secured control connection: its protocol and cipher, and the server's
 * certificate (for a resumed session, the one the last full handshake verified). Read
 * once per control connection, never per data connection.
 */
export function tunnelTlsOf(socket: TLSSocket, settings: ClientTls): TunnelTls {
  const resumed = socket.isSessionReused();
  const peer = (resumed ? undefined : tlsPeerOf(socket)) ?? settings.peer ?? { subject: '', fingerprint: '', validTo: '' };
  return { protocol: socket.getProtocol() ?? '', cipher: socket.getCipher().standardName, ...peer, resumed };
}

/**
 * The TLS 1.3 suites the client offers, in its order of preference: AES-128-GCM first
 * (10 AES rounds to AES-256's 14 on every byte of the tunnel, and SHA-256 in the
 * handshake); OpenSSL's default order puts AES-256-GCM first.
 */
export const CLIENT_CIPHER_SUITES = 'TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256';

/** The secure context of `settings` (TLS 1.3, its CA or the system's, {@link CLIENT_CIPHER_SUITES}), made at the first call. */
export function clientContext(settings: ClientTls): SecureContext {
  settings.context ??= nodeTls().createSecureContext({ ca: settings.ca, minVersion: 'TLSv1.3', ciphers: CLIENT_CIPHER_SUITES });
  return settings.context;
}

let warmedUp = false;
const WARM_UP_NAME = 'warm-up.invalid';

/**
 * Once per process, starts a TLS client handshake against nothing (a stream that drops
 * what it is given) and abandons it a turn later. A process's first handshake costs
 * 20-30 ms of CPU more than the next ones (OpenSSL's and Node's TLS code run for the
 * first time); called while the control connection's TCP connect is in flight, that
 * cost is paid during the round trip instead of after it. It also runs, once, the
 * code that checks and shows the server's certificate (the name check; the CA's X.509
 * parse), which a first handshake pays for too. Sends nothing anywhere.
 */
export function warmUpTls(settings: ClientTls): void {
  if (warmedUp) return;
  warmedUp = true;
  const tls = nodeTls();
  const nowhere = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  const probe = tls.connect({ socket: nowhere, secureContext: clientContext(settings), servername: WARM_UP_NAME });
  probe.on('error', () => {});
  setImmediate(() => {
    probe.destroy();
    tls.checkServerIdentity(WARM_UP_NAME, { subject: { CN: WARM_UP_NAME }, subjectaltname: `DNS:${WARM_UP_NAME}` } as PeerCertificate);
    try {
      if (settings.ca !== undefined) void new (nodeCrypto().X509Certificate)(settings.ca).fingerprint256;
    } catch {
      // Not a certificate: the real handshake says so.
    }
  });
}

/** Throws a `RangeError` the CLI reports as a usage error (the code of `options/rules.ts`). */
function optionError(message: string): never {
  throw Object.assign(new RangeError(message), { code: OPTION_ERROR });
}

/** The text of the CA file `path`; an unreadable one is an option error naming the path. */
function readCa(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    return optionError(`cannot read the TLS CA file ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** `sha256:AB:CD...` or `abcd...` as upper-case hex without colons; throws an option error if it is not 64 hex digits. */
export function normalizeFingerprint(text: string): string {
  const hex = text
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toUpperCase();
  if (!/^[0-9A-F]{64}$/.test(hex)) optionError(`invalid TLS fingerprint '${text}' (expected sha256:HEX, 64 hex digits)`);
  return hex;
}

/** The TLS settings of a tunnel's options (`tls`, `tlsCa`: a file read now, `tlsFingerprint`); undefined without TLS. */
export function clientTlsOf(options: { tls?: boolean | TunnelTlsOptions; tlsCa?: string; tlsFingerprint?: string }): ClientTls | undefined {
  const { tls, tlsCa, tlsFingerprint } = options;
  if (!tls && tlsCa === undefined && tlsFingerprint === undefined) return undefined;
  const object = typeof tls === 'object' ? tls : {};
  const fingerprint = object.fingerprint ?? tlsFingerprint;
  return {
    ca: object.ca ?? (tlsCa === undefined ? undefined : readCa(tlsCa)),
    fingerprint: fingerprint === undefined ? undefined : normalizeFingerprint(fingerprint),
    servername: object.servername,
  };
}

/** The TLS settings each server of `to` has of its own (read now), by index; undefined for those that use the tunnel's. */
export function serverTlsOf(to: ServersOption): (ClientTls | undefined)[] {
  return serverEntries(to).map((entry) => (typeof entry === 'string' ? undefined : clientTlsOf(entry)));
}

/** Throws the fingerprint mismatch of `socket` against `expected`, unless it matches (a resumed session was checked). */
export function checkFingerprint(socket: TLSSocket, expected: string, host: string, port: number): void {
  if (socket.isSessionReused()) return;
  const cert: PeerCertificate | undefined = socket.getPeerCertificate();
  const got = (cert?.fingerprint256 ?? '').replace(/:/g, '').toUpperCase();
  if (got !== expected) {
    throw new TunnelError(
      'tls-fingerprint',
      `the certificate of the server at ${formatHostPort(host, port)} does not match --tls-fingerprint (it is sha256:${got || 'none'}): check the fingerprint the server logs, or drop the pin`,
    );
  }
}

const CERT_ERRORS: Record<string, [ErrorCode, string]> = {
  CERT_HAS_EXPIRED: ['tls-expired', 'has expired'],
  CERT_NOT_YET_VALID: ['tls-expired', 'is not valid yet'],
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: ['tls-untrusted', 'is not trusted'],
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: ['tls-untrusted', 'is not trusted'],
  UNABLE_TO_GET_ISSUER_CERT: ['tls-untrusted', 'is not trusted'],
  DEPTH_ZERO_SELF_SIGNED_CERT: ['tls-untrusted', 'is not trusted'],
  SELF_SIGNED_CERT_IN_CHAIN: ['tls-untrusted', 'is not trusted'],
  CERT_UNTRUSTED: ['tls-untrusted', 'is not trusted'],
  ERR_TLS_CERT_ALTNAME_INVALID: ['tls-name-mismatch', 'is for another name'],
};

/** Errors that show the server did not answer TLS at all (a plaintext bore server). */
const NOT_TLS = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_RECORD_LAYER_FAILURE',
]);

/**
 * The TLS failure of a connection to `host:port` that had not completed its handshake;
 * undefined for an error that is no TLS failure (a refused connect, DNS). `spokeTls`:
 * this server has completed a TLS handshake with us before (we hold its session), so a
 * reset now is the network's doing, retriable, not a plaintext server.
 */
export function tlsFailure(err: unknown, host: string, port: number, spokeTls = false): TunnelError | undefined {
  if (err instanceof TunnelError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const server = formatHostPort(host, port);
  const cert = CERT_ERRORS[code];
  if (cert) {
    const [errorCode, what] = cert;
    // Node 24 appends a hint about --use-system-ca; the line gives its own fix.
    const reason = e.message
      .replace(/^Hostname\/IP does not match certificate's altnames: /, '')
      .replace(/; if the root CA is installed locally.*$/, '');
    const fix =
      errorCode === 'tls-untrusted'
        ? ': give its CA with --tls-ca or pin it with --tls-fingerprint'
        : errorCode === 'tls-name-mismatch'
          ? ': connect with the name it has (--to), or pin it with --tls-fingerprint'
          : ': renew the certificate on the server (or check the clocks)';
    return new TunnelError(errorCode, `the certificate of the server at ${server} ${what} (${reason})${fix}`, { cause: err });
  }
  if (NOT_TLS.has(code) && spokeTls) return undefined;
  if (NOT_TLS.has(code)) {
    return new TunnelError(
      'tls-unsupported',
      `the server at ${server} does not speak TLS: it is a plain bore server; drop --tls or enable TLS on the server`,
      { cause: err },
    );
  }
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS')) {
    return new TunnelError('tls-failed', `the TLS handshake with the server at ${server} failed (${e.message})`, { cause: err });
  }
  return undefined;
}
