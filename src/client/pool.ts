/**
 * The client's side of the warm pool: data connections opened to the server before
 * any visitor needs them (`PoolJoin(token)` after the challenge), each waiting until
 * the server hands it a public connection (`Connection(id)` followed at once by the
 * visitor's bytes); then it connects to the local service, joins the two, and a
 * replacement is opened so the pool refills. Only a server that offered a pool
 * (`PoolOffer`) gets these connections, so a Rust server never sees one.
 *
 * One pool session per control session: {@link ClientPool.open} with the session's
 * token, {@link ClientPool.close} when the session ends, which closes the idle
 * connections and those still opening. Connections already serving a visitor are not
 * touched: they outlive control reconnects like the standard path's.
 *
 * The lifecycle ({@link PoolPhase}) is read from the pool's state, never kept beside it:
 *
 * ```
 *   closed ──open()──▶ filling ──idle = size──▶ full
 *     ▲                 │  ▲                     │ a connection used or lost
 *     │                 │  └─────────────────────┘
 *     │                 │ MAX_FAILURE_STREAK failures in a row
 *     │                 ▼
 *     └──close()──── paused ──fallback() (demand is back)──▶ filling
 * ```
 *
 * (`close()` leads to `closed` from every phase.) The counts are the sizes of the
 * session's sets of connections; only the totals (served, refills...) are counters.
 */
import type { Socket } from 'node:net';
import type { Authenticator } from '../protocol/auth.js';
import type { Logger } from '../log/logger.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import { connectTcp } from './connect.js';
import type { ClientTls } from './tls.js';
import { type ClientFramed, authenticate, frameClientSocket } from './handshake.js';
import { type DataConnectionTarget, proxyToLocal } from './data-connection.js';

/**
 * Consecutive pooled connections that fail to open or are lost before the pool stops
 * refilling, until a public connection takes the standard path (see `fallback`).
 */
export const MAX_FAILURE_STREAK = 3;

/** The pool as the machine's context shows it. */
export interface PoolStats {
  /** Connections the server offered to keep idle (0: no pool in this session). */
  size: number;
  /** Open, joined (the quiet `PoolJoin` sent) and waiting for a visitor. */
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
  /** With `--mux`: whether the multiplexed connection is up, and the visitors it has carried. */
  multiplexed?: { ready: boolean; served: number };
}

/**
 * Where the pool is in its lifecycle: `closed` (no pool offered in this session),
 * `filling` (fewer idle connections than the size, more being opened), `full` (idle =
 * size), `paused` (stopped refilling after {@link MAX_FAILURE_STREAK} failures in a
 * row, until a public connection takes the standard path).
 */
export type PoolPhase = 'closed' | 'filling' | 'full' | 'paused';

/** What the pool tells its owner. */
export interface PoolHooks {
  /** A pooled connection carries public connection `id`, joined to the local service. */
  opened(id: string, remote: Socket, local: Socket): void;
  /** Public connection `id` ended; `error` if it never reached the local service. */
  closed(id: string, error?: string): void;
  /** The stats changed (given only to an owner that watches them: the tunnel reads `stats` when it needs them). */
  changed?(stats: PoolStats): void;
}

/**
 * How the pool opens a pooled connection and serves a public connection on it
 * (injected by tests of the lifecycle; by default {@link openPooled} and `proxyToLocal`).
 */
export interface PoolIo {
  /** Opens one pooled connection (see {@link openPooled}). */
  open(target: DataConnectionTarget, token: string, track: (socket: Socket) => void): Promise<ClientFramed>;
  /** Joins a pooled connection to the local service until both ends close. */
  proxy: typeof proxyToLocal;
}

/** A pooled connection being opened: its socket once the TCP connect succeeded. */
interface Opening {
  socket?: Socket;
}

/** One pool offered by the server, from `open()` to `close()` (or the next `open()`). */
interface Session {
  readonly token: string;
  /** Connections the server offered to keep idle. */
  readonly size: number;
  /** Connections being opened (connect, challenge, `PoolJoin`). */
  readonly opening: Set<Opening>;
  /** Connections joined, waiting for a public connection. */
  readonly idle: Set<Socket>;
  /** Failures in a row; at {@link MAX_FAILURE_STREAK} the session is `paused`. */
  streak: number;
  /** Whether this session's pool has been full once (said at debug level). */
  readySaid: boolean;
}

/** The pool of idle data connections of one tunnel client (one control session at a time). */
export class ClientPool {
  readonly #target: DataConnectionTarget;
  readonly #log: Logger;
  readonly #hooks: PoolHooks;
  readonly #io: PoolIo;
  /** The open session; a connection of another (older) session is closed, not pooled. */
  #session: Session | undefined;
  /** Pooled sockets serving a public connection, of any session. */
  readonly #inUse = new Set<Socket>();
  /** Totals since the pool was made. */
  readonly #totals = { served: 0, refills: 0, fallbacks: 0, failures: 0 };

  constructor(target: DataConnectionTarget, log: Logger, hooks: PoolHooks, io: PoolIo = { open: openPooled, proxy: proxyToLocal }) {
    this.#target = target;
    this.#log = log;
    this.#hooks = hooks;
    this.#io = io;
  }

  /** The current counts (a copy). */
  get stats(): PoolStats {
    const s = this.#session;
    return {
      size: s?.size ?? 0,
      idle: s?.idle.size ?? 0,
      opening: s?.opening.size ?? 0,
      inUse: this.#inUse.size,
      ...this.#totals,
    };
  }

  /** Where the pool is in its lifecycle (see {@link PoolPhase}). */
  get phase(): PoolPhase {
    const s = this.#session;
    if (!s) return 'closed';
    if (s.streak >= MAX_FAILURE_STREAK) return 'paused';
    return s.idle.size >= s.size ? 'full' : 'filling';
  }

  /** Sockets the pool holds open: idle connections and those being opened. */
  get sockets(): number {
    const s = this.#session;
    if (!s) return 0;
    let n = s.idle.size;
    for (const o of s.opening) if (o.socket) n++;
    return n;
  }

  /** Whether a pool is open (the server offered one in this session). */
  get isOpen(): boolean {
    return this.#session !== undefined;
  }

  /** Starts the pool the server offered: `size` connections joined with `token`. */
  open(token: string, size: number): void {
    this.close();
    this.#session = { token, size, opening: new Set(), idle: new Set(), streak: 0, readySaid: false };
    this.#changed();
    this.#log.debug('pool: opening', { size });
    this.#fill(false);
  }

  /** Closes the idle connections and those being opened; serving ones go on. */
  close(): void {
    const s = this.#session;
    if (!s) return;
    this.#session = undefined;
    for (const o of s.opening) o.socket?.destroy();
    for (const socket of s.idle) socket.destroy();
    s.opening.clear();
    s.idle.clear();
    this.#changed();
  }

  /**
   * Counts a public connection that took the standard path while the pool was open. A
   * pool `paused` after repeated failures tries again then ({@link resume}): demand is
   * back and the server is reachable.
   */
  fallback(): void {
    if (!this.#session) return;
    this.#totals.fallbacks++;
    this.#changed();
    this.resume();
  }

  /**
   * A visitor came while the pool had no idle connection (on the standard path, or on the
   * multiplexed connection): a pool `paused` after repeated failures tries again, and one
   * left short by a failure (nothing being opened) is topped up.
   */
  resume(): void {
    const s = this.#session;
    if (!s) return;
    if (this.phase === 'paused') s.streak = 0;
    this.#fill(true);
  }

  /** While `filling`, opens connections until idle + opening reaches the size. */
  #fill(refill: boolean): void {
    const s = this.#session;
    while (s && this.phase === 'filling' && s.idle.size + s.opening.size < s.size) {
      if (refill) this.#totals.refills++;
      this.#openOne(s);
    }
  }

  #openOne(session: Session): void {
    const opening: Opening = {};
    session.opening.add(opening);
    this.#changed();
    // A pool closed while this connection was connecting does not let it join.
    const track = (socket: Socket) => {
      if (session !== this.#session) throw new Error('pool closed');
      opening.socket = socket;
    };
    this.#io.open(this.#target, session.token, track).then(
      (framed) => {
        if (session !== this.#session) {
          framed.socket.destroy();
          return;
        }
        session.opening.delete(opening);
        session.idle.add(framed.socket);
        this.#changed();
        if (!session.readySaid && session.idle.size === session.size) {
          session.readySaid = true;
          this.#log.debug('pool: ready', { size: session.size });
        }
        void this.#wait(framed, session);
      },
      (err: Error) => {
        if (session !== this.#session) return;
        session.opening.delete(opening);
        this.#failed(session, `could not open a pooled connection: ${err.message}`);
      },
    );
  }

  /** Waits on an idle connection for its public connection, or its end. */
  async #wait(framed: ClientFramed, session: Session): Promise<void> {
    const socket = framed.socket;
    for (;;) {
      let msg;
      try {
        msg = await framed.recv(0);
      } catch {
        msg = undefined;
      }
      // The server's periodic heartbeat (or, from a server that does not know quiet joins,
      // its acknowledgement of the join): this connection has lasted, so the pool works.
      if (msg?.type === 'Heartbeat') {
        session.streak = 0;
        continue;
      }
      if (session !== this.#session) {
        socket.destroy();
        return;
      }
      session.idle.delete(socket);
      if (msg?.type === 'Connection') {
        session.streak = 0;
        this.#serve(framed, msg.id);
      } else {
        socket.destroy();
        this.#failed(session, whyLost(msg));
      }
      return;
    }
  }

  /** Joins a pooled connection the server handed public connection `id` to the local service. */
  #serve(framed: ClientFramed, id: string): void {
    const head = framed.detach();
    const socket = framed.socket;
    this.#inUse.add(socket);
    this.#totals.served++;
    this.#changed();
    this.#log.debug('pool: public connection', { id });
    // The replacement is opened once the local service's first reply is on its way back
    // (or the connection ended): its connect and TLS handshake, CPU on both ends, stay
    // off the visitor's first exchange. At once if no idle connection is left.
    let refilled = false;
    const refill = () => {
      if (refilled) return;
      refilled = true;
      setImmediate(() => this.#fill(true));
    };
    const opened = (remote: Socket, local: Socket) => {
      this.#hooks.opened(id, remote, local);
      if ((this.#session?.idle.size ?? 0) === 0) refill();
    };
    this.#io.proxy(socket, head, this.#target, opened, refill).then(
      () => {
        refill();
        this.#inUse.delete(socket);
        this.#changed();
        this.#hooks.closed(id);
      },
      (err: Error) => {
        this.#inUse.delete(socket);
        this.#changed();
        refill();
        this.#log.warn('public connection closed: could not reach the local service', { id, reason: err.message });
        this.#hooks.closed(id, err.message);
      },
    );
  }

  /** A connection failed to open or was lost: refill, unless that makes the pool `paused`. */
  #failed(session: Session, reason: string): void {
    session.streak++;
    this.#totals.failures++;
    this.#changed();
    if (this.phase === 'paused') {
      this.#log.debug('pool: not refilled after repeated failures, new connections take the standard path', { reason });
    } else {
      this.#log.debug('pool: refilling after a failure', { reason });
    }
    this.#fill(true);
  }

  #changed(): void {
    this.#hooks.changed?.(this.stats);
  }
}

/** Why an idle pooled connection ended without a visitor (`msg`: what came instead, if anything). */
function whyLost(msg: ServerMessage | undefined): string {
  if (!msg) return 'pooled connection lost';
  if (msg.type === 'Error') return `the server refused a pooled connection: ${msg.message}`;
  return `unexpected ${msg.type} on a pooled connection`;
}

/** Where a data connection goes, as {@link joinSession} needs it. */
type JoinTarget = { to: string; controlPort: number; auth: Authenticator | undefined; tls?: ClientTls };

/**
 * Opens a data connection that joins the control session of a pool's token: connect,
 * answer the challenge if there is a secret, send `join` (`PoolJoin` or `MuxJoin`), then
 * `settle` (wait for the server's acknowledgement, or take the connection over). `track`
 * gets the socket as soon as it exists, so a closing session can destroy it; on any
 * failure (`track` or `settle` throwing included) the socket is closed.
 */
export async function joinSession<T>(
  target: JoinTarget,
  join: Extract<ClientMessage, { type: 'PoolJoin' } | { type: 'MuxJoin' }>,
  track: (socket: Socket) => void,
  settle: (framed: ClientFramed) => T | Promise<T>,
): Promise<T> {
  const socket = await connectTcp({ host: target.to, port: target.controlPort, tls: target.tls });
  socket.on('error', () => {});
  try {
    track(socket);
    socket.setNoDelay(true);
    const framed = frameClientSocket(socket);
    await authenticate(framed, target.auth);
    framed.send(join);
    return await settle(framed);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * Opens one pooled connection ({@link joinSession} with a quiet `PoolJoin(token)`): it is
 * idle once the join is sent. A server that does not know quiet joins acknowledges it
 * with a heartbeat, which {@link ClientPool} reads as the idle connection's heartbeat; a
 * server that refuses it (a full pool, a token it no longer has) closes it, which counts
 * as a pooled connection lost. It throws (and the socket is closed) if the pool closed
 * while connecting (`track` throws then).
 */
export function openPooled(target: JoinTarget, token: string, track: (socket: Socket) => void): Promise<ClientFramed> {
  return joinSession(target, { type: 'PoolJoin', token, quiet: true }, track, (framed) => framed);
}
