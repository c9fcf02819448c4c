/**
 * Why a tunnel attempt failed, as data: every failure the client can meet maps to one
 * {@link ErrorCode}, and each code has one class. *Fatal* errors are never retried (the
 * user must change something); *retriable* ones go through the backoff schedule.
 */
import { TimeoutError } from '../protocol/framed-socket.js';
import { ProtocolError } from '../protocol/framing.js';

/** Every reason the client stops or retries a tunnel. */
export type ErrorCode =
  | 'invalid-secret'
  | 'secret-required'
  | 'port-not-allowed'
  | 'permission-denied'
  | 'connect-refused'
  | 'connect-timeout'
  | 'dns'
  | 'handshake-timeout'
  | 'heartbeat-timeout'
  | 'server-closed'
  | 'port-in-use'
  | 'no-free-port'
  | 'bind-failed'
  | 'too-many-tunnels'
  | 'protocol'
  | 'network';

/** Whether an error ends the client or is retried. */
export type ErrorClass = 'fatal' | 'retriable';

/** The class of every error code: the table the README documents. */
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
  protocol: 'retriable',
  network: 'retriable',
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

/** Error texts a bore server sends, mapped to codes. */
const SERVER_ERRORS: Record<string, ErrorCode> = {
  'invalid secret': 'invalid-secret',
  'server requires secret, but no secret was provided': 'secret-required',
  'client port number not in allowed range': 'port-not-allowed',
  'port already in use': 'port-in-use',
  'permission denied': 'permission-denied',
  'failed to bind to port': 'bind-failed',
  'failed to find an available port': 'no-free-port',
  'too many tunnels from this address': 'too-many-tunnels',
};

/** The error for an `Error(text)` reply from the server. */
export function serverError(text: string): TunnelError {
  return new TunnelError(SERVER_ERRORS[text] ?? 'protocol', `server error: ${text}`);
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

/** Classifies any error thrown while connecting or talking to the server. */
export function classify(err: unknown): TunnelError {
  if (err instanceof TunnelError) return err;
  if (err instanceof TimeoutError) return new TunnelError('handshake-timeout', err.message, { cause: err });
  if (err instanceof ProtocolError) return new TunnelError('protocol', `protocol error: ${err.message}`, { cause: err });
  const e = err as NodeJS.ErrnoException;
  const code = (e?.code && SOCKET_ERRORS[e.code]) || 'network';
  return new TunnelError(code, e?.message ?? String(err), { cause: err });
}
