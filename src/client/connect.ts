/** Opening TCP connections to the server and to the local service. */
import { NETWORK_TIMEOUT_MS } from '../protocol/constants.js';
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { type ClientTls, checkFingerprint, clientContext, tlsFailure } from './tls.js';
import { TunnelError } from './errors.js';
import { formatHostPort } from '../net/address.js';

/** Connect deadline, as in the Rust client. */
export const CONNECT_TIMEOUT_MS = NETWORK_TIMEOUT_MS;

/** The failure of a connect attempt that did not finish within `timeoutMs`. */
export function connectTimeoutError(host: string, port: number, timeoutMs: number): TunnelError {
  return new TunnelError('connect-timeout', `could not connect to ${formatHostPort(host, port)}: timed out after ${timeoutMs} ms`);
}

/** Options of {@link connectTcp}. */
export interface ConnectOptions {
  host: string;
  port: number;
  /** Aborts the attempt (the socket is destroyed and the promise rejects). */
  signal?: AbortSignal;
  /** Gives up after this long (default 3000 ms; 0 for no deadline of its own, when the caller keeps one). */
  timeoutMs?: number;
  /** Connect with TLS 1.3 (verified, or pinned): resolves once the handshake is done; its session is kept for the next. */
  tls?: ClientTls;
}

/**
 * Opens a TCP connection, abortable and with a deadline. The socket allows half-open
 * connections so a peer's FIN can be passed through when proxying.
 */
export function connectTcp({ host, port, signal, timeoutMs = CONNECT_TIMEOUT_MS, tls: secure }: ConnectOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const socket = secure ? connectTls(host, port, secure) : net.connect({ host, port, allowHalfOpen: true });
    const event = secure ? 'secureConnect' : 'connect';
    const timer = timeoutMs > 0 ? setTimeout(() => finish(connectTimeoutError(host, port, timeoutMs)), timeoutMs) : undefined;
    const onAbort = () => finish(abortReason(signal!));
    const finish = (err?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', finish);
      socket.off(event, onConnect);
      if (err) {
        socket.destroy();
        reject((secure && tlsFailure(err, host, port, secure.session !== undefined)) || err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = () => {
      try {
        if (secure?.fingerprint) checkFingerprint(socket as TLSSocket, secure.fingerprint, host, port);
        finish();
      } catch (err) {
        finish(err as Error);
      }
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', finish);
    socket.once(event, onConnect);
  });
}

/** A TLS 1.3 connection to the server: verified against `ca` (else the system's CAs) and the name, or pinned by fingerprint. */
function connectTls(host: string, port: number, settings: ClientTls): TLSSocket {
  const pinned = settings.fingerprint !== undefined;
  const socket = tls.connect({
    host,
    port,
    servername: settings.servername ?? (net.isIP(host) ? undefined : host),
    secureContext: clientContext(settings),
    session: settings.session,
    // A pin replaces the CA and name checks; the fingerprint is checked on connect.
    rejectUnauthorized: !pinned,
    ...(pinned ? { checkServerIdentity: () => undefined } : {}),
  });
  // A visitor's half-close passes through (tls.connect has no option for it).
  socket.allowHalfOpen = true;
  socket.on('session', (session: Buffer) => {
    settings.session = session;
  });
  return socket;
}

/** Why `signal` aborted, as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}
