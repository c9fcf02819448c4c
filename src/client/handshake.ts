/** The client's side of a control or data connection's opening messages. */
import type { Socket } from 'node:net';
import { Authenticator } from '../protocol/auth.js';
import { NETWORK_TIMEOUT_MS } from '../protocol/constants.js';
import { FramedSocket } from '../protocol/framed-socket.js';
import { type ClientMessage, type ServerMessage, clientMessageJson, decodeServerMessage } from '../protocol/messages.js';
import { TunnelError, serverError } from './errors.js';

/** A connection to a bore server, framed from the client's side. */
export type ClientFramed = FramedSocket<ServerMessage, ClientMessage>;

/** Wraps a connected socket to the server in bore framing. */
export function frameClientSocket(socket: Socket): ClientFramed {
  return new FramedSocket(socket, decodeServerMessage, clientMessageJson);
}

/**
 * Answers the server's challenge when we have a secret (a no-op without one), as the
 * Rust client's `client_handshake`. `timeoutMs` bounds the wait for the challenge
 * (0: none, when the caller keeps the deadline).
 */
export async function authenticate(framed: ClientFramed, auth: Authenticator | undefined, timeoutMs = NETWORK_TIMEOUT_MS): Promise<void> {
  if (!auth) return;
  const msg = await framed.recv(timeoutMs);
  if (msg?.type === 'Error') throw serverError(msg.message);
  if (msg === undefined) {
    // A server that closes before its challenge is going away, or refusing this address
    // (a Rust server never does; an older bore-ts server did after failed handshakes).
    throw new TunnelError(
      'server-closed',
      'server closed the connection before its authentication challenge (it may be refusing this address after failed handshakes)',
    );
  }
  if (msg.type !== 'Challenge') {
    throw new TunnelError('protocol', 'expected authentication challenge, but no secret was required');
  }
  framed.send({ type: 'Authenticate', tag: auth.answer(msg.id) });
}

/**
 * Sends `Hello(port)` and returns the public port the server opened; call it after
 * {@link authenticate}. `timeoutMs` bounds the wait for the reply (0: none). Throws a
 * classified {@link TunnelError} for every refusal.
 */
export async function requestPort(framed: ClientFramed, port: number, timeoutMs = NETWORK_TIMEOUT_MS): Promise<number> {
  framed.send({ type: 'Hello', port });
  const msg = await framed.recv(timeoutMs);
  if (msg === undefined) throw new TunnelError('server-closed', 'server closed the connection during the handshake');
  switch (msg.type) {
    case 'Hello':
      return msg.port;
    case 'Error':
      throw serverError(msg.message);
    case 'Challenge':
      throw new TunnelError('secret-required', 'server requires authentication, but no client secret was provided');
    default:
      throw new TunnelError('protocol', `unexpected initial non-hello message: ${msg.type}`);
  }
}
