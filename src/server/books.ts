/**
 * The server's books: running totals (public connections, bytes, failed handshakes by
 * reason), the sockets of the proxied public connections, the access log, and the
 * events a `BoreServer` emits about tunnels and public connections. Everything is
 * counted once per connection or tunnel, never per chunk: bytes are read off the
 * visitor's socket when it closes.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { proxy } from '../net/proxy.js';
import { onClose } from '../net/socket-events.js';
import { formatPeer } from '../net/address.js';
import type { Logger } from '../log/logger.js';
import type { PublicConnection } from './connection.js';
import type { ServerEvents } from './events.js';

/** Running totals since the server started, read at scrape time by `metrics.ts`. */
export interface ServerCounters {
  /** Public connections accepted on a tunnel's port. */
  publicAccepted: number;
  /** Of those, the ones handed to a pooled data connection at once. */
  publicPooled: number;
  /** Claimed public connections still open. */
  publicActive: number;
  /** Public connections that ended without being claimed by their client. */
  publicFailed: number;
  /** Bytes read from visitors on closed proxied public connections. */
  bytesIn: number;
  /** Bytes written to visitors on closed proxied public connections. */
  bytesOut: number;
  /** Failed handshakes by reason (`timeout`, `protocol`, `invalid-secret`, `blocked`, ...). */
  handshakeFailures: ReadonlyMap<string, number>;
  /**
   * Control-port connections (control, data and pooled) by transport, each counted once
   * its transport is known: `tls` once its TLS handshake is done, `plain` at its first byte.
   */
  controlConnections: Readonly<Record<Transport, number>>;
}

/** How a connection to the control port is carried. */
export type Transport = 'tls' | 'plain';

/** The counts of the registry of unclaimed public connections that the counters include. */
export interface PendingCounts {
  /** Public connections ever registered to wait for their `Accept`. */
  readonly added: number;
  /** Of those, the ones that ended unclaimed. */
  readonly unclaimed: number;
}

/** How a public connection ended, from the error its socket had, if any. */
function howEnded(socket: Socket): string {
  const err: NodeJS.ErrnoException | null = socket.errored;
  if (!err) return 'closed';
  return err.code === 'ECONNRESET' ? 'reset' : (err.code ?? 'error');
}

/** The books of one server; `events` is the server, which emits what they record. */
export class ServerBooks {
  /** Whether one info line is logged per public connection when it ends. */
  readonly accessLog: boolean;
  readonly #events: EventEmitter<ServerEvents>;
  readonly #log: Logger;
  /** Both sockets of every proxied (claimed) public connection. */
  readonly #proxied = new Set<Socket>();
  readonly #handshakeFailures = new Map<string, number>();
  readonly #transports: Record<Transport, number> = { tls: 0, plain: 0 };
  #publicActive = 0;
  #publicPooled = 0;
  #bytesIn = 0;
  #bytesOut = 0;

  constructor(events: EventEmitter<ServerEvents>, log: Logger, accessLog: boolean) {
    this.#events = events;
    this.#log = log;
    this.accessLog = accessLog;
  }

  /** Sockets of claimed public connections (two per connection while both are open). */
  get proxiedSockets(): number {
    return this.#proxied.size;
  }

  /** The sockets of the proxied public connections, for the drain at shutdown. */
  proxied(): Socket[] {
    return [...this.#proxied];
  }

  /** The running totals, with the unclaimed connections' counts of `pending`. */
  counters(pending: PendingCounts): ServerCounters {
    return {
      publicAccepted: pending.added + this.#publicPooled,
      publicPooled: this.#publicPooled,
      publicActive: this.#publicActive,
      publicFailed: pending.unclaimed,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      handshakeFailures: this.#handshakeFailures,
      controlConnections: { ...this.#transports },
    };
  }

  /** Counts a control-port connection carried by `transport`. */
  countTransport(transport: Transport): void {
    this.#transports[transport]++;
  }

  /** Counts a failed handshake under `reason`. */
  countFailure(reason: string): void {
    this.#handshakeFailures.set(reason, (this.#handshakeFailures.get(reason) ?? 0) + 1);
  }

  /** Counts a public connection handed to a pooled data connection at once (then {@link forward}ed). */
  countPooled(): void {
    this.#publicPooled++;
  }

  /**
   * Joins a data connection (its frames done, `head` the bytes read past them) to the
   * visitor of `conn`, and keeps the books on it: its sockets, the `connection` and
   * `connectionClosed` events, its bytes and its access log line when it ends.
   */
  forward(conn: PublicConnection, data: Socket, head: Buffer): void {
    const { visitor, port, id, since } = conn;
    this.#proxied.add(data);
    this.#proxied.add(visitor);
    this.#publicActive++;
    const events = this.#events;
    const announce = events.listenerCount('connection') > 0;
    const peer = this.accessLog || announce || events.listenerCount('connectionClosed') > 0 ? formatPeer(visitor) : '';
    if (announce) this.#emit('connection', { port, visitor: peer, id });
    onClose(data, () => this.#proxied.delete(data));
    // Bytes are counted once, when the connection closes: nothing per chunk.
    onClose(visitor, () => {
      this.#proxied.delete(visitor);
      this.#publicActive--;
      this.#bytesIn += visitor.bytesRead;
      this.#bytesOut += visitor.bytesWritten;
      if (this.accessLog) this.#logAccess(conn, peer, howEnded(visitor));
      if (events.listenerCount('connectionClosed') > 0) {
        this.#emit('connectionClosed', {
          port,
          visitor: peer || formatPeer(visitor),
          id,
          bytesIn: visitor.bytesRead,
          bytesOut: visitor.bytesWritten,
          durationMs: Date.now() - since,
          ended: howEnded(visitor),
        });
      }
    });
    void proxy(data, visitor, head);
  }

  /** The access log's line for a public connection that ended unclaimed (call only with the access log on). */
  unclaimed(conn: PublicConnection): void {
    this.#logAccess(conn, conn.peer, 'unclaimed');
  }

  /** Emits `tunnelOpened` if it has a listener. */
  tunnelOpened(port: number, peer: string): void {
    if (this.#events.listenerCount('tunnelOpened') > 0) this.#emit('tunnelOpened', { port, peer });
  }

  /** Emits `tunnelClosed` if it has a listener. */
  tunnelClosed(port: number, peer: string, reason: string): void {
    if (this.#events.listenerCount('tunnelClosed') > 0) this.#emit('tunnelClosed', { port, peer, reason });
  }

  /** A failure of the server itself, not of one connection: logged, and emitted as `error` if listened to. */
  serverError(message: string, err: NodeJS.ErrnoException): void {
    this.#log.error(message, { reason: err.message, code: err.code });
    if (this.#events.listenerCount('error') > 0) this.#emit('error', err);
  }

  /**
   * Emits `event` (whose listeners the caller has counted). A listener that throws cannot
   * leave the server's bookkeeping half done: its exception is rethrown on the next tick,
   * an `uncaughtException` as from any listener Node calls from its I/O.
   */
  #emit<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    try {
      (this.#events as EventEmitter).emit(event, ...args); // typed by the signature above
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** The access log's line for a public connection that has ended. */
  #logAccess(conn: PublicConnection, peer: string, ended: string): void {
    const socket = conn.visitor;
    this.#log.info('connection', {
      visitor: peer,
      port: conn.port,
      bytesIn: socket.bytesRead,
      bytesOut: socket.bytesWritten,
      durationMs: Date.now() - conn.since,
      ended,
    });
  }
}
