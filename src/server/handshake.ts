/**
 * The server's side of a control-port connection's opening messages: what the
 * connection is (a new tunnel's `Hello`, a data connection's `Accept` or `PoolJoin`)
 * or why it is refused. It decides only; the server acts on the answer.
 *
 * During an address's cool-down (after too many failed handshakes) a connection is
 * still heard out, so that the data connections of tunnels that are up keep working:
 * an `Accept` for a connection waiting to be claimed or a `PoolJoin` with a live token
 * proves it belongs to an authenticated session (the id and the token were only ever
 * sent on one), and only then is its challenge answer checked. Anything else (a new
 * tunnel's `Hello` above all) is refused with `address-cooling-down` and its answer is
 * never evaluated, so a guesser learns nothing about the secret during a cool-down.
 */
import { Authenticator } from '../protocol/auth.js';
import { ProtocolError } from '../protocol/framing.js';
import type { ServerErrorCode } from '../protocol/constants.js';
import type { ClientMessage } from '../protocol/messages.js';
import type { ServerFramed } from './tunnel.js';

/** A data connection's claim: the id of a public connection, or a pool's token. */
export type DataClaim = Extract<ClientMessage, { type: 'Accept' } | { type: 'PoolJoin' } | { type: 'MuxJoin' }>;

/** What a connection's handshake came to. */
export type Admission =
  | Extract<ClientMessage, { type: 'Hello' }>
  | DataClaim
  /** The peer left without a word: nothing to answer, nothing tried. */
  | { type: 'closed' }
  /**
   * Refused with the `Error` of `code`. `failed`: a failed handshake that counts toward
   * the address's cool-down; `level`: how loud the log line is.
   */
  | { type: 'refused'; code: ServerErrorCode; reason: string; failed: boolean; level: 'warn' | 'debug' };

/** What the handshake needs to know of the server. */
export interface HandshakeContext {
  /** The secret's keys, when the server has a secret. */
  auth: Authenticator | undefined;
  /** Whether the peer's address is in its cool-down. */
  coolingDown: boolean;
  /** Whether a data connection's id or token belongs to a live session. */
  isLive(claim: DataClaim): boolean;
}

/**
 * Runs the handshake of `framed`; every `recv` shares `deadline` (epoch ms), so the
 * whole of it fits in it. Throws a `TimeoutError` or a `ProtocolError` for a peer that
 * is too slow or breaks the protocol.
 */
export async function admit(framed: ServerFramed, deadline: number, ctx: HandshakeContext): Promise<Admission> {
  const recv = () => framed.recv(Math.max(1, deadline - Date.now()));
  let answer: { challenge: string; tag: string } | undefined;
  if (ctx.auth) {
    const challenge = Authenticator.challenge();
    framed.send({ type: 'Challenge', id: challenge });
    const reply = await recv();
    if (reply === undefined) {
      // Not a byte sent (any byte is a frame or part of one): a port probe such as a
      // TCP health check. Nothing tried, so nothing counted.
      return { type: 'refused', code: 'secret-required', reason: 'closed before authenticating', failed: false, level: 'debug' };
    }
    if (reply.type !== 'Authenticate') {
      if (ctx.coolingDown) return coolingDown(`sent ${reply.type} before authenticating`);
      return { type: 'refused', code: 'secret-required', reason: `sent ${reply.type} before authenticating`, failed: true, level: 'warn' };
    }
    if (!ctx.coolingDown && !ctx.auth.validate(challenge, reply.tag)) {
      return { type: 'refused', code: 'invalid-secret', reason: 'invalid secret', failed: true, level: 'warn' };
    }
    answer = { challenge, tag: reply.tag };
  }
  const msg = await recv();
  if (msg === undefined) return { type: 'closed' };
  if (msg.type === 'Authenticate') throw new ProtocolError('unexpected Authenticate');
  if (msg.type === 'PoolRequest' || msg.type === 'HeartbeatInterval') throw new ProtocolError(`unexpected ${msg.type} before Hello`);
  if (!ctx.coolingDown) return msg;
  if (msg.type === 'Hello') return coolingDown('a new tunnel');
  if (!ctx.isLive(msg)) return coolingDown(`${msg.type} of no live session`);
  if (ctx.auth && answer && !ctx.auth.validate(answer.challenge, answer.tag)) return coolingDown(`${msg.type} with a wrong answer`);
  return msg;
}

/** The refusal of a connection that did not prove a live session during its address's cool-down. */
function coolingDown(what: string): Admission {
  return { type: 'refused', code: 'address-cooling-down', reason: `${what} during the address's cool-down`, failed: false, level: 'debug' };
}
