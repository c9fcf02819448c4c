/**
 * The client's side of the multiplexed data connection (`--mux`, `src/net/mux.ts`): one
 * connection to the server per control session, joined with the pool's token
 * (`MuxJoin`), on which the server opens a stream per visitor; each stream is joined to
 * a new connection to the local service. Only a server that offered a pool gets it, so
 * a Rust server never does; a bore-ts server that does not know `MuxJoin` closes it, and
 * the tunnel goes on with the pool (with `--mux-first`, which keeps no pooled
 * connection, the pool is opened then).
 *
 * By default the connection is opened when a visitor first finds the pool empty
 * ({@link ClientMux.arm}, {@link ClientMux.demand}); with `--mux-first` at once. A
 * control session that ends retires the connection (its visitors' streams finish on
 * it); the next session opens a new one. A connection lost while its session lasts is
 * opened again after {@link MUX_REOPEN_MS}, if it had been acknowledged (one the server
 * refused is not tried again in that session).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import { MuxSession, type MuxStream } from '../net/mux.js';
import { joinStream } from '../net/mux-join.js';
import { connectTcp } from './connect.js';
import type { DataConnectionTarget } from './data-connection.js';
import { joinSession } from './pool.js';

/** Wait before opening again a multiplexed connection that was lost. */
export const MUX_REOPEN_MS = 1000;

/** What a {@link ClientMux} tells its owner. */
export interface MuxHooks {
  /** A visitor's stream was joined to its connection to the local service. */
  opened(id: string, remote: Duplex, local: Socket): void;
  /** A visitor came on a stream (the server had no idle pooled connection for it). */
  arrived?(): void;
}

/** The multiplexed connection of one tunnel client (one control session at a time). */
export class ClientMux {
  readonly #target: DataConnectionTarget;
  readonly #log: Logger;
  readonly #hooks: MuxHooks;
  /** The pool token of the current control session; undefined between sessions. */
  #token: string | undefined;
  #session: MuxSession | undefined;
  /** The socket being opened (destroyed if the control session ends first). */
  #opening: Socket | undefined;
  #reopen: NodeJS.Timeout | undefined;
  /** Called if the server refuses the current session's connection. */
  #refused: (() => void) | undefined;
  /** A token is kept and the connection waits for the first {@link demand}. */
  #armed = false;
  /** Streams served since the tunnel started. */
  #served = 0;

  /** Whether every visitor is meant to come this way (`--mux-first`): a server's refusal is then said at info. */
  readonly #first: boolean;

  constructor(target: DataConnectionTarget, log: Logger, hooks: MuxHooks, first = false) {
    this.#target = target;
    this.#log = log;
    this.#hooks = hooks;
    this.#first = first;
  }

  /** Whether the server acknowledged the current connection (visitors come over it). */
  get ready(): boolean {
    return this.#session?.usable === true && this.#session.acknowledged;
  }

  /** Streams served since the tunnel started. */
  get served(): number {
    return this.#served;
  }

  /**
   * Opens the multiplexed connection of the control session whose pool token is `token`;
   * `refused` is called if the server closes it unacknowledged (it does not multiplex).
   */
  open(token: string, refused?: () => void): void {
    this.close();
    this.#token = token;
    this.#refused = refused;
    this.#connect(token);
  }

  /**
   * Remembers the token of the control session without connecting: the connection is
   * opened at the first {@link demand}, so a tunnel whose visitors never outnumber its
   * pool never holds one.
   */
  arm(token: string): void {
    this.close();
    this.#token = token;
    this.#armed = true;
  }

  /** A visitor found the pool empty (it took the standard path): opens an armed connection. */
  demand(): void {
    if (!this.#armed || this.#token === undefined) return;
    this.#armed = false;
    this.#log.debug('opening the multiplexed connection: a visitor found the pool empty');
    this.#connect(this.#token);
  }

  /** Retires the connection (its streams go on) and forgets the session. */
  close(): void {
    this.#armed = false;
    this.#token = undefined;
    clearTimeout(this.#reopen);
    this.#opening?.destroy();
    this.#opening = undefined;
    this.#session?.retire();
    this.#session = undefined;
  }

  #connect(token: string): void {
    void this.#join(token).then(
      ({ socket, head }) => {
        if (token !== this.#token) {
          socket.destroy();
          return;
        }
        const session = new MuxSession(
          socket,
          {
            onStream: (stream) => this.#serve(stream),
            onReady: () => this.#log.debug('multiplexed connection ready'),
            onClose: () => {
              if (this.#session !== session) return;
              this.#session = undefined;
              if (!session.acknowledged) {
                if (this.#first) this.#log.info('the server does not multiplex connections (--mux-first): using the pool');
                else this.#log.debug('the server does not multiplex connections: visitors past the pool take the standard path');
                this.#refused?.();
                return;
              }
              this.#log.debug('multiplexed connection lost', { reason: session.failure ?? 'closed' });
              this.#reopen = setTimeout(() => token === this.#token && this.#connect(token), MUX_REOPEN_MS);
            },
          },
          head,
        );
        this.#session = session;
      },
      (err: Error) => {
        if (token !== this.#token) return;
        this.#log.debug('could not open the multiplexed connection', { reason: err.message });
        this.#reopen = setTimeout(() => token === this.#token && this.#connect(token), MUX_REOPEN_MS);
      },
    );
  }

  /** Opens the connection with `MuxJoin(token)` and takes it over (the bytes read past the frame with it). */
  async #join(token: string): Promise<{ socket: Socket; head: Buffer }> {
    let opening: Socket | undefined;
    const track = (socket: Socket) => (this.#opening = opening = socket);
    try {
      return await joinSession(this.#target, { type: 'MuxJoin', token }, track, (framed) => ({
        socket: framed.socket,
        head: framed.detach(),
      }));
    } finally {
      if (this.#opening === opening) this.#opening = undefined;
    }
  }

  /** Joins a visitor's stream to a new connection to the local service (a reset if that cannot be reached). */
  #serve(stream: MuxStream): void {
    const id = `mux-${++this.#served}`;
    stream.on('error', () => {});
    this.#hooks.arrived?.();
    connectTcp({ host: this.#target.localHost, port: this.#target.localPort, peer: 'the local service' }).then(
      (local) => {
        local.setNoDelay(true);
        if (stream.destroyed) {
          local.destroy();
          return;
        }
        this.#hooks.opened(id, stream, local);
        joinStream(local, stream);
      },
      (err: Error) => {
        stream.destroy();
        this.#log.warn('public connection closed: could not reach the local service', { id, reason: err.message });
      },
    );
  }
}
