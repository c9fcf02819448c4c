/**
 * The log lines of a tunnel's transitions (`connecting to`, `listening at`, `connection
 * failed: ...` and `reconnecting in ...`, the error that ends it), as the implementations
 * of the client machine's named log actions (`logConnecting`, `logListening`,
 * `logBackoff`, `logFatal`...): the chart says where each line is logged, and the
 * machine finds each tunnel's {@link TunnelLog} on its runtime ({@link TunnelRuntime};
 * `machines/transition-log.ts`). A retry whose warning the rate limit
 * suppressed (`src/log/rate-limit.ts`) logs its follow-up lines at debug: a flood of
 * retries stays as bounded as its warnings.
 */
import type { ClientContext, TopState } from '../../machines/client.js';
import { TRANSITION_LOG, type TransitionLog } from '../../machines/transition-log.js';
import { currentServer } from '../../machines/failover.js';
import { serverName } from '../client/servers.js';
import { type Authenticator } from '../protocol/auth.js';
import { ClientRuntime } from '../client/actors.js';
import { formatHostPort } from '../net/address.js';
import { type RateLimitedLogger, SUPPRESSED } from '../log/rate-limit.js';

/**
 * The log of one tunnel's transitions: its logger, the state of the line before (a
 * `backoff` after `listening` is a loss, not a failure; `stopped` says where from) and
 * whether the last retry's warning was rate-limited (then so go its follow-up lines, to debug).
 */
export class TunnelLog implements TransitionLog<ClientContext> {
  /** The tunnel's logger. */
  readonly logger: RateLimitedLogger;
  #from: TopState | undefined;
  #quiet = false;
  /** The server the tunnel last listened on: listening on another is a move, said in the line. */
  #listenedOn: string | undefined;
  /** The server of the last attempt: a retry on another says so. */
  #tried: string | undefined;

  constructor(logger: RateLimitedLogger) {
    this.logger = logger;
  }

  /** Entering `connecting`: info for a retry (unless its warning was hidden), else debug. */
  connecting(ctx: ClientContext): void {
    const state = this.#enter('connecting');
    this.#tried = serverName(currentServer(ctx));
    const server = serverName(currentServer(ctx));
    const attempt = ctx.attempt;
    if (attempt > 1 && !this.#quiet) this.logger.info(`connecting to ${server}`, { state, attempt, port: ctx.requestedPort });
    else this.logger.debug(`connecting to ${server}`, { state, attempt });
  }

  /** Connected, with TLS: its handshake starts. */
  securing(ctx: ClientContext): void {
    const state = this.#enter('securing');
    const server = serverName(currentServer(ctx));
    this.logger.debug('connected, securing (TLS handshake)', { state, attempt: ctx.attempt, server });
  }

  /** Connected (and secured: what TLS gave): the bore handshake starts. */
  authenticating(ctx: ClientContext): void {
    const state = this.#enter('authenticating');
    const server = serverName(currentServer(ctx));
    const tls = ctx.tls;
    if (tls) {
      this.logger.debug(`TLS: ${tls.protocol} ${tls.cipher}${tls.resumed ? ', session resumed' : ''}`, {
        state,
        server,
        subject: tls.subject,
        fingerprint: tls.fingerprint,
        validTo: tls.validTo,
      });
    }
    this.logger.debug(tls ? 'secured, authenticating' : 'connected, authenticating', {
      state,
      attempt: ctx.attempt,
      server,
      port: ctx.requestedPort,
    });
  }

  /** Listening (again): the public address. */
  listening(ctx: ClientContext): void {
    const state = this.#enter('listening');
    const { host } = currentServer(ctx);
    const server = serverName(currentServer(ctx));
    const moved = this.#listenedOn !== undefined && this.#listenedOn !== server;
    this.#listenedOn = server;
    if (ctx.reconnects > 0 && !moved) this.logger.info('reconnected', { state, attempt: ctx.attempt, port: ctx.publicPort });
    const line = `listening at ${formatHostPort(host, ctx.publicPort!)}`;
    // A move changes the public address: one line says where it is now, and why it moved.
    this.logger.info(moved ? `moved to ${host}: ${line}` : line, {
      state,
      port: ctx.publicPort,
      local: formatHostPort(ctx.settings.localHost, ctx.settings.localPort),
      ...(moved ? { server, from: ctx.moved?.from, reason: ctx.moved?.reason } : {}),
    });
  }

  /** The server offered no pool in time. */
  noPool(): void {
    this.logger.debug(
      'the server offered no connection pool (a Rust bore server, or --max-pool 0): new connections take the standard path',
    );
  }

  /** Entering `backoff`: the failure (a warning, maybe rate-limited) and when the next attempt starts. */
  backoff(ctx: ClientContext): void {
    const from = this.#from;
    const state = this.#enter('backoff');
    const attempt = ctx.attempt;
    const err = ctx.lastError!;
    const what = from === 'listening' ? 'connection lost' : 'connection failed';
    const hidden = this.logger.warn(`${what}: ${err.message}`, { state, attempt, code: err.code, class: err.class }) === SUPPRESSED;
    const next = serverName(currentServer(ctx));
    const moving = ctx.servers.length > 1 && ctx.servers[ctx.server]!.name !== this.#tried ? ` to ${next}` : '';
    this.#tried = next;
    this.logger[hidden ? 'debug' : 'info'](
      `reconnecting${moving} in ${((ctx.retryDelayMs ?? 0) / 1000).toFixed(1)}s (attempt ${attempt + 1})`,
      {
        state,
        attempt: attempt + 1,
        delay: ctx.retryDelayMs,
        ...(moving ? { server: next, reason: ctx.moved?.reason } : {}),
      },
    );
    this.#quiet = hidden;
  }

  /** Giving up: the error, and why it is not retried. */
  fatal(ctx: ClientContext): void {
    const state = this.#enter('fatal');
    const err = ctx.lastError!;
    const why =
      err.class === 'fatal'
        ? 'not retrying'
        : !ctx.everListened
          ? 'first attempt failed (use --retry-first to keep trying)'
          : 'reconnect disabled (--no-reconnect)';
    this.logger.error(err.message, { state, attempt: ctx.attempt, code: err.code, class: err.class, reason: why });
  }

  /** Stopped by `STOP`. */
  stopped(): void {
    const from = this.#from;
    const state = this.#enter('stopped');
    this.logger.info('stopped', { state, from });
  }

  #enter(state: TopState): TopState {
    this.#from = state;
    return state;
  }
}

/** A client runtime that carries its tunnel's log and drain time, so the log actions and the runner find them. */
export class TunnelRuntime extends ClientRuntime {
  /** The log of the tunnel's transitions. */
  readonly log: TunnelLog;
  /** How long a stop lets in-flight connections finish (ms). */
  readonly drainMs: number;

  constructor(
    logger: RateLimitedLogger,
    auth: Authenticator | ((fresh: boolean) => Authenticator | undefined) | undefined,
    drainMs: number,
  ) {
    super(logger, auth);
    this.log = new TunnelLog(logger);
    this.drainMs = drainMs;
  }

  /** The log the client machine's log actions call (`machines/transition-log.ts`). */
  get [TRANSITION_LOG](): TransitionLog<ClientContext> {
    return this.log;
  }
}
