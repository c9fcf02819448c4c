/**
 * One tunnel as the server holds it: a client's control connection, the public
 * listener opened for it, its heartbeat and its unclaimed public connections. (The
 * client's running tunnel is another thing: `Tunnel` of `src/tunnel.ts`.)
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import type { FramedSocket } from '../protocol/framed-socket.js';
import type { ClientMessage, ServerMessage } from '../protocol/messages.js';
import { onClose, onEnd } from '../socket-events.js';
import type { Logger } from '../log.js';
import type { PendingConnections, PendingGroup } from './pending.js';

/** Interval between heartbeats on a control connection. */
export const HEARTBEAT_INTERVAL_MS = 500;
/** Bytes queued for a client that does not read its control connection before it is dropped. */
export const MAX_CONTROL_BACKLOG = 64 * 1024;

/** A control connection as the server frames it. */
export type ServerFramed = FramedSocket<ClientMessage, ServerMessage>;

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
  readonly #log: Logger;
  readonly #afterClose: ((reason: string) => void) | undefined;
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
    this.#log = parts.log;
    this.#afterClose = parts.afterClose;
    this.port = (parts.listener.address() as AddressInfo).port;
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
    // A client sends nothing after Hello; reading anyway (and discarding) is how EOF,
    // resets and the TCP_USER_TIMEOUT failure are seen.
    framed.detach();
    socket.on('data', () => {});
    socket.on('error', (err: NodeJS.ErrnoException) => (this.#reason ??= err.code ?? err.message));
    onEnd(socket, () => {
      this.#reason ??= 'closed by client';
      socket.destroy();
    });
    onClose(socket, () => this.close());
    socket.resume();
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
    if (socket.writableLength === 0) {
      this.#control.send({ type: 'Heartbeat' });
    } else if (socket.writableLength > MAX_CONTROL_BACKLOG) {
      this.close('client does not read its control connection');
    }
  }

  #onPublicConnection(conn: Socket): void {
    conn.on('error', () => {});
    if (this.#closed) {
      conn.destroy();
      return;
    }
    const id = this.#pending.add(this.#group, this.port, conn);
    this.#log.debug('new connection', { port: this.port, id });
    // A heartbeat follows every Connection, as the Rust server does.
    this.#control.send({ type: 'Connection', id }, { type: 'Heartbeat' });
  }
}
