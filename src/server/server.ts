/**
 * The bore server: a control listener that opens a public port per client, announces
 * each public connection with `Connection(id)` and joins it to the data connection
 * that answers with `Accept(id)`. Wire-compatible with bore-cli 0.5 clients.
 */
import net, { type Server, type Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Authenticator } from '../protocol/auth.js';
import { FramedSocket, TimeoutError } from '../protocol/framed-socket.js';
import { ProtocolError } from '../protocol/framing.js';
import { type ClientMessage, type ServerMessage, decodeClientMessage, serverMessageJson } from '../protocol/messages.js';
import { proxy } from '../proxy.js';
import { tuneControlSocket } from '../socket-options.js';
import { type Logger, silentLogger } from '../log.js';

/** The control port bore-cli 0.5 uses. */
export const DEFAULT_CONTROL_PORT = 7835;
/** Interval between heartbeats on a control connection. */
export const HEARTBEAT_INTERVAL_MS = 500;
/** How long a public connection waits for its `Accept`. */
export const ACCEPT_TIMEOUT_MS = 10_000;
/** Random ports tried for `Hello(0)` before giving up. */
export const PORT_TRIES = 150;

/** Options of {@link BoreServer}; the names match the CLI flags. */
export interface ServerOptions {
  /** Lowest public port a client may get (default 1024). */
  minPort?: number;
  /** Highest public port a client may get (default 65535). */
  maxPort?: number;
  /** Shared secret clients must prove they know. */
  secret?: string;
  /** Port of the control listener (default 7835; 0 for any). */
  controlPort?: number;
  /** Address of the control listener (default 0.0.0.0). */
  bindAddr?: string;
  /** Address of the public listeners (default 0.0.0.0). */
  bindTunnels?: string;
  /** Deadline for unacknowledged data on control connections (default 15000 ms, Linux). */
  clientTimeoutMs?: number;
  /** Unclaimed public connections kept per tunnel; the oldest is dropped past it (default 128). */
  maxPendingPerTunnel?: number;
  /** How long an unclaimed public connection waits for its `Accept` (default 10000 ms). */
  acceptTimeoutMs?: number;
  logger?: Logger;
}

type ServerFramed = FramedSocket<ClientMessage, ServerMessage>;

/** A public connection waiting for its data connection. */
interface Pending {
  socket: Socket;
  tunnel: Tunnel;
  timer: NodeJS.Timeout;
}

/** One client's public listener and the public connections it has not yet handed over. */
interface Tunnel {
  port: number;
  listener: Server;
  control: ServerFramed;
  pending: Set<string>;
  heartbeat: NodeJS.Timeout;
}

/** Error texts the Rust server sends; clients match on some of them. */
export const ServerErrors = {
  invalidSecret: 'invalid secret',
  secretRequired: 'server requires secret, but no secret was provided',
  portNotAllowed: 'client port number not in allowed range',
  portInUse: 'port already in use',
  permissionDenied: 'permission denied',
  bindFailed: 'failed to bind to port',
  noFreePort: 'failed to find an available port',
} as const;

/** A running bore server. */
export class BoreServer {
  readonly #opts: Required<Omit<ServerOptions, 'secret' | 'logger'>>;
  readonly #auth: Authenticator | undefined;
  readonly #log: Logger;
  readonly #pending = new Map<string, Pending>();
  readonly #tunnels = new Set<Tunnel>();
  readonly #control: Server;
  readonly #connections = new Set<Socket>();
  #closing = false;

  constructor(options: ServerOptions = {}) {
    this.#opts = {
      minPort: options.minPort ?? 1024,
      maxPort: options.maxPort ?? 65535,
      controlPort: options.controlPort ?? DEFAULT_CONTROL_PORT,
      bindAddr: options.bindAddr ?? '0.0.0.0',
      bindTunnels: options.bindTunnels ?? '0.0.0.0',
      clientTimeoutMs: options.clientTimeoutMs ?? 15_000,
      maxPendingPerTunnel: options.maxPendingPerTunnel ?? 128,
      acceptTimeoutMs: options.acceptTimeoutMs ?? ACCEPT_TIMEOUT_MS,
    };
    if (this.#opts.minPort > this.#opts.maxPort) {
      throw new RangeError(`empty port range: --min-port ${this.#opts.minPort} is above --max-port ${this.#opts.maxPort}`);
    }
    this.#auth = options.secret ? new Authenticator(options.secret) : undefined;
    this.#log = options.logger ?? silentLogger;
    this.#control = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#onConnection(socket));
  }

  /** Starts listening on the control port. Resolves with the port actually bound. */
  async listen(): Promise<number> {
    this.#control.listen(this.#opts.controlPort, this.#opts.bindAddr);
    await once(this.#control, 'listening');
    const port = this.port;
    this.#log.info('server listening', { addr: this.#opts.bindAddr, port, minPort: this.#opts.minPort, maxPort: this.#opts.maxPort, auth: Boolean(this.#auth) });
    return port;
  }

  /** The control port, once listening. */
  get port(): number {
    return (this.#control.address() as net.AddressInfo).port;
  }

  /** Number of tunnels (clients with a public port) currently open. */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /**
   * Stops accepting, closes control connections and public listeners, and gives the
   * in-flight proxied connections up to `drainMs` to finish before destroying them.
   */
  async close(drainMs = 5000): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#control.close();
    for (const tunnel of [...this.#tunnels]) this.#closeTunnel(tunnel);
    const proxied = [...this.#connections].filter((s) => !s.destroyed);
    if (proxied.length > 0) {
      this.#log.info('draining connections', { count: proxied.length, drainMs });
      const closed = Promise.all(proxied.map((s) => (s.closed ? null : once(s, 'close').catch(() => null))));
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise((r) => (timer = setTimeout(r, drainMs)));
      await Promise.race([closed, deadline]);
      clearTimeout(timer);
    }
    for (const s of this.#connections) s.destroy();
    this.#log.info('server stopped');
  }

  #onConnection(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    this.#connections.add(socket);
    socket.once('close', () => this.#connections.delete(socket));
    socket.on('error', () => {});
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const framed: ServerFramed = new FramedSocket(socket, decodeClientMessage, serverMessageJson);
    this.#handshake(framed).catch((err: Error) => {
      const reason = err instanceof ProtocolError || err instanceof TimeoutError ? err.message : `${err.message}`;
      this.#log.warn('closing connection', { peer, reason });
      socket.destroy();
    });
  }

  async #handshake(framed: ServerFramed): Promise<void> {
    const socket = framed.socket;
    if (this.#auth) {
      const challenge = Authenticator.challenge();
      framed.send({ type: 'Challenge', id: challenge });
      const reply = await framed.recv();
      if (reply?.type !== 'Authenticate') {
        return this.#refuse(framed, ServerErrors.secretRequired, reply ? `sent ${reply.type} before authenticating` : 'closed before authenticating');
      }
      if (!this.#auth.validate(challenge, reply.tag)) {
        return this.#refuse(framed, ServerErrors.invalidSecret, 'invalid secret');
      }
    }
    const msg = await framed.recv();
    if (msg === undefined) {
      socket.destroy();
      return;
    }
    switch (msg.type) {
      case 'Authenticate':
        throw new ProtocolError('unexpected Authenticate');
      case 'Hello':
        return this.#openTunnel(framed, msg.port);
      case 'Accept':
        return this.#accept(framed, msg.id);
    }
  }

  #refuse(framed: ServerFramed, text: string, reason: string): void {
    this.#log.warn('refusing client', { peer: `${framed.socket.remoteAddress}:${framed.socket.remotePort}`, reason });
    framed.send({ type: 'Error', message: text });
    framed.socket.end();
    framed.socket.resume();
    framed.socket.setTimeout(1000, () => framed.socket.destroy());
  }

  async #openTunnel(framed: ServerFramed, requested: number): Promise<void> {
    let listener: Server;
    try {
      listener = await this.#createListener(requested);
    } catch (err) {
      return this.#refuse(framed, (err as Error).message, `port ${requested}: ${(err as Error).message}`);
    }
    const socket = framed.socket;
    if (socket.destroyed || this.#closing) {
      listener.close();
      return;
    }
    tuneControlSocket(socket, this.#log, this.#opts.clientTimeoutMs);
    const port = (listener.address() as net.AddressInfo).port;
    const tunnel: Tunnel = {
      port,
      listener,
      control: framed,
      pending: new Set(),
      heartbeat: setInterval(() => framed.send({ type: 'Heartbeat' }), HEARTBEAT_INTERVAL_MS),
    };
    this.#tunnels.add(tunnel);
    this.#connections.delete(socket);
    this.#log.info('new client', { peer: `${socket.remoteAddress}:${socket.remotePort}`, port });
    framed.send({ type: 'Hello', port });
    framed.send({ type: 'Heartbeat' });
    listener.on('connection', (conn) => this.#onPublicConnection(tunnel, conn));
    // A client sends nothing after Hello; reading anyway is how EOF and errors are seen.
    framed.detach();
    socket.on('data', () => {});
    socket.on('end', () => socket.destroy());
    socket.on('close', () => this.#closeTunnel(tunnel));
    socket.resume();
  }

  #closeTunnel(tunnel: Tunnel): void {
    if (!this.#tunnels.delete(tunnel)) return;
    clearInterval(tunnel.heartbeat);
    tunnel.listener.close();
    for (const id of tunnel.pending) this.#dropPending(id);
    tunnel.control.socket.destroy();
    this.#log.info('client disconnected', { port: tunnel.port });
  }

  #onPublicConnection(tunnel: Tunnel, conn: Socket): void {
    conn.on('error', () => {});
    if (tunnel.pending.size >= this.#opts.maxPendingPerTunnel) {
      const oldest = tunnel.pending.values().next().value as string;
      this.#log.warn('too many unclaimed connections, dropping the oldest', { port: tunnel.port, id: oldest });
      this.#dropPending(oldest);
    }
    const id = randomUUID();
    const timer = setTimeout(() => {
      if (this.#pending.has(id)) {
        this.#log.warn('removed stale connection', { port: tunnel.port, id });
        this.#dropPending(id);
      }
    }, this.#opts.acceptTimeoutMs);
    this.#pending.set(id, { socket: conn, tunnel, timer });
    tunnel.pending.add(id);
    conn.once('close', () => this.#forget(id));
    this.#log.debug('new connection', { port: tunnel.port, peer: `${conn.remoteAddress}:${conn.remotePort}`, id });
    tunnel.control.send({ type: 'Connection', id });
    tunnel.control.send({ type: 'Heartbeat' });
  }

  #forget(id: string): Pending | undefined {
    const entry = this.#pending.get(id);
    if (!entry) return undefined;
    this.#pending.delete(id);
    entry.tunnel.pending.delete(id);
    clearTimeout(entry.timer);
    return entry;
  }

  #dropPending(id: string): void {
    this.#forget(id)?.socket.destroy();
  }

  #accept(framed: ServerFramed, id: string): void {
    const entry = this.#forget(id);
    if (!entry || entry.socket.destroyed) {
      this.#log.debug('missing connection', { id });
      framed.socket.destroy();
      return;
    }
    this.#log.debug('forwarding connection', { port: entry.tunnel.port, id });
    const head = framed.detach();
    this.#connections.add(entry.socket);
    entry.socket.once('close', () => this.#connections.delete(entry.socket));
    void proxy(framed.socket, entry.socket, head);
  }

  async #createListener(port: number): Promise<Server> {
    const { minPort, maxPort } = this.#opts;
    if (port > 0) {
      if (port < minPort || port > maxPort) throw new Error(ServerErrors.portNotAllowed);
      return this.#bind(port);
    }
    for (let i = 0; i < PORT_TRIES; i++) {
      const candidate = minPort + Math.floor(Math.random() * (maxPort - minPort + 1));
      try {
        return await this.#bind(candidate);
      } catch {
        // try another
      }
    }
    throw new Error(ServerErrors.noFreePort);
  }

  #bind(port: number): Promise<Server> {
    return new Promise((resolve, reject) => {
      const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
      listener.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new Error(
            err.code === 'EADDRINUSE' ? ServerErrors.portInUse : err.code === 'EACCES' ? ServerErrors.permissionDenied : ServerErrors.bindFailed,
          ),
        );
      });
      listener.listen({ port, host: this.#opts.bindTunnels, exclusive: true }, () => {
        listener.removeAllListeners('error');
        listener.on('error', (err) => this.#log.warn('public listener error', { port, reason: err.message }));
        resolve(listener);
      });
    });
  }
}
