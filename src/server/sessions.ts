/**
 * The control port's connections, from their first byte to their role: each one's
 * handshake (`handshake.ts` decides) is acted on here: refused with an `Error`, made a
 * new tunnel (a public listener opened, the address's slot reserved), or made a data
 * connection that claims a waiting public connection or joins a tunnel's pool. It
 * holds the open tunnels and is what each of them knows of the server (a
 * {@link TunnelHost}).
 */
import type { Server, Socket } from 'node:net';
import { TLS_REQUIRED_GRACE_MS, TLS_SNIFF_GRACE_MS, acceptTls, sniff } from './tls.js';
import type { ServerCertificate } from './certificate.js';
import type { Authenticator } from '../protocol/auth.js';
import { FramedSocket, TimeoutError } from '../protocol/framed-socket.js';
import { ProtocolError } from '../protocol/framing.js';
import { SERVER_ERROR_TEXTS, type ServerErrorCode } from '../protocol/constants.js';
import { decodeClientMessage, serverMessageJson } from '../protocol/messages.js';
import { onClose } from '../net/socket-events.js';
import { clearControlTuning, tuneControlSocket } from '../net/socket-options.js';
import { formatPeer } from '../net/address.js';
import type { Logger } from '../log/logger.js';
import { type Admission, type DataClaim, admit } from './handshake.js';
import type { MuxStream } from '../net/mux.js';
import type { PeerLimits } from './peer-limits.js';
import type { PendingConnections } from './pending.js';
import type { PoolSocketTuning } from './pool.js';
import { PortRefusal, openPublicListener } from './ports.js';
import type { ServerBooks } from './books.js';
import type { PublicConnection } from './connection.js';
import { HEARTBEAT_INTERVAL_MS, type PoolTokens, type ServerFramed, ServerTunnel, type TunnelHost } from './tunnel.js';
import { CLIENT_TIMEOUT_SLACK_MS } from './defaults.js';

/** The settings of the server that its control connections' handling reads (its options, defaults applied). */
export interface SessionSettings {
  minPort: number;
  maxPort: number;
  bindTunnels: string;
  clientTimeoutMs: number;
  handshakeTimeoutMs: number;
  maxAuthFailures: number;
  authFailureWindowMs: number;
  maxPoolPerTunnel: number;
  requireTls: boolean;
}

/**
 * What a server with `clientTimeoutMs` grants a client that asks for a heartbeat every
 * `requestedMs`: from {@link HEARTBEAT_INTERVAL_MS} up to a quarter of what the client
 * timeout leaves after its slack. What a slower pace adds to the wait for the first
 * unacknowledged heartbeat comes off the control socket's TCP_USER_TIMEOUT
 * (`userTimeoutMs`, absent at the protocol's pace), so a silently dead client is still
 * freed within the client timeout.
 */
export function heartbeatGrant(requestedMs: number, clientTimeoutMs: number): { grantedMs: number; userTimeoutMs?: number } {
  const budget = clientTimeoutMs - CLIENT_TIMEOUT_SLACK_MS;
  const most = Math.max(HEARTBEAT_INTERVAL_MS, Math.floor(budget / 4));
  const grantedMs = Math.min(Math.max(requestedMs, HEARTBEAT_INTERVAL_MS), most);
  return grantedMs > HEARTBEAT_INTERVAL_MS ? { grantedMs, userTimeoutMs: budget - (grantedMs - HEARTBEAT_INTERVAL_MS) } : { grantedMs };
}

/** The control connections of one server and its open tunnels. */
export class Sessions implements TunnelHost {
  /** The secret's keys, when the server has a secret (replaced by `setSecret`). */
  auth: Authenticator | undefined;
  /** The server's certificate, when it has one (its context swapped by a reload or a renewal). */
  tls: ServerCertificate | undefined;
  /** The server's registry of unclaimed public connections. */
  readonly pending: PendingConnections;
  /** Tunnels by the token of their pool. */
  readonly poolTokens: PoolTokens = new Map();
  /** Most idle pooled connections a tunnel may hold (the option `maxPoolPerTunnel`). */
  readonly maxPool: number;
  // Idle, proved alive like a control connection (heartbeats and TCP_USER_TIMEOUT);
  // carrying a visitor, a data connection like any other.
  readonly tunePooled: PoolSocketTuning = {
    apply: (s) => tuneControlSocket(s, this.log, this.#settings.clientTimeoutMs - CLIENT_TIMEOUT_SLACK_MS),
    clear: (s) => clearControlTuning(s, this.log),
  };
  /** The server's logger. */
  readonly log: Logger;
  readonly #settings: SessionSettings;
  readonly #limits: PeerLimits;
  readonly #books: ServerBooks;
  readonly #tunnels = new Set<ServerTunnel>();
  /** Control-port connections still in their handshake. */
  readonly #handshaking = new Set<Socket>();
  #closing = false;

  /** Handles control connections with `settings`, counting each address in `limits` and keeping the books in `books`. */
  constructor(settings: SessionSettings, limits: PeerLimits, pending: PendingConnections, books: ServerBooks, log: Logger) {
    this.#settings = settings;
    this.#limits = limits;
    this.pending = pending;
    this.#books = books;
    this.log = log;
    this.maxPool = settings.maxPoolPerTunnel;
  }

  /** Grants a client's `HeartbeatInterval` ({@link heartbeatGrant}) and sets its control socket's TCP_USER_TIMEOUT to match. */
  grantHeartbeatInterval(socket: Socket, requestedMs: number): number {
    const { grantedMs, userTimeoutMs } = heartbeatGrant(requestedMs, this.#settings.clientTimeoutMs);
    if (userTimeoutMs !== undefined) tuneControlSocket(socket, this.log, userTimeoutMs);
    return grantedMs;
  }

  /** Tunnels open. */
  get tunnels(): number {
    return this.#tunnels.size;
  }

  /** Control-port connections still in their handshake. */
  get handshaking(): number {
    return this.#handshaking.size;
  }

  /** Of the open tunnels, those whose control connection is TLS (counted when asked). */
  get tlsTunnels(): number {
    let n = 0;
    for (const tunnel of this.#tunnels) if (tunnel.encrypted) n++;
    return n;
  }

  /** Idle pooled data connections, over all tunnels. */
  get pooled(): number {
    let n = 0;
    for (const tunnel of this.#tunnels) n += tunnel.pooled;
    return n;
  }

  /** Runs the handshake of a new control-port connection from `addr` and acts on what it comes to. */
  handle(socket: Socket, addr: string): void {
    this.#handshaking.add(socket);
    onClose(socket, () => this.#handshaking.delete(socket));
    socket.on('error', () => {});
    const deadline = Date.now() + this.#settings.handshakeTimeoutMs;
    const context = this.tls?.context;
    // Without a certificate nothing changes: a TLS ClientHello is garbage to the handshake.
    if (!context && !this.#settings.requireTls) {
      this.#books.countTransport('plain');
      return this.#handshake(socket, socket, addr, deadline);
    }
    // A client with a secret waits for the challenge; one without speaks first. With TLS
    // required, a plaintext client is only refused, so the wait can be longer (a TLS client
    // mistaken for plaintext would fail), yet short of its 3 s wait for the challenge.
    const grace = this.#settings.requireTls ? TLS_REQUIRED_GRACE_MS : TLS_SNIFF_GRACE_MS;
    const wait = this.auth && context ? grace : deadline - Date.now();
    void sniff(socket, wait).then(async (kind) => {
      if (kind === 'closed') return socket.destroy();
      if (kind === 'plain') {
        this.#books.countTransport('plain');
        if (!this.#settings.requireTls) return this.#handshake(socket, socket, addr, deadline);
        const framed: ServerFramed = new FramedSocket(socket, decodeClientMessage, serverMessageJson);
        this.#handshaking.delete(socket);
        return this.#refuse(framed, 'tls-required', 'plaintext client, TLS required', false);
      }
      if (!context) return socket.destroy();
      try {
        const secure = await acceptTls(socket, context, deadline - Date.now());
        secure.on('error', () => {});
        this.#books.countTransport('tls');
        this.#handshake(secure, socket, addr, deadline);
      } catch (err) {
        this.log.warn('closing connection', { peer: formatPeer(socket), reason: (err as Error).message });
        this.#books.countFailure('error');
        socket.destroy();
      }
    });
  }

  /** The bore handshake on `stream` (the TLS socket over `socket`, or `socket` itself). */
  #handshake(stream: Socket, socket: Socket, addr: string, deadline: number): void {
    const peer = formatPeer(socket);
    const framed: ServerFramed = new FramedSocket(stream, decodeClientMessage, serverMessageJson);
    const coolingDown = this.#limits.isBlocked(addr);
    admit(framed, deadline, { auth: this.auth, coolingDown, isLive: (claim) => this.#isLive(claim) })
      .then((admission) => this.#admitted(framed, admission, addr))
      .catch((err: Error) => {
        this.log.warn('closing connection', { peer, reason: err.message });
        this.#books.countFailure(err instanceof TimeoutError ? 'timeout' : err instanceof ProtocolError ? 'protocol' : 'error');
        // A peer that sent nothing (silent until the deadline, or reset) tried nothing: a
        // network that went quiet mid-handshake (a reconnect or the warm pool's
        // connections caught by an outage) must not get its address refused. One that
        // sent part of a message did try.
        if (socket.bytesRead > 0) this.#failed(addr);
        stream.destroy();
        socket.destroy();
      })
      .finally(() => this.#handshaking.delete(socket));
  }

  /** Closes the connections in their handshake and every tunnel; acts on no handshake after. */
  close(reason: string): void {
    this.#closing = true;
    for (const socket of this.#handshaking) socket.destroy();
    for (const tunnel of [...this.#tunnels]) tunnel.close(reason);
  }

  /** Counts a public connection handed to a pooled data connection and joins them (for a {@link ServerTunnel}). */
  forward(conn: PublicConnection, data: Socket, head: Buffer): void {
    this.#books.countPooled();
    this.#books.forward(conn, data, head);
  }

  /** Counts a public connection handed to a stream of the multiplexed connection and joins them (for a {@link ServerTunnel}). */
  forwardStream(conn: PublicConnection, stream: MuxStream): void {
    this.#books.countMultiplexed();
    this.#books.forward(conn, stream);
  }

  /** Forgets a tunnel that has closed and announces it (for a {@link ServerTunnel}). */
  closed(tunnel: ServerTunnel, reason: string): void {
    this.#tunnels.delete(tunnel);
    this.#books.tunnelClosed(tunnel.port, tunnel.peer, reason);
  }

  /** Acts on what a connection's handshake came to. */
  async #admitted(framed: ServerFramed, admission: Admission, addr: string): Promise<void> {
    switch (admission.type) {
      case 'closed':
        framed.socket.destroy();
        return;
      case 'refused':
        if (admission.failed) this.#failed(addr);
        if (admission.code === 'address-cooling-down') this.#books.countFailure('blocked');
        return this.#refuse(framed, admission.code, admission.reason, admission.failed, admission.level);
      case 'Hello':
        return this.#openTunnel(framed, admission.port, addr);
      case 'Accept':
        return this.#accept(framed, admission.id, addr);
      case 'PoolJoin':
        return this.#joinPool(framed, admission.token, addr, admission.quiet ? 'quiet' : 'pool');
      case 'MuxJoin':
        return this.#joinPool(framed, admission.token, addr, 'mux');
    }
  }

  /** Whether a data connection's id is waiting for its `Accept`, or its token is a live pool's. */
  #isLive(claim: DataClaim): boolean {
    return claim.type === 'Accept' ? this.pending.has(claim.id) : this.poolTokens.has(claim.token);
  }

  /**
   * Counts a data connection whose id or token no session has. A few are honest (an
   * `Accept` that lost the race with its connection's expiry, pool joins in flight when
   * their session ended); past an allowance per address they count as failed handshakes.
   */
  #unknownClaim(addr: string): void {
    if (this.#limits.recordUnknownClaim(addr)) this.#failed(addr);
  }

  /** Counts a failed handshake from `addr`; logs once when that starts its cool-down. */
  #failed(addr: string): void {
    if (this.#closing || !this.#limits.recordFailure(addr)) return;
    const { maxAuthFailures, authFailureWindowMs } = this.#settings;
    const seconds = authFailureWindowMs / 1000;
    this.log.warn('too many failed handshakes, refusing address', {
      addr: this.#limits.key(addr),
      failures: maxAuthFailures,
      withinSeconds: seconds,
      cooldownSeconds: seconds,
    });
  }

  /**
   * Sends `Error` with the text of `code`, half-closes, and discards whatever the peer
   * still sends; counts a failed handshake under `code` unless `failed` is false, and
   * logs at `level`.
   */
  #refuse(framed: ServerFramed, code: ServerErrorCode, reason: string, failed = true, level: 'warn' | 'debug' = 'warn'): void {
    const socket = framed.socket;
    if (failed) this.#books.countFailure(code);
    this.log[level]('refusing client', { peer: formatPeer(socket), reason });
    framed.send({ type: 'Error', message: SERVER_ERROR_TEXTS[code] });
    framed.detach();
    socket.end();
    socket.on('data', () => {});
    socket.resume();
    socket.setTimeout(1000, () => socket.destroy());
  }

  async #openTunnel(framed: ServerFramed, requested: number, addr: string): Promise<void> {
    const settings = this.#settings;
    const release = this.#limits.reserveTunnel(addr);
    if (!release) {
      return this.#refuse(framed, 'too-many-tunnels', `too many tunnels from this address (limit ${this.#limits.maxTunnels})`);
    }
    let listener: Server;
    try {
      const range = { minPort: settings.minPort, maxPort: settings.maxPort, host: settings.bindTunnels };
      listener = await openPublicListener(requested, range, this.log);
    } catch (err) {
      release();
      const code = err instanceof PortRefusal ? err.code : 'bind-failed';
      return this.#refuse(framed, code, `port ${requested}: ${SERVER_ERROR_TEXTS[code]}`);
    }
    const socket = framed.socket;
    if (socket.destroyed || this.#closing) {
      release();
      listener.close();
      socket.destroy();
      return;
    }
    // The kernel starts counting at the first unacknowledged heartbeat (up to one
    // interval after the client dies) and fails the socket on a retransmission timer
    // tick; CLIENT_TIMEOUT_SLACK_MS covers both, so the whole bound is clientTimeoutMs.
    tuneControlSocket(socket, this.log, settings.clientTimeoutMs - CLIENT_TIMEOUT_SLACK_MS);
    const tunnel = new ServerTunnel(this, framed, listener, release);
    this.#tunnels.add(tunnel);
    this.#handshaking.delete(socket);
    this.log.info('new client', { peer: tunnel.peer, port: tunnel.port });
    tunnel.start();
    this.#books.tunnelOpened(tunnel.port, tunnel.peer);
  }

  #accept(framed: ServerFramed, id: string, addr: string): void {
    const claimed = this.pending.claim(id);
    if (!claimed) {
      this.log.debug('missing connection', { id });
      this.#unknownClaim(addr);
      framed.socket.destroy();
      return;
    }
    this.#handshaking.delete(framed.socket);
    this.log.debug('forwarding connection', { port: claimed.port, id });
    this.#books.forward(claimed, framed.socket, framed.detach());
  }

  /**
   * Adds a data connection that presented a pool's token to that pool (acknowledged, or
   * not for a `quiet` join), or (`mux`) makes it the tunnel's multiplexed connection; a
   * token no open pool has (its tunnel closed, or a guess) or a full pool closes the
   * connection.
   */
  #joinPool(framed: ServerFramed, token: string, addr: string, as: 'pool' | 'quiet' | 'mux'): void {
    const socket = framed.socket;
    const tunnel = this.poolTokens.get(token);
    const head = framed.detach();
    if (!tunnel || head.length > 0) {
      this.log.debug('closing pooled connection', {
        peer: formatPeer(socket),
        reason: tunnel ? 'data after PoolJoin' : 'unknown pool token',
      });
      this.#books.countFailure('pool-token');
      if (!tunnel) this.#unknownClaim(addr);
      socket.destroy();
      return;
    }
    this.#handshaking.delete(socket);
    if (as === 'mux') return tunnel.addMux(socket);
    if (!tunnel.addPooled(socket, as === 'pool')) {
      this.log.debug('closing pooled connection', { peer: formatPeer(socket), port: tunnel.port, reason: 'pool full' });
      socket.destroy();
      return;
    }
    // A quiet join has no answer: this line is where the pool is seen from the server.
    this.log.debug('pooled connection joined', { port: tunnel.port, idle: tunnel.pooled });
  }
}
