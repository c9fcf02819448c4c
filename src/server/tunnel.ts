/**
 * One tunnel as the server holds it: a client's control connection, the public
 * listener opened for it, its heartbeat, its unclaimed public connections and, for a
 * client that asked for one, its pool of idle data connections (and its multiplexed
 * connection, if the client joined one). (The client's running
 * tunnel is another thing: `Tunnel` of `src/run/tunnel.ts`.)
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import type { FramedSocket } from '../protocol/framed-socket.js';
import { encodeFrame } from '../protocol/framing.js';
import { type ClientMessage, type ServerMessage, serverMessageJson } from '../protocol/messages.js';
import { onClose, onEnd } from '../net/socket-events.js';
import { formatPeer } from '../net/address.js';
import type { Logger } from '../log/logger.js';
import type { PublicConnection } from './connection.js';
import { type PendingConnections, PendingGroup } from './pending.js';
import { PausableListener } from '../net/pausable-listener.js';
import { LISTEN_BACKLOG, PUBLIC_LISTENER_OPTIONS } from './ports.js';
import { type PoolSocketTuning, TunnelPool } from './pool.js';
import { MuxSession, type MuxStream } from '../net/mux.js';
import { isTls } from '../net/proxy.js';
import { CLOSE_TEXT } from './reasons.js';
import { HEARTBEAT_INTERVAL_MS } from '../protocol/constants.js';
import { monotonicMs, randomId } from '../protocol/on-demand.js';

const EMPTY = Buffer.alloc(0);

/** The protocol's heartbeat interval, defined in `protocol/constants.ts`. */
export { HEARTBEAT_INTERVAL_MS };
/** Bytes queued for a client that does not read its control connection before it is dropped. */
export const MAX_CONTROL_BACKLOG = 64 * 1024;

/** A control connection as the server frames it. */
export type ServerFramed = FramedSocket<ClientMessage, ServerMessage>;

/** Where the server finds a tunnel by the token of its pool. */
export type PoolTokens = Map<string, ServerTunnel>;

/** What a {@link ServerTunnel} needs of the server, shared by all its tunnels. */
export interface TunnelHost {
  /** The server's registry of unclaimed public connections. */
  readonly pending: PendingConnections;
  /** The server's tokens of open pools. */
  readonly poolTokens: PoolTokens;
  /** Most idle pooled connections a tunnel may hold (0: no pool is offered). */
  readonly maxPool: number;
  /** Sets and clears the control connections' socket options on pooled connections. */
  readonly tunePooled: PoolSocketTuning;
  /** Where the tunnel logs. */
  readonly log: Logger;
  /** Grants a client's asked heartbeat interval on `socket` (its control connection): the ms granted. */
  grantHeartbeatInterval(socket: Socket, requestedMs: number): number;
  /** Joins a pooled data connection (`head`: bytes read past its frames) to the visitor of `conn`. */
  forward(conn: PublicConnection, data: Socket, head: Buffer): void;
  /** Joins a stream of the tunnel's multiplexed connection to the visitor of `conn`. */
  forwardStream(conn: PublicConnection, stream: MuxStream): void;
  /** Called once at the end of a tunnel's closing (its public port is free again) with why it closed. */
  closed(tunnel: ServerTunnel, reason: string): void;
}

/** A client's tunnel on the server: from `Hello` until its control connection or the server closes. */
export class ServerTunnel {
  /** The public port. */
  readonly port: number;
  /** The client's control connection, `host:port`. */
  readonly peer: string;
  /** Whether its control connection is TLS. */
  readonly encrypted: boolean;
  readonly #host: TunnelHost;
  readonly #control: ServerFramed;
  readonly #listener: Server;
  /** The public listener once started: it pauses while the tunnel's unclaimed connections are at their cap. */
  #accepting: PausableListener | undefined;
  /** Gives back the tunnel's slot in its address's cap. */
  readonly #release: () => void;
  /** This tunnel's unclaimed public connections. */
  readonly #group = new PendingGroup();
  /** The pool, once offered. */
  #pool: TunnelPool | undefined;
  /** The multiplexed connection, once the client joined one with the pool's token. */
  #mux: MuxSession | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  /** Ms between heartbeats: {@link HEARTBEAT_INTERVAL_MS} unless the client asked for fewer. */
  #interval = HEARTBEAT_INTERVAL_MS;
  /** Why the control connection failed, if it did. */
  #reason: string | undefined;
  #closed = false;

  /**
   * A tunnel of `host` for the client of `control` (its handshake done) on `listener`,
   * the public listener opened for it; `release` gives back the slot reserved for it in
   * its address's cap.
   */
  constructor(host: TunnelHost, control: ServerFramed, listener: Server, release: () => void) {
    this.#host = host;
    this.#control = control;
    this.encrypted = isTls(control.socket);
    this.#listener = listener;
    this.#release = release;
    this.port = (listener.address() as AddressInfo).port;
    this.peer = formatPeer(control.socket);
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
    const accepting = new PausableListener(this.#listener, {
      serverOptions: PUBLIC_LISTENER_OPTIONS,
      backlog: LISTEN_BACKLOG,
      onConnection: (conn) => this.#onPublicConnection(conn),
      onError: (err) => this.#host.log.warn('public listener error', { port: this.port, reason: err.message }),
    });
    this.#accepting = accepting;
    this.#group.pause = () => accepting.pause();
    this.#group.resume = () => accepting.resume();
    // A Rust client sends nothing after Hello, ours may ask for a pool. Reading is also
    // how EOF, resets and the TCP_USER_TIMEOUT failure are seen; a malformed frame
    // closes the control connection, and with it the tunnel.
    framed.listen((msg) => {
      if (msg.type === 'PoolRequest') this.#offerPool(msg.size);
      else if (msg.type === 'HeartbeatInterval') this.#pace(msg.ms);
      else this.#host.log.debug('ignoring a message after Hello', { port: this.port, type: msg.type });
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (this.#reason ??= err.code ?? err.message));
    onEnd(socket, () => {
      this.#reason ??= CLOSE_TEXT.client;
      socket.destroy();
    });
    onClose(socket, () => this.close());
  }

  /**
   * Adds a data connection that presented this tunnel's pool token (`ack`: answered with a
   * heartbeat; not for a quiet join); false (the caller closes it) when the pool is full or gone.
   */
  addPooled(socket: Socket, ack: boolean): boolean {
    return !this.#closed && (this.#pool?.add(socket, ack) ?? false);
  }

  /**
   * Makes `socket`, a data connection that presented this tunnel's pool token with
   * `MuxJoin`, the tunnel's multiplexed connection: acknowledged, and from now on each
   * visitor no idle pooled connection takes is a stream on it (a previous one is
   * retired: its streams go on).
   */
  addMux(socket: Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#mux?.retire();
    socket.setNoDelay(true);
    const mux = new MuxSession(socket, {
      onClose: () => {
        if (this.#mux === mux) this.#mux = undefined;
        if (mux.failure) this.#host.log.warn('multiplexed connection closed', { port: this.port, reason: mux.failure });
      },
    });
    this.#mux = mux;
    mux.ready();
    this.#host.log.debug('multiplexed connection joined', { port: this.port, unsentBounded: mux.unsentBounded });
  }

  /**
   * Closes the tunnel (once): stops the heartbeat, gives back the address's slot,
   * closes the public listener, its unclaimed connections and the control connection,
   * and logs why (`reason`, else how the control connection failed).
   */
  close(reason?: string): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    if (this.#pool) {
      this.#host.poolTokens.delete(this.#pool.token);
      this.#pool.close();
    }
    // Its visitors' streams go on until they end, as pooled connections in use do.
    this.#mux?.retire();
    this.#release();
    if (this.#accepting) this.#accepting.close();
    else this.#listener.close();
    this.#host.pending.dropGroup(this.#group);
    this.#control.socket.destroy();
    const why = reason ?? this.#reason ?? 'connection closed';
    this.#host.log.info('client disconnected', { port: this.port, reason: why });
    this.#host.closed(this, why);
  }

  /** Sends a heartbeat unless earlier ones are still queued; drops a client that stopped reading. */
  #beat(): void {
    const socket = this.#control.socket;
    this.#pool?.beat(this.#interval);
    if (socket.writableLength === 0) {
      this.#control.send({ type: 'Heartbeat' });
    } else if (socket.writableLength > MAX_CONTROL_BACKLOG) {
      this.close(CLOSE_TEXT.notReading);
    }
  }

  /** Sends heartbeats at the pace the client asked for, as far as the host grants it. */
  #pace(requestedMs: number): void {
    if (this.#closed) return;
    const granted = this.#host.grantHeartbeatInterval(this.#control.socket, requestedMs);
    this.#host.log.debug('heartbeat interval', { port: this.port, requested: requestedMs, granted });
    if (granted === this.#interval) return;
    this.#interval = granted;
    clearInterval(this.#heartbeat);
    this.#heartbeat = setInterval(() => this.#beat(), granted);
  }

  /** Offers a pool once per control session, capped to `maxPool` (none with a cap of 0). */
  #offerPool(requested: number): void {
    if (this.#pool || this.#closed) return;
    const { maxPool, log } = this.#host;
    if (maxPool === 0 || requested === 0) {
      log.debug('no pool offered', { port: this.port, requested, max: maxPool });
      return;
    }
    const size = Math.min(requested, maxPool);
    if (size < requested) log.info('pool request capped', { port: this.port, requested, size });
    const pool = new TunnelPool(size, this.#host.tunePooled);
    this.#pool = pool;
    this.#host.poolTokens.set(pool.token, this);
    this.#control.send({ type: 'PoolOffer', token: pool.token, size });
    log.debug('pool offered', { port: this.port, size });
  }

  #onPublicConnection(conn: Socket): void {
    conn.on('error', () => {});
    if (this.#closed) {
      conn.destroy();
      return;
    }
    // An idle pooled connection first (a connection of its own: bulk moves fastest), then
    // the multiplexed connection (no round trip, no new connection), then the standard path.
    const pooled = this.#pool?.take();
    if (pooled) {
      // The visitor's bytes follow this frame on the same connection at once.
      const id = randomId();
      this.#host.log.debug('new connection, through the pool', { port: this.port, id, idle: this.#pool!.idle });
      pooled.write(encodeFrame(serverMessageJson({ type: 'Connection', id })));
      this.#host.forward({ visitor: conn, port: this.port, id, client: this.peer, since: monotonicMs(), peer: '' }, pooled, EMPTY);
      return;
    }
    const mux = this.#mux;
    if (mux?.usable) {
      const id = randomId();
      this.#host.log.debug('new connection, multiplexed', { port: this.port, id });
      this.#host.forwardStream({ visitor: conn, port: this.port, id, client: this.peer, since: monotonicMs(), peer: '' }, mux.open());
      return;
    }
    const id = this.#host.pending.add(this.#group, this.port, this.peer, conn);
    this.#host.log.debug('new connection', { port: this.port, id });
    // A heartbeat follows every Connection, as the Rust server does.
    this.#control.send({ type: 'Connection', id }, { type: 'Heartbeat' });
  }
}
