/**
 * Why a tunnel attempt failed, as data: every failure the client can meet maps to one
 * {@link ErrorCode}, and each code has one class. *Fatal* errors are never retried (the
 * user must change something); *retriable* ones go through the backoff schedule.
 */
import { type ServerErrorCode, serverErrorCode } from '../protocol/constants.js';
import { TimeoutError } from '../protocol/framed-socket.js';
import { ProtocolError } from '../protocol/framing.js';

/**
 * Every reason the client stops or retries a tunnel: one per error text a server sends
 * ({@link ServerErrorCode}, from the shared table) and the client's own.
 */
export type ErrorCode =
  | ServerErrorCode
  | 'connect-refused'
  | 'connect-timeout'
  | 'dns'
  | 'handshake-timeout'
  | 'heartbeat-timeout'
  | 'server-closed'
  | 'protocol'
  | 'network'
  | 'tls-unsupported'
  | 'tls-untrusted'
  | 'tls-name-mismatch'
  | 'tls-expired'
  | 'tls-fingerprint'
  | 'tls-failed'
  | 'tls-timeout';

/** Whether an error ends the client or is retried. */
export type ErrorClass = 'fatal' | 'retriable';

/** The class of every error code: the table docs/design.md documents. */
export const ERROR_CLASSES: Record<ErrorCode, ErrorClass> = {
  'invalid-secret': 'fatal',
  'secret-required': 'fatal',
  'port-not-allowed': 'fatal',
  'permission-denied': 'fatal',
  'connect-refused': 'retriable',
  'connect-timeout': 'retriable',
  dns: 'retriable',
  'handshake-timeout': 'retriable',
  'heartbeat-timeout': 'retriable',
  'server-closed': 'retriable',
  'port-in-use': 'retriable',
  'no-free-port': 'retriable',
  'bind-failed': 'retriable',
  // The server's per-address cap frees up as the address's other tunnels close.
  'too-many-tunnels': 'retriable',
  // The server's cool-down after failed handshakes from the address ends by itself.
  'address-cooling-down': 'retriable',
  protocol: 'retriable',
  network: 'retriable',
  // TLS: the user must change something (a flag, the server's certificate); never a downgrade.
  'tls-required': 'fatal',
  'tls-unsupported': 'fatal',
  'tls-untrusted': 'fatal',
  'tls-name-mismatch': 'fatal',
  'tls-expired': 'fatal',
  'tls-fingerprint': 'fatal',
  'tls-failed': 'fatal',
  // A handshake that stalls (a lossy network, a middlebox) is the network's: retried.
  'tls-timeout': 'retriable',
};

/** A classified client failure. `message` is what a person reads in the log. */
export class TunnelError extends Error {
  override name = 'TunnelError';
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** Fatal or retriable. */
  get class(): ErrorClass {
    return ERROR_CLASSES[this.code];
  }
}

/** The error for an `Error(text)` reply from the server; a text not in the shared table is `protocol`. */
export function serverError(text: string): TunnelError {
  return new TunnelError(serverErrorCode(text) ?? 'protocol', `server error: ${text}`);
}

const SOCKET_ERRORS: Record<string, ErrorCode> = {
  ECONNREFUSED: 'connect-refused',
  ETIMEDOUT: 'connect-timeout',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  EAI_FAIL: 'dns',
  EACCES: 'permission-denied',
};

/** The failure of a server that did not send its next handshake message in time. */
export function handshakeTimeoutError(): TunnelError {
  return classify(new TimeoutError());
}

/** Words for the socket errors of a failed connect. */
const CONNECT_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'no such host',
  EAI_AGAIN: 'the name could not be resolved now',
  EAI_FAIL: 'the name could not be resolved',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EACCES: 'permission denied',
  ECONNRESET: 'connection reset',
};

/**
 * The failure of a connect to `what` (`the server`, `the local service`) at `where`
 * (`host:port`): what was being connected, the reason in words and the socket error's
 * code (`could not connect to the server at x:7835: connection refused (ECONNREFUSED)`),
 * the socket error as its `cause`.
 */
export function connectFailure(err: unknown, what: string, where: string): TunnelError {
  if (err instanceof TunnelError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = (e?.code && SOCKET_ERRORS[e.code]) || 'network';
  const reason = (e?.code && CONNECT_REASONS[e.code]) || e?.message || String(err);
  return new TunnelError(code, `could not connect to ${what} at ${where}: ${reason}${e?.code ? ` (${e.code})` : ''}`, { cause: err });
}

/** Classifies any error thrown while connecting or talking to the server. */
export function classify(err: unknown): TunnelError {
  if (err instanceof TunnelError) return err;
  if (err instanceof TimeoutError) return new TunnelError('handshake-timeout', err.message, { cause: err });
  if (err instanceof ProtocolError) return new TunnelError('protocol', `protocol error: ${err.message}`, { cause: err });
  const e = err as NodeJS.ErrnoException;
  const code = (e?.code && SOCKET_ERRORS[e.code]) || 'network';
  return new TunnelError(code, e?.message ?? String(err), { cause: err });
}
