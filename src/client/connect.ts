/** Opening TCP connections to the server and to the local service, and securing them with TLS. */
import { NETWORK_TIMEOUT_MS } from '../protocol/constants.js';
import net, { type Socket } from 'node:net';
import { sharedLookup } from '../net/lookup-cache.js';
import type { TLSSocket } from 'node:tls';
import { type ClientTls, checkFingerprint, clientContext, tlsFailure, tlsPeerOf } from './tls.js';
import { TunnelError, connectFailure } from './errors.js';
import { formatHostPort } from '../net/address.js';
import { nodeTls } from '../protocol/on-demand.js';

/** Connect deadline, as in the Rust client. */
export const CONNECT_TIMEOUT_MS = NETWORK_TIMEOUT_MS;

/** Deadline of the TLS handshake on the control connection (the machine's `securing` state). */
export const TLS_HANDSHAKE_TIMEOUT_MS = NETWORK_TIMEOUT_MS;

/** The failure of a connect attempt that did not finish within `timeoutMs`. */
export function connectTimeoutError(host: string, port: number, timeoutMs: number): TunnelError {
  return new TunnelError('connect-timeout', `could not connect to ${formatHostPort(host, port)}: timed out after ${timeoutMs} ms`);
}

/** The failure of a TLS handshake that did not finish within `timeoutMs` of the connect. */
export function tlsTimeoutError(host: string, port: number, timeoutMs: number): TunnelError {
  return new TunnelError(
    'tls-timeout',
    `the TLS handshake with the server at ${formatHostPort(host, port)} timed out after ${timeoutMs} ms`,
  );
}

/** Options of {@link connectTcp}. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** Aborts the attempt (the socket is destroyed and the promise rejects). */
  signal?: AbortSignal;
  /** Gives up after this long, TLS handshake included (default 3000 ms; 0 for no deadline of its own, when the caller keeps one). */
  timeoutMs?: number;
  /** Connect, then secure the connection with TLS 1.3 ({@link secureSocket}): resolves once the handshake is done. */
  tls?: ClientTls;
  /** What is being connected, for the error (default `the server`; `the local service`). */
  peer?: string;
}

/**
 * Opens a TCP connection, abortable and with a deadline, and secures it with TLS if
 * asked. The socket allows half-open connections so a peer's FIN can be passed
 * through when proxying.
 */
export async function connectTcp({
  host,
  port,
  signal,
  timeoutMs = CONNECT_TIMEOUT_MS,
  tls: secure,
  peer = 'the server',
}: ConnectOptions): Promise<Socket> {
  if (signal?.aborted) throw abortReason(signal);
  // One signal for the caller's abort and the deadline, which covers the TLS handshake too.
  const abort = new AbortController();
  const onAbort = () => abort.abort(abortReason(signal!));
  signal?.addEventListener('abort', onAbort, { once: true });
  const timer = timeoutMs > 0 ? setTimeout(() => abort.abort(connectTimeoutError(host, port, timeoutMs)), timeoutMs) : undefined;
  try {
    const socket = await settle(net.connect({ host, port, allowHalfOpen: true, lookup: sharedLookup }), 'connect', abort.signal).catch(
      (err: unknown) => {
        // A deadline or the caller's abort stays as it is; a socket error says what failed to connect.
        throw abort.signal.aborted ? err : connectFailure(err, peer, formatHostPort(host, port));
      },
    );
    return secure ? await secureSocket({ socket, host, port, tls: secure, signal: abort.signal }) : socket;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Options of {@link secureSocket}. */
export interface SecureOptions {
  /** A connected TCP socket to the server. */
  socket: Socket;
  /** The server's host and port, as given (`--to`, `--control-port`): the name to verify. */
  host: string;
  port: number;
  tls: ClientTls;
  /** Aborts the handshake (the socket is destroyed and the promise rejects). */
  signal?: AbortSignal;
}

/**
 * Secures a connection to the server with TLS 1.3: verified against `ca` (else the
 * system's CAs) and the name, or pinned by fingerprint; resumes the tunnel's last
 * session and keeps the next. Resolves once the handshake is done; rejects with the
 * TLS failure that names its cause and fix (the socket destroyed). No deadline of its
 * own: the caller's (the machine's `securing`, or {@link connectTcp}'s).
 */
export async function secureSocket({ socket, host, port, tls: settings, signal }: SecureOptions): Promise<TLSSocket> {
  const pinned = settings.fingerprint !== undefined;
  const secured = nodeTls().connect({
    socket,
    host,
    servername: settings.servername ?? (net.isIP(host) ? undefined : host),
    secureContext: clientContext(settings),
    session: settings.session,
    // A pin replaces the CA and name checks; the fingerprint is checked below.
    rejectUnauthorized: !pinned,
    ...(pinned ? { checkServerIdentity: () => undefined } : {}),
  });
  // A visitor's half-close passes through (tls.connect has no option for it).
  secured.allowHalfOpen = true;
  secured.on('session', (session: Buffer) => {
    settings.session = session;
  });
  try {
    await settle(secured, 'secureConnect', signal);
    if (settings.fingerprint) checkFingerprint(secured, settings.fingerprint, host, port);
    // Only a full handshake shows the certificate: kept for the views of resumed ones.
    if (!secured.isSessionReused()) settings.peer = tlsPeerOf(secured);
    return secured;
  } catch (err) {
    secured.destroy();
    throw tlsFailure(err, host, port, settings.session !== undefined) ?? err;
  }
}

/** Resolves with `socket` once it emits `event`; on an error or an abort of `signal` first, destroys it and rejects. */
function settle<S extends Socket>(socket: S, event: 'connect' | 'secureConnect', signal?: AbortSignal): Promise<S> {
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', finish);
      socket.off(event, onEvent);
      if (!err) return resolve(socket);
      socket.destroy();
      reject(err);
    };
    const onEvent = () => finish();
    const onAbort = () => finish(abortReason(signal!));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', finish);
    socket.once(event, onEvent);
  });
}

/** Why `signal` aborted, as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}
