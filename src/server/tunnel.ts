/**
 * One tunnel as the server holds it: a client's control connection, the public
 * listener opened for it, its heartbeat, its unclaimed public connections and, for a
 * client that asked for one, its pool of idle data connections. (The client's running
 * tunnel is another thing: `Tunnel` of `src/run/tunnel.ts`.)
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { FramedSocket } from '../protocol/framed-socket.js';
import { encodeFrame } from '../protocol/framing.js';
import { type ClientMessage, type ServerMessage, serverMessageJson } from '../protocol/messages.js';
import { onClose, onEnd } from '../net/socket-events.js';
import type { Logger } from '../log/logger.js';
import type { PendingConnections, PendingGroup } from './pending.js';
import { type PoolSocketTuning, TunnelPool } from './pool.js';

const EMPTY = Buffer.alloc(0);

/** Interval between heartbeats on a control connection. */
export const HEARTBEAT_INTERVAL_MS = 500;
/** Bytes queued for a client that does not read its control connection before it is dropped. */
export const MAX_CONTROL_BACKLOG = 64 * 1024;

/** A control connection as the server frames it. */
export type ServerFramed = FramedSocket<ClientMessage, ServerMessage>;

/**
 * Joins a data connection (its frames done, `head` the bytes read past them) to the
 * visitor's public connection `id` of `port`, accepted at `since` (`Date.now()`), and
 * keeps the server's books on it.
 */
export type Forward = (data: Socket, head: Buffer, visitor: Socket, port: number, since: number, id: string) => void;

/** Where the server finds a tunnel by the token of its pool. */
export type PoolTokens = Map<string, ServerTunnel>;

/** What a {@link ServerTunnel} is made of; the server has opened the listener and reserved the slot. */
export interface ServerTunnelParts {
  /** The client's control connection, its handshake done. */
  control: ServerFramed;
  /** The public listener opened for the client. */
  listener: Server;
  /** The server's registry of unclaimed public connections. */
  pending: PendingConnections;
  /** Gives back the tunnel's slot in its address's cap. */
  release: () => void;
  /** Called once when the tunnel has closed (the server forgets it). */
  onClosed: (tunnel: ServerTunnel) => void;
  /** Joins a pooled data connection to a visitor. */
  forward: Forward;
  /** Most idle pooled connections the tunnel may hold (0: no pool is offered). */
  maxPool: number;
  /** The server's tokens of open pools. */
  poolTokens: PoolTokens;
  /** Sets and clears the control connections' socket options on pooled connections. */
  tunePooled: PoolSocketTuning;
  log: Logger;
  /** Called once at the end of closing (the public port is free again) with why it closed. */
  afterClose?: (reason: string) => void;
}

/** A client's tunnel on the server: from `Hello` until its control connection or the server closes. */
export class ServerTunnel {
  /** The public port. */
  readonly port: number;
  readonly #control: ServerFramed;
  readonly #listener: Server;
  readonly #pending: PendingConnections;
  /** This tunnel's unclaimed public connections. */
  readonly #group: PendingGroup = new Set();
  readonly #release: () => void;
  readonly #onClosed: (tunnel: ServerTunnel) => void;
  readonly #forward: Forward;
  readonly #maxPool: number;
  readonly #poolTokens: PoolTokens;
  readonly #tunePooled: PoolSocketTuning;
  readonly #log: Logger;
  readonly #afterClose: ((reason: string) => void) | undefined;
  /** The pool, once offered. */
  #pool: TunnelPool | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Why the control connection failed, if it did. */
  #reason: string | undefined;
  #closed = false;

  constructor(parts: ServerTunnelParts) {
    this.#control = parts.control;
    this.#listener = parts.listener;
    this.#pending = parts.pending;
    this.#release = parts.release;
    this.#onClosed = parts.onClosed;
    this.#forward = parts.forward;
    this.#maxPool = parts.maxPool;
    this.#poolTokens = parts.poolTokens;
    this.#tunePooled = parts.tunePooled;
    this.#log = parts.log;
    this.#afterClose = parts.afterClose;
    this.port = (parts.listener.address() as AddressInfo).port;
  }

  /** Idle pooled connections. */
  get pooled(): number {
    return this.#pool?.idle ?? 0;
  }

  /**
   * Answers `Hello` with the public port, starts the heartbeat and the public
   * listener's announcements, and watches the control connection until it ends.
   */
  start(): void {
    const framed = this.#control;
    const socket = framed.socket;
    this.#heartbeat = setInterval(() => this.#beat(), HEARTBEAT_INTERVAL_MS);
    framed.send({ type: 'Hello', port: this.port }, { type: 'Heartbeat' });
    this.#listener.on('connection', (conn: Socket) => this.#onPublicConnection(conn));
    // A Rust client sends nothing after Hello, ours may ask for a pool. Reading is also
    // how EOF, resets and the TCP_USER_TIMEOUT failure are seen; a malformed frame
    // closes the control connection, and with it the tunnel.
    framed.listen((msg) => {
      if (msg.type === 'PoolRequest') this.#offerPool(msg.size);
      else this.#log.debug('ignoring a message after Hello', { port: this.port, type: msg.type });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (this.#reason ??= err.code ?? err.message));
    onEnd(socket, () => {
      this.#reason ??= 'closed by client';
      socket.destroy();
    });
    onClose(socket, () => this.close());
  }

  /**
   * Adds a data connection that presented this tunnel's pool token; false (the caller
   * closes it) when the pool is full or gone.
   */
  addPooled(socket: Socket): boolean {
    return !this.#closed && (this.#pool?.add(socket) ?? false);
  }

  /**
   * Closes the tunnel (once): stops the heartbeat, gives back the address's slot,
   * closes the public listener, its unclaimed connections and the control connection,
   * and logs why (`reason`, else how the control connection failed).
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#onClosed(this);
    clearInterval(this.#heartbeat);
    if (this.#pool) {
      this.#poolTokens.delete(this.#pool.token);
      this.#pool.close();
    }
    this.#release();
    this.#listener.close();
    this.#pending.dropGroup(this.#group);
    this.#control.socket.destroy();
    const why = reason ?? this.#reason ?? 'connection closed';
    this.#log.info('client disconnected', { port: this.port, reason: why });
    this.#afterClose?.(why);
  }

  /** Sends a heartbeat unless earlier ones are still queued; drops a client that stopped reading. */
  #beat(): void {
    const socket = this.#control.socket;
    this.#pool?.beat();
    if (socket.writableLength === 0) {
      this.#control.send({ type: 'Heartbeat' });
    } else if (socket.writableLength > MAX_CONTROL_BACKLOG) {
      this.close('client does not read its control connection');
    }
  }

  /** Offers a pool once per control session, capped to `maxPool` (none with a cap of 0). */
  #offerPool(requested: number): void {
    if (this.#pool || this.#closed) return;
    if (this.#maxPool === 0 || requested === 0) {
      this.#log.debug('no pool offered', { port: this.port, requested, max: this.#maxPool });
      return;
    }
    const size = Math.min(requested, this.#maxPool);
    if (size < requested) this.#log.info('pool request capped', { port: this.port, requested, size });
    const pool = new TunnelPool(size, this.#tunePooled);
    this.#pool = pool;
    this.#poolTokens.set(pool.token, this);
    this.#control.send({ type: 'PoolOffer', token: pool.token, size });
    this.#log.debug('pool offered', { port: this.port, size });
  }

  #onPublicConnection(conn: Socket): void {
    conn.on('error', () => {});
    if (this.#closed) {
      conn.destroy();
      return;
    }
    const pooled = this.#pool?.take();
    if (pooled) {
      // The visitor's bytes follow this frame on the same connection at once.
      const id = randomUUID();
      this.#log.debug('new connection, through the pool', { port: this.port, id, idle: this.#pool!.idle });
      pooled.write(encodeFrame(serverMessageJson({ type: 'Connection', id })));
      this.#forward(pooled, EMPTY, conn, this.port, Date.now(), id);
      return;
    }
    const id = this.#pending.add(this.#group, this.port, conn);
    this.#log.debug('new connection', { port: this.port, id });
    // A heartbeat follows every Connection, as the Rust server does.
    this.#control.send({ type: 'Connection', id }, { type: 'Heartbeat' });
  }
}
