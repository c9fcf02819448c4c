/**
 * The side effects of the client machine as XState actors: the session (the control
 * connection from connect to close; its messages as events in `control-messages.ts`) and
 * the proxies of the public connections. Each is a thin wrapper over plain functions of
 * this folder.
 */
import { drainSockets } from '../net/drain.js';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { type EventObject, fromCallback } from 'xstate';
import type { Authenticator } from '../protocol/auth.js';
import type { Logger } from '../log/logger.js';
import { connectTcp, secureSocket } from './connect.js';
import { type ClientTls, tunnelTlsOf, warmUpTls } from './tls.js';
import { type TunnelError, classify } from './errors.js';
import { authenticate, frameClientSocket, requestPort } from './handshake.js';
import { type SessionEvent, listenControl } from './control-messages.js';
import { warmLookup } from '../net/lookup-cache.js';
import { type DataConnectionTarget, runDataConnection } from './data-connection.js';
import { ClientPool, type PoolStats } from './pool.js';
import { ClientMux } from './mux.js';
import { setControlSocketBasics } from '../net/socket-options.js';
import { ConnectionBook } from '../net/connection-book.js';
import { onClose } from '../net/socket-events.js';

// The control connection's events and heartbeat pace, where the machine and tests have always taken them.
export { HEARTBEAT_COALESCE_MS, type SessionEvent, heartbeatIntervalFor } from './control-messages.js';

/**
 * What the machine's actors need that is not data: the logger, the credentials, the
 * books of the public connections (the open ones for the drain on stop, counters and
 * the recently closed ones for the inspector), and the sources of randomness
 * and time (injected, so tests fix them). Hidden from JSON so snapshots stay
 * serializable and the secret never leaks into them.
 */
export class ClientRuntime {
  readonly logger: Logger;
  readonly #source: ((fresh: boolean) => Authenticator | undefined) | undefined;
  #auth: Authenticator | undefined;
  /** The public connections: the open ones (each as its two sockets), counters, the recently closed ones. */
  readonly connections: ConnectionBook;
  /** Returns a number in [0, 1): the backoff jitter. */
  readonly random: () => number;
  /** Returns the time in epoch ms: when the next retry starts. */
  readonly now: () => number;
  /** The tunnel's TLS settings (every connection to the server is TLS), or undefined for plaintext. */
  tls: ClientTls | undefined = undefined;
  /** Per server of the tunnel's list (by index), its own TLS settings where it has some; the others use `tls`. */
  serverTls: readonly (ClientTls | undefined)[] = [];
  /** The server of the latest session (set as it starts): where data connections go. */
  endpoint: { host: string; port: number; tls: ClientTls | undefined } | undefined = undefined;
  /** The session's last failure as thrown, with its cause (the machine's context keeps only what a view shows). */
  lastFailure: TunnelError | undefined = undefined;
  /** Carry the visitors the pool cannot take over one multiplexed connection to a server that offers a pool (`--mux`; `client/mux.ts`). */
  mux = false;
  /** Carry every visitor over it, keeping no pooled connection (`--mux-first`). */
  muxFirst = false;
  /** The multiplexed connection while the proxies actor runs with `--mux` (read by {@link poolStats}). */
  multiplexed: { readonly ready: boolean; readonly served: number } | undefined = undefined;
  /** The warm pool while the proxies actor runs: its counts are read from it when asked ({@link poolStats}). */
  pool: { readonly stats: PoolStats } | undefined = undefined;
  /**
   * Serves public connection `id` the standard way (claim it, join it to the local
   * service) while the proxies actor runs: the session hands a `Connection` straight to
   * it, so a connection costs the machine no event.
   */
  serve: ((id: string) => void) | undefined = undefined;
  /**
   * Readies what a first visitor needs, called by the session once the tunnel is open
   * (after its `listening` line): set by the proxies actor while it runs.
   */
  tunnelOpened: (() => void) | undefined = undefined;

  /**
   * `auth`: the credentials, or a function that gives them anew (a secret file read
   * again, so a rotated secret is used without a restart; `fresh` at a new attempt).
   */
  constructor(
    logger: Logger,
    auth: Authenticator | ((fresh: boolean) => Authenticator | undefined) | undefined,
    random: () => number = Math.random,
    now: () => number = Date.now,
  ) {
    this.logger = logger;
    this.#source = typeof auth === 'function' ? auth : undefined;
    this.#auth = typeof auth === 'function' ? auth(true) : auth;
    this.random = random;
    this.now = now;
    this.connections = new ConnectionBook(now);
  }

  /** The TLS settings of server `index` of the list: its own, else the tunnel's. */
  tlsFor(index = 0): ClientTls | undefined {
    return this.serverTls[index] ?? this.tls;
  }

  /** The credentials for a data connection: a secret file's, read again if need be. */
  get auth(): Authenticator | undefined {
    if (this.#source) this.#auth = this.#source(false);
    return this.#auth;
  }

  /** The credentials for a new attempt: a secret file's, read again now. */
  renewAuth(): Authenticator | undefined {
    if (this.#source) this.#auth = this.#source(true);
    return this.#auth;
  }

  /**
   * The warm pool's counts now (all zero without one). Read when a view asks (the
   * inspector, `/snapshot`): counts that change per connection never pass through the machine.
   */
  get poolStats(): PoolStats {
    const stats = this.pool?.stats ?? { size: 0, idle: 0, opening: 0, inUse: 0, served: 0, refills: 0, fallbacks: 0, failures: 0 };
    const mux = this.multiplexed;
    return mux ? { ...stats, multiplexed: { ready: mux.ready, served: mux.served } } : stats;
  }

  /** Waits until every proxied connection has closed, or destroys the rest after `ms`. */
  async drain(ms: number): Promise<void> {
    if (this.connections.size === 0) return;
    // Connections, not sockets: one visitor is one connection.
    this.logger.info('draining connections', { count: this.connections.size, drainMs: ms });
    await drainSockets(this.connections.sockets(), ms);
    // Connections that opened during the drain are cut too.
    for (const s of this.connections.sockets()) s.destroy();
  }

  toJSON(): string {
    return '[ClientRuntime]';
  }
}

/** Input of {@link sessionActor}: where to connect and which public port to ask for. */
export interface SessionInput {
  host: string;
  port: number;
  /** Index of the server in the tunnel's list (its TLS settings); 0 if absent. */
  server?: number;
  /** The public port to ask for in `Hello` (0: any). */
  requestedPort: number;
  /** Idle pooled data connections to ask the server for after `Hello` (0: none). */
  poolSize: number;
  /** Heartbeat pace to ask a server that offered a pool for ({@link heartbeatIntervalFor}); absent or the protocol's 500 ms or less asks nothing. */
  heartbeatIntervalMs?: number;
  runtime: ClientRuntime;
}

/**
 * One control connection, from connect to close, and its only owner: connects, tunes
 * the socket, secures it with TLS if the tunnel has it, authenticates, sends `Hello` (then `PoolRequest` if a pool is wanted:
 * a Rust server never reads it) and then turns the server's messages into machine
 * events (any message proves the server alive; EOF or a socket error is
 * `CONTROL.LOST`). It keeps no deadline: the machine's states do. Stopping it aborts
 * the connect or destroys the socket.
 */
export const sessionActor = fromCallback<EventObject, SessionInput>(({ sendBack, input }) => {
  const { runtime } = input;
  const tls = runtime.tlsFor(input.server);
  runtime.endpoint = { host: input.host, port: input.port, tls };
  const abort = new AbortController();
  let socket: Socket | undefined;
  let over = false;
  const report = (event: SessionEvent) => {
    if (!over) sendBack(event);
  };
  const run = async () => {
    const connecting = connectTcp({ host: input.host, port: input.port, signal: abort.signal, timeoutMs: 0 });
    if (tls) warmUpTls(tls);
    const connected = await connecting;
    if (over) {
      connected.destroy();
      return;
    }
    socket = connected;
    setControlSocketBasics(socket);
    if (tls) {
      report({ type: 'CONNECTED' });
      const secured = await secureSocket({ socket, host: input.host, port: input.port, tls, signal: abort.signal });
      socket = secured;
      if (over) {
        secured.destroy();
        return;
      }
      // Read once per control connection: never per data connection.
      report({ type: 'SECURED', tls: tunnelTlsOf(secured, tls) });
    }
    const framed = frameClientSocket(socket);
    const auth = runtime.renewAuth();
    // Without TLS or a secret, `Hello` goes first; the machine's step runs meanwhile.
    const opening = tls || auth ? undefined : requestPort(framed, input.requestedPort, 0);
    if (!tls) report({ type: 'CONNECTED' });
    await authenticate(framed, auth, 0);
    if (auth) report({ type: 'CHALLENGE.ANSWERED' });
    const port = await (opening ?? requestPort(framed, input.requestedPort, 0));
    if (input.poolSize > 0) {
      framed.send({ type: 'PoolRequest', size: input.poolSize });
      runtime.logger.debug('asked the server for a pool of data connections', { size: input.poolSize });
    }
    report({ type: 'OPENED', port });
    runtime.tunnelOpened?.();
    const serve = (id: string) => {
      if (over) return;
      if (runtime.serve) runtime.serve(id);
      else runtime.logger.debug('public connection announced with no proxies running', { id });
    };
    listenControl(framed, runtime.logger, input.heartbeatIntervalMs ?? 0, serve, (event) => {
      report(event);
      if (event.type === 'CONTROL.LOST') over = true;
    });
  };
  run().catch((err: unknown) => {
    const failure = classify(err);
    if (!over) runtime.lastFailure = failure;
    report({ type: 'FAILED', code: failure.code, message: failure.message });
    over = true;
  });
  return () => {
    over = true;
    abort.abort();
    socket?.destroy();
  };
});

/** Input of {@link proxiesActor}: where data connections go (the secret comes from the runtime). */
export interface ProxiesInput {
  target: Omit<DataConnectionTarget, 'auth'>;
  runtime: ClientRuntime;
}

/**
 * What the machine asks of the proxies actor: open the pool the server offered, or close
 * it (the session ended). Public connections of the standard path come to it straight
 * from the session ({@link ClientRuntime.serve}).
 */
export type ProxyRequest = { type: 'POOL.OPEN'; token: string; size: number } | { type: 'POOL.CLOSE' };

/**
 * Every public connection of the tunnel: for each `Connection` the session hands it
 * ({@link ClientRuntime.serve}), it claims the connection and proxies it to the local
 * service, whose name it looks up once the tunnel is open
 * ({@link ClientRuntime.tunnelOpened}); between `POOL.OPEN` and `POOL.CLOSE` it also keeps
 * the pool of idle data connections (`pool.ts`) that serves public connections without a
 * claim. It sends the machine nothing: what changes per connection (the open ones, the
 * pool's counts) is kept in the runtime's books and read when a view asks, so a
 * connection costs no machine event (measured: 9-17% of the client's CPU per connection
 * went to XState when each sent two or three). One long-lived actor for all of them (not
 * an actor per connection, whose spawn and stop cost grows with the number open).
 * Stopping it closes the idle pooled connections but cuts no public connection: in-flight
 * bytes survive control reconnects, and a stop drains them via the runtime.
 */
export const proxiesActor = fromCallback<ProxyRequest, ProxiesInput>(({ receive, input }) => {
  const { runtime } = input;
  // Read at each data connection: the credentials of the current attempt, the server of the latest session.
  const target = {
    ...input.target,
    get to() {
      return runtime.endpoint?.host ?? input.target.to;
    },
    get controlPort() {
      return runtime.endpoint?.port ?? input.target.controlPort;
    },
    get auth() {
      return runtime.auth;
    },
    get tls() {
      return runtime.endpoint ? runtime.endpoint.tls : runtime.tls;
    },
  };
  const opened = (id: string, remote: Duplex, local: Socket) => {
    const done = runtime.connections.open(id, remote, local);
    let open = 2;
    const closed = () => {
      if (--open === 0) done();
    };
    onClose(remote, closed);
    onClose(local, closed);
  };
  const pool = new ClientPool(target, runtime.logger, { opened, closed: () => {} });
  runtime.pool = pool;
  const first = runtime.mux && runtime.muxFirst;
  // A multiplexed visitor found the pool empty too: a pool paused after failures tries again.
  const mux = runtime.mux ? new ClientMux(target, runtime.logger, { opened, arrived: () => pool.resume() }, first) : undefined;
  runtime.multiplexed = mux;
  const serve = (id: string) => {
    pool.fallback();
    // The server had no idle pooled connection for this visitor: the next ones of a burst can be multiplexed.
    mux?.demand();
    runDataConnection(id, target, (remote, local) => opened(id, remote, local)).catch((err: Error) => {
      runtime.logger.warn('public connection closed: could not reach the local service or the server', { id, reason: err.message });
    });
  };
  runtime.serve = serve;
  // The local service's name looked up once the tunnel is open, not at start: the first
  // visitor then waits on no module load, thread start or resolver set-up (measured: the
  // first visitor's first byte 17.6 -> 8.3 ms on loopback).
  // Again at each reconnect: an answer kept for a second, or one more lookup.
  const warm = () => warmLookup(input.target.localHost);
  runtime.tunnelOpened = warm;
  receive((request) => {
    if (request.type === 'POOL.OPEN') {
      // The server hands a visitor to an idle pooled connection first, then to the
      // multiplexed one: --mux-first keeps no pooled connection (unless the server
      // refuses to multiplex); by default the multiplexed one waits for a visitor that
      // finds the pool empty.
      const { token, size } = request;
      if (first) mux?.open(token, () => pool.open(token, size));
      else {
        pool.open(token, size);
        mux?.arm(token);
      }
    } else {
      pool.close();
      mux?.close();
    }
  });
  return () => {
    pool.close();
    mux?.close();
    if (runtime.pool === pool) runtime.pool = undefined;
    if (runtime.multiplexed === mux) runtime.multiplexed = undefined;
    if (runtime.serve === serve) runtime.serve = undefined;
    if (runtime.tunnelOpened === warm) runtime.tunnelOpened = undefined;
  };
});
