/**
 * The server's side of the warm pool: idle data connections a client opened in advance
 * for one tunnel (`PoolJoin(token)`), each handed a public connection the moment it
 * arrives, with no control message and no new TCP handshake on the visitor's path.
 *
 * A pool belongs to one control session: its token is issued with the `PoolOffer` and
 * forgotten when the tunnel closes, which closes every idle connection in it. It holds
 * at most the size it offered. An idle connection is proved alive by a heartbeat every
 * {@link POOL_HEARTBEAT_MS} of the tunnel's beats (unacknowledged, TCP_USER_TIMEOUT
 * fails it like a control connection) and dropped if the client sends anything on it.
 * The control connections' socket options are set at its first heartbeat, not at its
 * join (a busy pool's connections are used within milliseconds, and setting them costs
 * about 45 us of native calls each), and cleared when it is handed a visitor, so a
 * visitor's connection has the options of the standard path's (an outage longer than
 * the client timeout does not cut it). A client that is alive but stops reading an idle
 * connection is not noticed: the heartbeats are too small to fill the buffers; the cap
 * and the control session bound what that holds.
 */
import type { Socket } from 'node:net';
import { randomId } from '../protocol/on-demand.js';
import { encodeFrame } from '../protocol/framing.js';
import { serverMessageJson } from '../protocol/messages.js';
import { onClose, onEnd } from '../net/socket-events.js';

/** Heartbeats go to idle pooled connections once the control connection's beats add up to this many ms. */
export const POOL_HEARTBEAT_MS = 5000;

const HEARTBEAT = encodeFrame(serverMessageJson({ type: 'Heartbeat' }));

/** Sets and clears the control connections' socket options (keepalive, TCP_USER_TIMEOUT). */
export interface PoolSocketTuning {
  apply(socket: Socket): void;
  clear(socket: Socket): void;
}

/** The idle pooled connections of one tunnel. */
export class TunnelPool {
  /** Token the client's pooled connections present (`PoolJoin`). */
  readonly token = randomId();
  /** Most connections held idle at once (the size offered). */
  readonly size: number;
  /** Idle connections, newest last. */
  readonly #idle: Socket[] = [];
  /** Each idle socket's listeners, removed when it is handed out. */
  readonly #discard = new Map<Socket, () => void>();
  readonly #tuning: PoolSocketTuning;
  /** Idle sockets whose options were set (they are cleared when the socket is handed out). */
  readonly #tuned = new WeakSet<Socket>();
  /** Ms of control beats since the last pool heartbeat. */
  #sinceBeat = 0;
  #closed = false;

  constructor(size: number, tuning: PoolSocketTuning) {
    this.size = size;
    this.#tuning = tuning;
  }

  /** Connections now idle. */
  get idle(): number {
    return this.#idle.length;
  }

  /**
   * Adds a connection that proved the secret and presented the token; acknowledges it
   * with a heartbeat if `ack` (a quiet join is not: its client counts it idle once sent,
   * which saves one of the four writes a pooled visitor cost the server, and a read on
   * the client).
   * Returns false (the caller closes it) when the pool is full or closed.
   */
  add(socket: Socket, ack: boolean): boolean {
    if (this.#closed || this.#idle.length >= this.size) return false;
    this.#idle.push(socket);
    // The client sends nothing on an idle pooled connection: anything is a violation.
    const onData = () => socket.destroy();
    socket.on('data', onData);
    const offEnd = onEnd(socket, () => socket.destroy());
    this.#discard.set(socket, () => {
      socket.off('data', onData);
      offEnd();
    });
    onClose(socket, () => this.#remove(socket));
    socket.resume();
    if (ack) socket.write(HEARTBEAT);
    return true;
  }

  /**
   * Takes the newest live idle connection for a public connection, its listeners
   * removed, its socket options those of a data connection and the socket paused, or
   * `undefined` when none is idle.
   */
  take(): Socket | undefined {
    for (let socket = this.#idle.pop(); socket; socket = this.#idle.pop()) {
      this.#discard.get(socket)?.();
      this.#discard.delete(socket);
      if (!socket.destroyed && socket.writable) {
        socket.pause();
        if (this.#tuned.has(socket)) this.#tuning.clear(socket);
        return socket;
      }
    }
    return undefined;
  }

  /**
   * Called on every heartbeat of the control connection, `intervalMs` after the one before:
   * proves the idle connections alive every {@link POOL_HEARTBEAT_MS}.
   */
  beat(intervalMs: number): void {
    this.#sinceBeat += intervalMs;
    if (this.#sinceBeat < POOL_HEARTBEAT_MS) return;
    this.#sinceBeat = 0;
    for (const socket of this.#idle) {
      if (!this.#tuned.has(socket)) {
        this.#tuned.add(socket);
        this.#tuning.apply(socket);
      }
      if (socket.writableLength === 0) socket.write(HEARTBEAT);
    }
  }

  /** Closes every idle connection; none is added after. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#idle.splice(0)) socket.destroy();
    this.#discard.clear();
  }

  #remove(socket: Socket): void {
    const i = this.#idle.indexOf(socket);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#discard.delete(socket);
  }
}
