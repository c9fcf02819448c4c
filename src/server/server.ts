/**
 * The bore server: a control listener that opens a public port per client, announces
 * each public connection with `Connection(id)` and joins it to the data connection
 * that answers with `Accept(id)`. Wire-compatible with bore-cli 0.5 clients.
 *
 * Unlike the Rust server it bounds what a peer can cost: the whole handshake must fit
 * in 3 s, unclaimed public connections are capped per tunnel, and a silently dead
 * client is dropped within `clientTimeoutMs` (its heartbeats stay unacknowledged and
 * TCP_USER_TIMEOUT fails the socket), which frees its public port at once. Per peer
 * address (an IPv6 address by its /64) it caps the tunnels, and after too many failed
 * handshakes refuses the address's new tunnels for a cool-down, while the data
 * connections of its tunnels that are up keep working (see `peer-limits.ts` and
 * `handshake.ts`).
 */
import net, { type Server, type Socket } from 'node:net';
import { EventEmitter, once } from 'node:events';
import { Authenticator } from '../protocol/auth.js';
import { FramedSocket, TimeoutError } from '../protocol/framed-socket.js';
import { ProtocolError } from '../protocol/framing.js';
import { SERVER_ERROR_TEXTS, type ServerErrorCode } from '../protocol/constants.js';
import { decodeClientMessage, serverMessageJson } from '../protocol/messages.js';
import { proxy } from '../net/proxy.js';
import { drainSockets } from '../net/drain.js';
import { onClose } from '../net/socket-events.js';
import { clearControlTuning, tuneControlSocket } from '../net/socket-options.js';
import { silentLogger } from '../log/logger.js';
import { type RateLimitedLogger, rateLimited } from '../log/rate-limit.js';
import { PendingConnections } from './pending.js';
import { LISTEN_BACKLOG, PortRefusal, openPublicListener } from './ports.js';
import { type PoolTokens, type ServerFramed, ServerTunnel } from './tunnel.js';
import { formatPeer } from '../net/address.js';
import { type Admission, type DataClaim, admit } from './handshake.js';
import { OPTION_ERROR, type Rules, checkOptions } from '../options/rules.js';
import { type OptionsOf, rulesOf } from '../options/table.js';
import { SERVER_OPTIONS } from './options.js';
import { PeerLimits } from './peer-limits.js';
import type { ServerEvents } from './events.js';
import {
  ACCEPT_TIMEOUT_MS,
  AUTH_FAILURE_WINDOW_MS,
  CLIENT_TIMEOUT_MS,
  CLIENT_TIMEOUT_SLACK_MS,
  DEFAULT_BIND_ADDR,
  DEFAULT_CONTROL_PORT,
  DEFAULT_MAX_PORT,
  DEFAULT_MIN_PORT,
  DRAIN_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS,
  IPV6_PREFIX_LENGTH,
  MAX_AUTH_FAILURES,
  MAX_PENDING_PER_TUNNEL,
  MAX_POOL_PER_TUNNEL,
  MAX_TUNNELS_PER_ADDR,
} from './defaults.js';

/** The public listeners' port tries, backlog and error texts by name (defined in `ports.ts`). */
export { LISTEN_BACKLOG, PORT_TRIES, ServerErrors } from './ports.js';
/** The heartbeat and the control connection's backlog limit (defined in `tunnel.ts`). */
export { HEARTBEAT_INTERVAL_MS, MAX_CONTROL_BACKLOG } from './tunnel.js';
/** The defaults of {@link ServerOptions} (defined in `defaults.ts`). */
export {
  ACCEPT_TIMEOUT_MS,
  CLIENT_TIMEOUT_MS,
  CLIENT_TIMEOUT_SLACK_MS,
  DEFAULT_CONTROL_PORT,
  DRAIN_TIMEOUT_MS,
  HANDSHAKE_TIMEOUT_MS,
  MAX_PENDING_PER_TUNNEL,
  MAX_POOL_PER_TUNNEL,
} from './defaults.js';

/** The events of {@link BoreServer} and their payloads (defined in `events.ts`). */
export type { ConnectionClosedEvent, ConnectionEvent, ServerEvents, TunnelClosedEvent, TunnelOpenedEvent } from './events.js';

/** Options of {@link BoreServer}; the names match the CLI flags (declared in `options.ts`). */
export type ServerOptions = OptionsOf<typeof SERVER_OPTIONS>;

/** The rules of {@link ServerOptions}, checked by the {@link BoreServer} constructor (see `options/rules.ts`). */
const SERVER_RULES: Rules<ServerOptions> = rulesOf(SERVER_OPTIONS);

/** Counts of what a server holds, for tests and benchmarks. */
export interface ServerStats {
  /** Tunnels (clients with a public port) open. */
  tunnels: number;
  /** Public connections waiting for their client's `Accept`. */
  pending: number;
  /** Control-port connections still in their handshake. */
  handshaking: number;
  /** Sockets of claimed public connections (two per connection while both are open). */
  proxiedSockets: number;
  /** Idle pooled data connections, over all tunnels. */
  pooled: number;
}

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
}

/** The authenticator of the option `secret`, if it holds a secret. */
function authenticator(secret: string | readonly string[] | undefined): Authenticator | undefined {
  return secret === undefined || secret === '' ? undefined : new Authenticator(secret);
}

/** How a public connection ended, from the error its socket had, if any. */
function howEnded(socket: Socket): string {
  const err: NodeJS.ErrnoException | null = socket.errored;
  if (!err) return 'closed';
  return err.code === 'ECONNRESET' ? 'reset' : (err.code ?? 'error');
}

/**
 * A running bore server; an `EventEmitter` of {@link ServerEvents} (`tunnelOpened`,
 * `tunnelClosed`, `connection`, `connectionClosed`, `error`).
 */
export class BoreServer extends EventEmitter<ServerEvents> {
  readonly #opts: Required<Omit<ServerOptions, 'secret' | 'logger' | 'logRateLimit' | 'accessLog'>>;
  #auth: Authenticator | undefined;
  readonly #log: RateLimitedLogger;
  readonly #pending: PendingConnections;
  readonly #tunnels = new Set<ServerTunnel>();
  readonly #control: Server;
  /** Control-port connections still in their handshake. */
  readonly #handshaking = new Set<Socket>();
  /** Both sockets of every proxied (claimed) public connection. */
  readonly #proxied = new Set<Socket>();
  readonly #limits: PeerLimits;
  readonly #accessLog: boolean;
  readonly #handshakeFailures = new Map<string, number>();
  /** Tunnels by the token of their pool. */
  readonly #poolTokens: PoolTokens = new Map();
  #publicActive = 0;
  #publicPooled = 0;
  #bytesIn = 0;
  #bytesOut = 0;
  #closing = false;

  /** Throws a `TypeError` or `RangeError` (naming the option and its value) if an option is invalid. */
  constructor(options: ServerOptions = {}) {
    super();
    checkOptions(SERVER_RULES, options, 'BoreServer');
    this.#opts = {
      minPort: options.minPort ?? DEFAULT_MIN_PORT,
      maxPort: options.maxPort ?? DEFAULT_MAX_PORT,
      controlPort: options.controlPort ?? DEFAULT_CONTROL_PORT,
      bindAddr: options.bindAddr ?? DEFAULT_BIND_ADDR,
      bindTunnels: options.bindTunnels ?? DEFAULT_BIND_ADDR,
      clientTimeoutMs: options.clientTimeoutMs ?? CLIENT_TIMEOUT_MS,
      maxPendingPerTunnel: options.maxPendingPerTunnel ?? MAX_PENDING_PER_TUNNEL,
      acceptTimeoutMs: options.acceptTimeoutMs ?? ACCEPT_TIMEOUT_MS,
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS,
      maxTunnelsPerAddr: options.maxTunnelsPerAddr ?? MAX_TUNNELS_PER_ADDR,
      maxAuthFailures: options.maxAuthFailures ?? MAX_AUTH_FAILURES,
      authFailureWindowMs: options.authFailureWindowMs ?? AUTH_FAILURE_WINDOW_MS,
      ipv6PrefixLength: options.ipv6PrefixLength ?? IPV6_PREFIX_LENGTH,
      maxPoolPerTunnel: options.maxPoolPerTunnel ?? MAX_POOL_PER_TUNNEL,
    };
    if (this.#opts.minPort > this.#opts.maxPort) {
      const message = `empty port range: minPort ${this.#opts.minPort} is above maxPort ${this.#opts.maxPort}`;
      throw Object.assign(new RangeError(message), { code: OPTION_ERROR });
    }
    this.#limits = new PeerLimits({
      maxTunnels: this.#opts.maxTunnelsPerAddr,
      maxFailures: this.#opts.maxAuthFailures,
      windowMs: this.#opts.authFailureWindowMs,
      ipv6PrefixLength: this.#opts.ipv6PrefixLength,
    });
    this.#auth = authenticator(options.secret);
    this.#log = rateLimited(options.logger ?? silentLogger, options.logRateLimit);
    this.#accessLog = options.accessLog ?? false;
    this.#pending = new PendingConnections(
      { maxPerTunnel: this.#opts.maxPendingPerTunnel, expiryMs: this.#opts.acceptTimeoutMs },
      this.#log,
      this.#accessLog ? (socket, peer, port, since) => this.#logAccess(socket, peer, port, since, 'unclaimed') : undefined,
    );
    this.#control = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#onConnection(socket));
  }

  /** Starts listening on the control port. Resolves with the port actually bound. */
  async listen(): Promise<number> {
    this.#control.listen({ port: this.#opts.controlPort, host: this.#opts.bindAddr, backlog: LISTEN_BACKLOG });
    await once(this.#control, 'listening');
    // From now on a listener error (such as EMFILE on accept) is the server's own: logged,
    // and emitted as `error` when someone listens; the listener keeps accepting.
    this.#control.on('error', (err) => this.#serverError('control listener error', err));
    const port = this.port;
    this.#log.info('server listening', {
      addr: this.#opts.bindAddr,
      port,
      minPort: this.#opts.minPort,
      maxPort: this.#opts.maxPort,
      auth: Boolean(this.#auth),
    });
    return port;
  }

  /**
   * Replaces the secrets clients must prove they know (the option `secret`'s forms;
   * `undefined` or `''`: none). Tunnels that are up stay; their data connections and new
   * tunnels are checked against the new secrets. Throws a `TypeError` or `RangeError`
   * for a bad value, as the constructor does.
   */
  setSecret(secret: string | readonly string[] | undefined): void {
    checkOptions({ secret: SERVER_RULES.secret }, { secret }, 'BoreServer.setSecret');
    this.#auth = authenticator(secret);
  }

  /** The control port, once listening. */
  get port(): number {
    return (this.#control.address() as net.AddressInfo).port;
  }

  /** Number of tunnels (clients with a public port) currently open. */
  get tunnelCount(): number {
    return this.#tunnels.size;
  }

  /** What the server currently holds. */
  get stats(): ServerStats {
    return {
      tunnels: this.#tunnels.size,
      pending: this.#pending.size,
      handshaking: this.#handshaking.size,
      proxiedSockets: this.#proxied.size,
      pooled: [...this.#tunnels].reduce((n, t) => n + t.pooled, 0),
    };
  }

  /** Running totals since start (connections, bytes, failed handshakes by reason). */
  get counters(): ServerCounters {
    return {
      publicAccepted: this.#pending.added + this.#publicPooled,
      publicPooled: this.#publicPooled,
      publicActive: this.#publicActive,
      publicFailed: this.#pending.unclaimed,
      bytesIn: this.#bytesIn,
      bytesOut: this.#bytesOut,
      handshakeFailures: this.#handshakeFailures,
    };
  }

  /** Whether the control listener is up and the server is not shutting down. */
  get listening(): boolean {
    return this.#control.listening && !this.#closing;
  }

  /** The port range clients get ports from. */
  get portRange(): { minPort: number; maxPort: number } {
    return { minPort: this.#opts.minPort, maxPort: this.#opts.maxPort };
  }

  /**
   * Stops accepting, closes handshaking and control connections, public listeners and
   * unclaimed public connections at once, then gives the proxied connections up to
   * `drainMs` to finish before destroying them.
   */
  async close(drainMs = DRAIN_TIMEOUT_MS): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#control.close();
    for (const socket of this.#handshaking) socket.destroy();
    for (const tunnel of [...this.#tunnels]) tunnel.close('server shutting down');
    const proxied = [...this.#proxied];
    if (proxied.length > 0) {
      this.#log.info('draining connections', { count: proxied.length / 2, drainMs });
      const cut = await drainSockets(proxied, drainMs);
      if (cut > 0) this.#log.warn('drain timed out, closing connections', { count: cut / 2 });
    }
    this.#log.flush();
    this.#log.info('server stopped');
  }

  #onConnection(socket: Socket): void {
    const addr = socket.remoteAddress;
    // One whose address is unknown has already gone.
    if (this.#closing || addr === undefined) {
      socket.destroy();
      return;
    }
    this.#handshaking.add(socket);
    onClose(socket, () => this.#handshaking.delete(socket));
    socket.on('error', () => {});
    const peer = formatPeer(socket);
    const framed: ServerFramed = new FramedSocket(socket, decodeClientMessage, serverMessageJson);
    const deadline = Date.now() + this.#opts.handshakeTimeoutMs;
    const coolingDown = this.#limits.isBlocked(addr);
    admit(framed, deadline, { auth: this.#auth, coolingDown, isLive: (claim) => this.#isLive(claim) })
      .then((admission) => this.#admitted(framed, admission, addr))
      .catch((err: Error) => {
        this.#log.warn('closing connection', { peer, reason: err.message });
        this.#countFailure(err instanceof TimeoutError ? 'timeout' : err instanceof ProtocolError ? 'protocol' : 'error');
        // A peer that sent nothing (silent until the deadline, or reset) tried nothing: a
        // network that went quiet mid-handshake (a reconnect or the warm pool's
        // connections caught by an outage) must not get its address refused. One that
        // sent part of a message did try.
        if (socket.bytesRead > 0) this.#failed(addr);
        socket.destroy();
      })
      .finally(() => this.#handshaking.delete(socket));
  }

  /** Acts on what a connection's handshake came to. */
  async #admitted(framed: ServerFramed, admission: Admission, addr: string): Promise<void> {
    switch (admission.type) {
      case 'closed':
        framed.socket.destroy();
        return;
      case 'refused':
        if (admission.failed) this.#failed(addr);
        if (admission.code === 'address-cooling-down') this.#countFailure('blocked');
        return this.#refuse(framed, admission.code, admission.reason, admission.failed, admission.level);
      case 'Hello':
        return this.#openTunnel(framed, admission.port, addr);
      case 'Accept':
        return this.#accept(framed, admission.id, addr);
      case 'PoolJoin':
        return this.#joinPool(framed, admission.token, addr);
    }
  }

  /** Whether a data connection's id is waiting for its `Accept`, or its token is a live pool's. */
  #isLive(claim: DataClaim): boolean {
    return claim.type === 'Accept' ? this.#pending.has(claim.id) : this.#poolTokens.has(claim.token);
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
    const { maxAuthFailures, authFailureWindowMs } = this.#opts;
    const seconds = authFailureWindowMs / 1000;
    this.#log.warn('too many failed handshakes, refusing address', {
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
    if (failed) this.#countFailure(code);
    this.#log[level]('refusing client', { peer: formatPeer(socket), reason });
    framed.send({ type: 'Error', message: SERVER_ERROR_TEXTS[code] });
    framed.detach();
    socket.end();
    socket.on('data', () => {});
    socket.resume();
    socket.setTimeout(1000, () => socket.destroy());
  }

  /** Counts a failed handshake under `reason`. */
  #countFailure(reason: string): void {
    this.#handshakeFailures.set(reason, (this.#handshakeFailures.get(reason) ?? 0) + 1);
  }

  async #openTunnel(framed: ServerFramed, requested: number, addr: string): Promise<void> {
    const release = this.#limits.reserveTunnel(addr);
    if (!release) {
      return this.#refuse(framed, 'too-many-tunnels', `too many tunnels from this address (limit ${this.#opts.maxTunnelsPerAddr})`);
    }
    let listener: Server;
    try {
      listener = await openPublicListener(
        requested,
        { minPort: this.#opts.minPort, maxPort: this.#opts.maxPort, host: this.#opts.bindTunnels },
        this.#log,
      );
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
    tuneControlSocket(socket, this.#log, this.#opts.clientTimeoutMs - CLIENT_TIMEOUT_SLACK_MS);
    const peer = formatPeer(socket);
    const tunnel = new ServerTunnel({
      control: framed,
      listener,
      pending: this.#pending,
      release,
      onClosed: (t) => this.#tunnels.delete(t),
      forward: (data, head, visitor, port, since, id) => {
        this.#publicPooled++;
        this.#forward(data, head, visitor, port, since, id);
      },
      maxPool: this.#opts.maxPoolPerTunnel,
      poolTokens: this.#poolTokens,
      // Idle, proved alive like a control connection (heartbeats and TCP_USER_TIMEOUT);
      // carrying a visitor, a data connection like any other.
      tunePooled: {
        apply: (s) => tuneControlSocket(s, this.#log, this.#opts.clientTimeoutMs - CLIENT_TIMEOUT_SLACK_MS),
        clear: (s) => clearControlTuning(s, this.#log),
      },
      log: this.#log,
      afterClose: (reason) => {
        if (this.listenerCount('tunnelClosed') > 0) this.#emit('tunnelClosed', { port: tunnel.port, peer, reason });
      },
    });
    this.#tunnels.add(tunnel);
    this.#handshaking.delete(socket);
    this.#log.info('new client', { peer, port: tunnel.port });
    tunnel.start();
    if (this.listenerCount('tunnelOpened') > 0) this.#emit('tunnelOpened', { port: tunnel.port, peer });
  }

  #accept(framed: ServerFramed, id: string, addr: string): void {
    const claimed = this.#pending.claim(id);
    if (!claimed) {
      this.#log.debug('missing connection', { id });
      this.#unknownClaim(addr);
      framed.socket.destroy();
      return;
    }
    this.#handshaking.delete(framed.socket);
    this.#log.debug('forwarding connection', { port: claimed.port, id });
    this.#forward(framed.socket, framed.detach(), claimed.socket, claimed.port, claimed.since, id);
  }

  /**
   * Adds a data connection that presented a pool's token to that pool; a token no open
   * pool has (its tunnel closed, or a guess) or a full pool closes the connection.
   */
  #joinPool(framed: ServerFramed, token: string, addr: string): void {
    const socket = framed.socket;
    const tunnel = this.#poolTokens.get(token);
    const head = framed.detach();
    if (!tunnel || head.length > 0) {
      this.#log.debug('closing pooled connection', {
        peer: formatPeer(socket),
        reason: tunnel ? 'data after PoolJoin' : 'unknown pool token',
      });
      this.#countFailure('pool-token');
      if (!tunnel) this.#unknownClaim(addr);
      socket.destroy();
      return;
    }
    this.#handshaking.delete(socket);
    if (!tunnel.addPooled(socket)) {
      this.#log.debug('closing pooled connection', { peer: formatPeer(socket), port: tunnel.port, reason: 'pool full' });
      socket.destroy();
    }
  }

  /** Joins a data connection to a visitor and keeps the books (proxied sockets, bytes, access log). */
  #forward(data: Socket, head: Buffer, visitor: Socket, port: number, since: number, id: string): void {
    this.#proxied.add(data);
    this.#proxied.add(visitor);
    this.#publicActive++;
    const announce = this.listenerCount('connection') > 0;
    const peer = this.#accessLog || announce || this.listenerCount('connectionClosed') > 0 ? formatPeer(visitor) : '';
    if (announce) this.#emit('connection', { port, visitor: peer, id });
    onClose(data, () => this.#proxied.delete(data));
    // Bytes are counted once, when the connection closes: nothing per chunk.
    onClose(visitor, () => {
      this.#proxied.delete(visitor);
      this.#publicActive--;
      this.#bytesIn += visitor.bytesRead;
      this.#bytesOut += visitor.bytesWritten;
      if (this.#accessLog) this.#logAccess(visitor, peer, port, since, howEnded(visitor));
      if (this.listenerCount('connectionClosed') > 0) {
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

  /**
   * Emits `event` (whose listeners the caller has counted). A listener that throws cannot
   * leave the server's bookkeeping half done: its exception is rethrown on the next tick,
   * an `uncaughtException` as from any listener Node calls from its I/O.
   */
  #emit<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    try {
      (this as EventEmitter).emit(event, ...args); // typed by the signature above
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** A failure of the server itself, not of one connection: logged, and emitted as `error` if listened to. */
  #serverError(message: string, err: NodeJS.ErrnoException): void {
    this.#log.error(message, { reason: err.message, code: err.code });
    if (this.listenerCount('error') > 0) this.#emit('error', err);
  }

  /** The access log's line for a public connection that has ended. */
  #logAccess(socket: Socket, peer: string, port: number, since: number, ended: string): void {
    this.#log.info('connection', {
      visitor: peer,
      port,
      bytesIn: socket.bytesRead,
      bytesOut: socket.bytesWritten,
      durationMs: Date.now() - since,
      ended,
    });
  }
}
