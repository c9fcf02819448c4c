/**
 * Starting a tunnel from options: the client machine as a running actor, with its
 * transitions logged and a clean stop. The CLI's `bore local` is a thin layer over
 * {@link startTunnel}.
 */
import { type Actor, type InspectionEvent, type Observer, createActor } from 'xstate';
import { clientMachine, type ClientContext, type TunnelSettings } from '../machines/client.js';
import { Authenticator } from './protocol/auth.js';
import { type Logger, silentLogger } from './log.js';
import { type RateLimitOptions, rateLimited } from './log-rate-limit.js';
import { ClientRuntime } from './client/actors.js';
import { TUNNEL_DEFAULTS } from './client/defaults.js';
import { formatHostPort } from './address.js';
import { type Rules, boolean, checkOptions, duration, func, functionOrObject, integer, nested, string, withMethods } from './options.js';

/** Default control port of bore servers (the protocol's `CONTROL_PORT`). */
export { CONTROL_PORT as DEFAULT_CONTROL_PORT } from './protocol/constants.js';

/** Options of {@link startTunnel}; names and defaults are those of `bore local`. */
export interface TunnelOptions {
  /** Port of the local service to expose. */
  localPort: number;
  /** Address of the bore server. */
  to: string;
  /** Host of the local service (default `localhost`). */
  localHost?: string;
  /** Public port to ask for (default 0: any). */
  port?: number;
  /** Secret shared with the server. */
  secret?: string;
  /** Server control port (default 7835). */
  controlPort?: number;
  /** Seconds without a server message before the connection counts as lost (default 8). */
  heartbeatTimeout?: number;
  /** Cap on the reconnect delay, seconds (default 64). */
  maxReconnectDelay?: number;
  /** Reconnect after a loss (default true). */
  reconnect?: boolean;
  /** Retry the first attempt too (default false: a first failure ends the tunnel). */
  retryFirst?: boolean;
  /** Seconds of uptime after which the backoff schedule starts over (default 10). */
  stableAfter?: number;
  /** How long `stop()` lets in-flight connections finish, seconds (default 2). */
  drainTimeout?: number;
  /** Where to log (default: nowhere); repeated warnings are rate-limited. */
  logger?: Logger;
  /** The rate limit on repeated warnings (default 10 lines per message per 10 s). */
  logRateLimit?: RateLimitOptions;
  /** XState inspection hook (the inspector uses it). */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
}

/** The rules of {@link TunnelOptions}, checked by {@link startTunnel} (see `options.ts`). */
const TUNNEL_RULES: Rules<TunnelOptions> = {
  localPort: integer(1, 65535),
  to: string('a host name or address'),
  localHost: string('a host name or address'),
  port: integer(0, 65535),
  secret: string(undefined, true),
  controlPort: integer(1, 65535),
  heartbeatTimeout: duration('seconds'),
  maxReconnectDelay: duration('seconds'),
  reconnect: boolean,
  retryFirst: boolean,
  stableAfter: duration('seconds', 0, true),
  drainTimeout: duration('seconds', 0, true),
  logger: withMethods('a logger (error, warn, info and debug methods)', ['error', 'warn', 'info', 'debug']),
  logRateLimit: nested<RateLimitOptions>({
    burst: integer(1),
    windowMs: duration('ms'),
    maxKeys: integer(1),
    schedule: func,
  }),
  inspect: functionOrObject,
};

/** A running tunnel. */
export interface Tunnel {
  /** The machine's actor: subscribe to snapshots, read its context. */
  readonly actor: Actor<typeof clientMachine>;
  /** Resolves with the public port once the tunnel is first listening; rejects if it never is. */
  readonly ready: Promise<number>;
  /** Resolves when the machine has stopped (by `stop()` or a fatal error). */
  readonly done: Promise<TunnelResult>;
  /** The public port, once known. */
  readonly publicPort: number | undefined;
  /** Stops the tunnel: closes the control connection, drains in-flight connections. */
  stop(): Promise<TunnelResult>;
}

/** How a tunnel ended. */
export interface TunnelResult {
  /** `stopped` by the user, or `fatal`: gave up after an error. */
  state: 'stopped' | 'fatal';
  /** The error that ended it, for `fatal`. */
  error?: ClientContext['lastError'];
  /** Process exit code the CLI uses: 0 stopped, 3 fatal error, 4 lost or unreachable without retry. */
  exitCode: number;
}

/** Exit codes of `bore local`. */
export const EXIT = { stopped: 0, usage: 2, fatal: 3, gaveUp: 4 } as const;

/** Resolves tunnel options to the machine's settings, applying the CLI's defaults. */
export function tunnelSettings(options: TunnelOptions): TunnelSettings {
  return {
    to: options.to,
    controlPort: options.controlPort ?? TUNNEL_DEFAULTS.controlPort,
    localHost: options.localHost ?? TUNNEL_DEFAULTS.localHost,
    localPort: options.localPort,
    port: options.port ?? TUNNEL_DEFAULTS.port,
    heartbeatTimeoutMs: (options.heartbeatTimeout ?? TUNNEL_DEFAULTS.heartbeatTimeout) * 1000,
    maxReconnectDelayMs: (options.maxReconnectDelay ?? TUNNEL_DEFAULTS.maxReconnectDelay) * 1000,
    reconnect: options.reconnect ?? TUNNEL_DEFAULTS.reconnect,
    retryFirst: options.retryFirst ?? TUNNEL_DEFAULTS.retryFirst,
    stableAfterMs: (options.stableAfter ?? TUNNEL_DEFAULTS.stableAfter) * 1000,
  };
}

/**
 * Starts a tunnel actor and logs its transitions. Throws a `TypeError` or `RangeError`
 * (naming the option and its value) if an option is invalid.
 */
export function startTunnel(options: TunnelOptions): Tunnel {
  checkOptions(TUNNEL_RULES, options, 'startTunnel', ['localPort', 'to']);
  const logger = rateLimited(options.logger ?? silentLogger, options.logRateLimit);
  const settings = tunnelSettings(options);
  const runtime = new ClientRuntime(logger, options.secret ? new Authenticator(options.secret) : undefined);
  const actor = createActor(clientMachine, { input: { settings, runtime }, inspect: options.inspect });
  const drainMs = (options.drainTimeout ?? TUNNEL_DEFAULTS.drainTimeout) * 1000;

  let resolveReady!: (port: number) => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<number>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});
  let resolveDone!: (r: TunnelResult) => void;
  const done = new Promise<TunnelResult>((res) => (resolveDone = res));

  let previous: string | undefined;
  actor.subscribe((snapshot) => {
    const state = typeof snapshot.value === 'string' ? snapshot.value : Object.keys(snapshot.value)[0]!;
    if (state === previous) return;
    const from = previous;
    previous = state;
    logTransition(logger, from, state, snapshot.context);
    if (state === 'listening') resolveReady(snapshot.context.publicPort!);
    if (snapshot.status === 'done') {
      const result: TunnelResult =
        state === 'stopped'
          ? { state: 'stopped', exitCode: EXIT.stopped }
          : {
              state: 'fatal',
              error: snapshot.context.lastError,
              exitCode: snapshot.context.lastError?.class === 'fatal' ? EXIT.fatal : EXIT.gaveUp,
            };
      rejectReady(new Error(result.error?.message ?? 'tunnel stopped'));
      void runtime.drain(result.state === 'stopped' ? drainMs : 0).then(() => {
        logger.flush();
        resolveDone(result);
      });
    }
  });
  actor.start();

  return {
    actor,
    ready,
    done,
    get publicPort() {
      return actor.getSnapshot().context.publicPort;
    },
    stop() {
      actor.send({ type: 'STOP' });
      return done;
    },
  };
}

function logTransition(logger: Logger, from: string | undefined, state: string, ctx: ClientContext): void {
  const server = formatHostPort(ctx.settings.to, ctx.settings.controlPort);
  const attempt = ctx.attempt;
  switch (state) {
    case 'connecting':
      if (attempt > 1) logger.info(`connecting to ${server}`, { state, attempt, port: ctx.requestedPort });
      else logger.debug(`connecting to ${server}`, { state, attempt });
      break;
    case 'authenticating':
      logger.debug('connected, authenticating', { state, attempt, server, port: ctx.requestedPort });
      break;
    case 'listening':
      if (ctx.reconnects > 0) logger.info('reconnected', { state, attempt, port: ctx.publicPort });
      logger.info(`listening at ${formatHostPort(ctx.settings.to, ctx.publicPort!)}`, {
        state,
        port: ctx.publicPort,
        local: formatHostPort(ctx.settings.localHost, ctx.settings.localPort),
      });
      break;
    case 'backoff': {
      const err = ctx.lastError!;
      const what = from === 'listening' ? 'connection lost' : 'connection failed';
      logger.warn(`${what}: ${err.message}`, { state, attempt, code: err.code, class: err.class });
      logger.info(`reconnecting in ${((ctx.retryDelayMs ?? 0) / 1000).toFixed(1)}s (attempt ${attempt + 1})`, {
        state,
        attempt: attempt + 1,
        delay: ctx.retryDelayMs,
      });
      break;
    }
    case 'fatal': {
      const err = ctx.lastError!;
      const why =
        err.class === 'fatal'
          ? 'not retrying'
          : !ctx.everListened
            ? 'first attempt failed (use --retry-first to keep trying)'
            : 'reconnect disabled (--no-reconnect)';
      logger.error(err.message, { state, attempt, code: err.code, class: err.class, reason: why });
      break;
    }
    case 'stopped':
      logger.info('stopped', { state, from });
      break;
  }
}
