/**
 * The label values the server counts by: why a handshake failed and why a tunnel
 * closed. Each list is complete, so that the metrics can expose every series at 0 from
 * the start (a series that appears only at its first increment is invisible to
 * `rate()` and `increase()` until its second).
 */
import type { ServerErrorCode } from '../protocol/constants.js';

/**
 * Why a handshake on the control port failed: the code of the `Error` the peer was
 * refused with, or `timeout` (the deadline passed), `protocol` (not bore's frames),
 * `error` (a socket or TLS failure), `blocked` (refused during its address's
 * cool-down), `pool-token` (a pool join without a live token).
 */
export const HANDSHAKE_FAILURE_REASONS = [
  'invalid-secret',
  'secret-required',
  'port-not-allowed',
  'port-in-use',
  'permission-denied',
  'bind-failed',
  'no-free-port',
  'too-many-tunnels',
  'timeout',
  'protocol',
  'error',
  'blocked',
  'pool-token',
] as const satisfies readonly (ServerErrorCode | 'timeout' | 'protocol' | 'error' | 'blocked' | 'pool-token')[];

/** One of {@link HANDSHAKE_FAILURE_REASONS}. */
export type HandshakeFailureReason = (typeof HANDSHAKE_FAILURE_REASONS)[number];

/**
 * Why a tunnel closed, as a label: `client` (its client closed the control connection),
 * `timeout` (a silently dead client, TCP_USER_TIMEOUT), `reset` (the connection was
 * reset), `not-reading` (the client stopped reading its control connection), `shutdown`
 * (the server is closing), `error` (anything else).
 */
export const TUNNEL_CLOSE_REASONS = ['client', 'timeout', 'reset', 'not-reading', 'shutdown', 'error'] as const;

/** One of {@link TUNNEL_CLOSE_REASONS}. */
export type TunnelCloseReason = (typeof TUNNEL_CLOSE_REASONS)[number];

/** The texts of a tunnel's close (the `reason` of its `tunnelClosed` event) that the server gives itself; else a socket error's code. */
export const CLOSE_TEXT = {
  client: 'closed by client',
  notReading: 'client does not read its control connection',
  shutdown: 'server shutting down',
} as const;

/** The labels of the texts of a tunnel's close. */
const CLOSE_LABELS: ReadonlyMap<string, TunnelCloseReason> = new Map([
  [CLOSE_TEXT.client, 'client'],
  ['ETIMEDOUT', 'timeout'],
  ['ECONNRESET', 'reset'],
  ['EPIPE', 'reset'],
  [CLOSE_TEXT.notReading, 'not-reading'],
  [CLOSE_TEXT.shutdown, 'shutdown'],
]);

/** The label of a tunnel's close reason (the text of its `tunnelClosed` event). */
export function tunnelCloseReason(text: string): TunnelCloseReason {
  return CLOSE_LABELS.get(text) ?? 'error';
}
