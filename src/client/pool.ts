/**
 * The client's side of the warm pool: data connections opened to the server before
 * any visitor needs them (`PoolJoin(token)` after the challenge), each waiting until
 * the server hands it a public connection (`Connection(id)` followed at once by the
 * visitor's bytes); then it connects to the local service, joins the two, and a
 * replacement is opened so the pool refills. Only a server that offered a pool
 * (`PoolOffer`) gets these connections, so a Rust server never sees one.
 *
 * One pool per control session: {@link ClientPool.open} with the session's token,
 * {@link ClientPool.close} when the session ends, which closes the idle connections and
 * those still opening. Connections already serving a visitor are not touched: they
 * outlive control reconnects like the standard path's.
 */
import type { Socket } from 'node:net';
import type { Authenticator } from '../protocol/auth.js';
import type { Logger } from '../log/logger.js';
import { connectTcp } from './connect.js';
import { type ClientFramed, authenticate, frameClientSocket } from './handshake.js';
import { type DataConnectionTarget, proxyToLocal } from './data-connection.js';
import { TunnelError } from './errors.js';

/**
 * Consecutive pooled connections that fail to open or are lost before the pool stops
 * refilling, until a public connection takes the standard path (see `fallback`).
 */
export const MAX_FAILURE_STREAK = 3;

/** The pool as the machine's context shows it. */
export interface PoolStats {
  /** Connections the server offered to keep idle (0: no pool in this session). */
  size: number;
  /** Open, acknowledged by the server and waiting for a visitor. */
  idle: number;
  /** Being opened (connect, challenge, `PoolJoin`). */
  opening: number;
  /** Serving a public connection now (those survive the session). */
  inUse: number;
  /** Public connections served through the pool. */
  served: number;
  /** Replacements opened for a pooled connection that was used or lost. */
  refills: number;
  /** Public connections that took the standard path while a pool was open (it was empty). */
  fallbacks: number;
  /** Pooled connections that could not be opened or were lost while idle. */
  failures: number;
}

/** What the pool tells its owner. */
export interface PoolHooks {
  /** A pooled connection carries public connection `id`, joined to the local service. */
  opened(id: string, remote: Socket, local: Socket): void;
  /** Public connection `id` ended; `error` if it never reached the local service. */
  closed(id: string, error?: string): void;
  /** The stats changed. */
  changed(stats: PoolStats): void;
}

/** The pool of idle data connections of one tunnel client (one control session at a time). */
export class ClientPool {
  readonly #target: DataConnectionTarget;
  readonly #log: Logger;
  readonly #hooks: PoolHooks;
  /** Sockets of idle connections and of those being opened: what `close()` closes. */
  readonly #sockets = new Set<Socket>();
  #token: string | undefined;
  /** Bumped by every `open()` and `close()`: a connection of an older session is closed, not pooled. */
  #session = 0;
  #streak = 0;
  /** Whether this session's pool has been full once (said at debug level). */
  #readySaid = false;
  #stats: PoolStats = { size: 0, idle: 0, opening: 0, inUse: 0, served: 0, refills: 0, fallbacks: 0, failures: 0 };

  constructor(target: DataConnectionTarget, log: Logger, hooks: PoolHooks) {
    this.#target = target;
    this.#log = log;
    this.#hooks = hooks;
  }

  /** The current counts (a copy). */
  get stats(): PoolStats {
    return { ...this.#stats };
  }

  /** Sockets the pool holds open: idle connections and those being opened. */
  get sockets(): number {
    return this.#sockets.size;
  }

  /** Whether a pool is open (the server offered one in this session). */
  get isOpen(): boolean {
    return this.#token !== undefined;
  }

  /** Starts the pool the server offered: `size` connections joined with `token`. */
  open(token: string, size: number): void {
    this.close();
    this.#token = token;
    this.#session++;
    this.#streak = 0;
    this.#readySaid = false;
    this.#update({ size });
    this.#log.debug('pool: opening', { size });
    this.#fill(false);
  }

  /** Closes the idle connections and those being opened; serving ones go on. */
  close(): void {
    if (this.#token === undefined) return;
    this.#token = undefined;
    this.#session++;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    this.#update({ size: 0, idle: 0, opening: 0 });
  }

  /**
   * Counts a public connection that took the standard path while the pool was open. A
   * pool that stopped refilling after repeated failures tries again then: demand is
   * back and the server is reachable.
   */
  fallback(): void {
    if (this.#token === undefined) return;
    this.#update({ fallbacks: this.#stats.fallbacks + 1 });
    if (this.#streak >= MAX_FAILURE_STREAK) {
      this.#streak = 0;
      this.#fill(true);
    }
  }

  /** Opens connections until idle + opening reaches the size (unless failures keep coming). */
  #fill(refill: boolean): void {
    const wanted = () => this.#stats.size - this.#stats.idle - this.#stats.opening;
    while (this.#token !== undefined && wanted() > 0 && this.#streak < MAX_FAILURE_STREAK) {
      if (refill) this.#update({ refills: this.#stats.refills + 1 });
      this.#openOne(this.#token);
    }
  }

  #openOne(token: string): void {
    const session = this.#session;
    this.#update({ opening: this.#stats.opening + 1 });
    let opened: Socket | undefined;
    // A pool closed while this connection was connecting does not let it join.
    const track = (socket: Socket) => {
      opened = socket;
      if (session !== this.#session) throw new Error('pool closed');
      this.#sockets.add(socket);
    };
    const untrack = () => {
      if (opened) this.#sockets.delete(opened);
    };
    openPooled(this.#target, token, track).then(
      (framed) => {
        if (session !== this.#session) {
          untrack();
          framed.socket.destroy();
          return;
        }
        this.#update({ opening: this.#stats.opening - 1, idle: this.#stats.idle + 1 });
        if (!this.#readySaid && this.#stats.idle === this.#stats.size) {
          this.#readySaid = true;
          this.#log.debug('pool: ready', { size: this.#stats.size });
        }
        void this.#wait(framed, session);
      },
      (err: Error) => {
        untrack();
        if (session !== this.#session) return;
        this.#update({ opening: this.#stats.opening - 1 });
        this.#failed(`could not open a pooled connection: ${err.message}`);
      },
    );
  }

  /** Waits on an idle connection for its public connection, or its end. */
  async #wait(framed: ClientFramed, session: number): Promise<void> {
    const socket = framed.socket;
    for (;;) {
      let msg;
      try {
        msg = await framed.recv(0);
      } catch {
        msg = undefined;
      }
      // The server's periodic heartbeat: this connection has lasted, so the pool works.
      if (msg?.type === 'Heartbeat') {
        this.#streak = 0;
        continue;
      }
      if (session !== this.#session) {
        socket.destroy();
        return;
      }
      this.#sockets.delete(socket);
      this.#update({ idle: this.#stats.idle - 1 });
      if (msg?.type === 'Connection') {
        this.#streak = 0;
        this.#serve(framed, msg.id);
      } else {
        socket.destroy();
        this.#failed(msg ? `unexpected ${msg.type} on a pooled connection` : 'pooled connection lost');
      }
      return;
    }
  }

  /** Joins a pooled connection the server handed public connection `id` to the local service. */
  #serve(framed: ClientFramed, id: string): void {
    const head = framed.detach();
    this.#update({ inUse: this.#stats.inUse + 1, served: this.#stats.served + 1 });
    this.#log.debug('pool: public connection', { id });
    // The replacement is opened once the visitor's bytes are on their way to the local
    // service (or that failed): its connect and handshake stay off the visitor's path.
    const refill = () => setImmediate(() => this.#fill(true));
    const opened = (remote: Socket, local: Socket) => {
      this.#hooks.opened(id, remote, local);
      refill();
    };
    proxyToLocal(framed.socket, head, this.#target, opened).then(
      () => {
        this.#update({ inUse: this.#stats.inUse - 1 });
        this.#hooks.closed(id);
      },
      (err: Error) => {
        this.#update({ inUse: this.#stats.inUse - 1 });
        refill();
        this.#log.warn('public connection closed: could not reach the local service', { id, reason: err.message });
        this.#hooks.closed(id, err.message);
      },
    );
  }

  /** A connection failed to open or was lost: refill, unless that keeps failing. */
  #failed(reason: string): void {
    this.#streak++;
    this.#update({ failures: this.#stats.failures + 1 });
    if (this.#streak >= MAX_FAILURE_STREAK) {
      this.#log.debug('pool: not refilled after repeated failures, new connections take the standard path', { reason });
    } else {
      this.#log.debug('pool: refilling after a failure', { reason });
    }
    this.#fill(true);
  }

  #update(change: Partial<PoolStats>): void {
    this.#stats = { ...this.#stats, ...change };
    this.#hooks.changed(this.#stats);
  }
}

/**
 * Opens one pooled connection: connect, answer the challenge if there is a secret,
 * `PoolJoin(token)`, then wait for the server's acknowledgement (a heartbeat).
 * `track` gets the socket as soon as it exists, so a closing pool can destroy it; it
 * throws (and the socket is closed) if the pool closed while connecting.
 */
async function openPooled(
  target: { to: string; controlPort: number; auth: Authenticator | undefined },
  token: string,
  track: (socket: Socket) => void,
): Promise<ClientFramed> {
  const socket = await connectTcp({ host: target.to, port: target.controlPort });
  socket.on('error', () => {});
  try {
    track(socket);
    socket.setNoDelay(true);
    const framed = frameClientSocket(socket);
    await authenticate(framed, target.auth);
    framed.send({ type: 'PoolJoin', token });
    const ack = await framed.recv();
    if (ack?.type !== 'Heartbeat') {
      throw new TunnelError(
        'protocol',
        ack ? `expected a heartbeat after PoolJoin, got ${ack.type}` : 'server closed the pooled connection',
      );
    }
    return framed;
  } catch (err) {
    socket.destroy();
    throw err;
  }
}
