/** Opening TCP connections to the server and to the local service. */
import { NETWORK_TIMEOUT_MS } from '../protocol/constants.js';
import net, { type Socket } from 'node:net';
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
}

/**
 * Opens a TCP connection, abortable and with a deadline. The socket allows half-open
 * connections so a peer's FIN can be passed through when proxying.
 */
export function connectTcp({ host, port, signal, timeoutMs = CONNECT_TIMEOUT_MS }: ConnectOptions): Promise<Socket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const socket = net.connect({ host, port, allowHalfOpen: true });
    const timer = timeoutMs > 0 ? setTimeout(() => finish(connectTimeoutError(host, port, timeoutMs)), timeoutMs) : undefined;
    const onAbort = () => finish(abortReason(signal!));
    const finish = (err?: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', finish);
      socket.off('connect', onConnect);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = () => finish();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('error', finish);
    socket.once('connect', onConnect);
  });
}

/** Why `signal` aborted, as an Error. */
function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new Error('aborted', { cause: reason });
}
