/**
 * The server's books: running totals (public connections, bytes, tunnels, failed
 * handshakes by reason, connection durations and setup times), the sockets of the
 * proxied public connections, the access log, and the events a `BoreServer` emits about
 * tunnels and public connections. Everything is counted once per connection or tunnel,
 * never per chunk: the bytes of a connection still open are read off its visitor's
 * socket (`bytesRead`, `bytesWritten`, counters the socket keeps anyway) when the totals
 * are read, so a scrape sees a long connection's traffic while it flows.
 */
import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { proxy } from '../net/proxy.js';
import { MuxStream } from '../net/mux.js';
import { joinStream } from '../net/mux-join.js';
import { onClose } from '../net/socket-events.js';
import { formatPeer } from '../net/address.js';
import { monotonicMs } from '../protocol/on-demand.js';
import type { Logger } from '../log/logger.js';
import type { PublicConnection } from './connection.js';
import type { ServerEvents } from './events.js';
import type { ServerErrorCode } from '../protocol/constants.js';
import { DURATION_BUCKETS, Histogram, type HistogramSnapshot, SETUP_BUCKETS } from './histogram.js';
import {
  HANDSHAKE_FAILURE_REASONS,
  type HandshakeFailureReason,
  TUNNEL_CLOSE_REASONS,
  type TunnelCloseReason,
  tunnelCloseReason,
} from './reasons.js';

const EMPTY = Buffer.alloc(0);

/** Running totals since the server started, read at scrape time by `metrics.ts`. */
export interface ServerCounters {
  /** Public connections accepted on a tunnel's port. */
  publicAccepted: number;
  /** Of those, the ones handed to a pooled data connection at once. */
  publicPooled: number;
  /** Of those, the ones carried on the tunnel's multiplexed connection (`--mux`). */
  publicMultiplexed: number;
  /** Claimed public connections still open. */
  publicActive: number;
  /** Public connections that ended without being claimed by their client. */
  publicFailed: number;
  /** Bytes read from visitors on proxied public connections, those still open included (as far as they have come). */
  bytesIn: number;
  /** Bytes written to visitors on proxied public connections, those still open included. */
  bytesOut: number;
  /** Failed handshakes by reason, every reason of {@link HANDSHAKE_FAILURE_REASONS} there (0 until one fails). */
  handshakeFailures: ReadonlyMap<string, number>;
  /** Tunnels opened (`Hello` answered with a public port). */
  tunnelsOpened: number;
  /** Tunnels closed, by reason, every reason of {@link TUNNEL_CLOSE_REASONS} there. */
  tunnelsClosed: ReadonlyMap<TunnelCloseReason, number>;
  /** Seconds from a proxied public connection's accept to its close, over those that closed. */
  connectionSeconds: HistogramSnapshot;
  /** Seconds from a public connection's accept until a data connection claimed it, over those claimed. */
  setupSeconds: HistogramSnapshot;
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
  /** Both sockets (or the visitor's socket and its multiplexed stream) of every proxied (claimed) public connection. */
  readonly #proxied = new Set<Duplex>();
  /** The visitors' sockets of the proxied public connections still open (their bytes are counted when the totals are read). */
  readonly #visitors = new Set<Socket>();
  readonly #handshakeFailures = new Map<string, number>(HANDSHAKE_FAILURE_REASONS.map((r) => [r, 0]));
  readonly #tunnelsClosed = new Map<TunnelCloseReason, number>(TUNNEL_CLOSE_REASONS.map((r) => [r, 0]));
  readonly #transports: Record<Transport, number> = { tls: 0, plain: 0 };
  readonly #durations = new Histogram(DURATION_BUCKETS);
  readonly #setups = new Histogram(SETUP_BUCKETS);
  #tunnelsOpened = 0;
  #publicPooled = 0;
  #publicMultiplexed = 0;
  /** Bytes of the proxied public connections that have closed. */
  #closedBytesIn = 0;
  #closedBytesOut = 0;

  constructor(events: EventEmitter<ServerEvents>, log: Logger, accessLog: boolean) {
    this.#events = events;
    this.#log = log;
    this.accessLog = accessLog;
  }

  /** Sockets of claimed public connections (two per connection while both are open). */
  get proxiedSockets(): number {
    return this.#proxied.size;
  }

  /** The sockets (and streams) of the proxied public connections, for the drain at shutdown. */
  proxied(): Duplex[] {
    return [...this.#proxied];
  }

  /**
   * The running totals, with the unclaimed connections' counts of `pending`. The bytes
   * are those of the closed connections plus what each open one's visitor socket has
   * read and written so far: one pass over the open connections per call (per scrape),
   * nothing per chunk.
   */
  counters(pending: PendingCounts): ServerCounters {
    let bytesIn = this.#closedBytesIn;
    let bytesOut = this.#closedBytesOut;
    for (const visitor of this.#visitors) {
      bytesIn += visitor.bytesRead;
      bytesOut += visitor.bytesWritten;
    }
    return {
      publicAccepted: pending.added + this.#publicPooled + this.#publicMultiplexed,
      publicPooled: this.#publicPooled,
      publicMultiplexed: this.#publicMultiplexed,
      publicActive: this.#visitors.size,
      publicFailed: pending.unclaimed,
      bytesIn,
      bytesOut,
      handshakeFailures: this.#handshakeFailures,
      tunnelsOpened: this.#tunnelsOpened,
      tunnelsClosed: this.#tunnelsClosed,
      connectionSeconds: this.#durations.snapshot(),
      setupSeconds: this.#setups.snapshot(),
      controlConnections: { ...this.#transports },
    };
  }

  /** Counts a control-port connection carried by `transport`. */
  countTransport(transport: Transport): void {
    this.#transports[transport]++;
  }

  /** Counts a failed handshake under `reason` (one of {@link HANDSHAKE_FAILURE_REASONS}, or the code of the refusal). */
  countFailure(reason: HandshakeFailureReason | ServerErrorCode): void {
    this.#handshakeFailures.set(reason, (this.#handshakeFailures.get(reason) ?? 0) + 1);
  }

  /** Counts a public connection handed to a pooled data connection at once (then {@link forward}ed). */
  countPooled(): void {
    this.#publicPooled++;
  }

  /** Counts a public connection carried on a multiplexed connection (then {@link forward}ed). */
  countMultiplexed(): void {
    this.#publicMultiplexed++;
  }

  /**
   * Joins a data connection (its frames done, `head` the bytes read past them), or a
   * stream of the tunnel's multiplexed connection, to the visitor of `conn`, and keeps
   * the books on it: its sockets, the `connection` and `connectionClosed` events, its
   * bytes and its access log line when it ends.
   */
  forward(conn: PublicConnection, data: Socket | MuxStream, head: Buffer = EMPTY): void {
    const { visitor, port, id, since } = conn;
    this.#setups.observe((monotonicMs() - since) / 1000);
    this.#proxied.add(data);
    this.#proxied.add(visitor);
    this.#visitors.add(visitor);
    const events = this.#events;
    const announce = events.listenerCount('connection') > 0;
    const peer = this.accessLog || announce || events.listenerCount('connectionClosed') > 0 ? formatPeer(visitor) : '';
    if (announce) this.#emit('connection', { port, visitor: peer, id });
    onClose(data, () => this.#proxied.delete(data));
    // From the open connections' sum to the closed ones' at once: the totals never step back.
    onClose(visitor, () => {
      const durationMs = monotonicMs() - since;
      this.#proxied.delete(visitor);
      this.#visitors.delete(visitor);
      this.#closedBytesIn += visitor.bytesRead;
      this.#closedBytesOut += visitor.bytesWritten;
      this.#durations.observe(durationMs / 1000);
      if (this.accessLog) this.#logAccess(conn, peer, howEnded(visitor), durationMs);
      if (events.listenerCount('connectionClosed') > 0) {
        this.#emit('connectionClosed', {
          port,
          visitor: peer || formatPeer(visitor),
          id,
          bytesIn: visitor.bytesRead,
          bytesOut: visitor.bytesWritten,
          durationMs: Math.round(durationMs),
          ended: howEnded(visitor),
        });
      }
    });
    if (data instanceof MuxStream) joinStream(visitor, data);
    else void proxy(data, visitor, head);
  }

  /** The access log's line for a public connection that ended unclaimed (call only with the access log on). */
  unclaimed(conn: PublicConnection): void {
    this.#logAccess(conn, conn.peer, 'unclaimed', monotonicMs() - conn.since);
  }

  /** Counts a tunnel opened, and emits `tunnelOpened` if it has a listener. */
  tunnelOpened(port: number, peer: string): void {
    this.#tunnelsOpened++;
    if (this.#events.listenerCount('tunnelOpened') > 0) this.#emit('tunnelOpened', { port, peer });
  }

  /** Counts a tunnel closed (by the label of `reason`), and emits `tunnelClosed` if it has a listener. */
  tunnelClosed(port: number, peer: string, reason: string): void {
    const label = tunnelCloseReason(reason);
    this.#tunnelsClosed.set(label, (this.#tunnelsClosed.get(label) ?? 0) + 1);
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

  /**
   * The access log's line for a public connection that has ended after `durationMs`:
   * its id (the one of the `Connection` and `Accept` messages and of the debug lines),
   * its visitor, the client of its tunnel, its port, bytes each way and how it ended.
   */
  #logAccess(conn: PublicConnection, peer: string, ended: string, durationMs: number): void {
    const socket = conn.visitor;
    this.#log.info('connection', {
      id: conn.id,
      visitor: peer,
      client: conn.client,
      port: conn.port,
      bytesIn: socket.bytesRead,
      bytesOut: socket.bytesWritten,
      durationMs: Math.round(durationMs),
      ended,
    });
  }
}
