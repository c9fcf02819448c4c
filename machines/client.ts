/**
 * The client's connection manager: an XState v5 machine that owns the control
 * connection's lifetime, every deadline and the retry schedule.
 *
 *   connecting → (securing, with TLS) → authenticating → listening ⇄ backoff → connecting ...
 *   any failure → failed (transient) → backoff, or fatal when it must not be retried
 *   RETRY_NOW in backoff → connecting at once (the wait skipped)
 *   STOP from anywhere → stopped
 *
 * `listening` has two regions: `heartbeat` (the server's messages keep it alive) and
 * `pool` (asking → open when the server offers a warm pool of data connections,
 * standard when it offers none in time, as a Rust server never does; off with a pool
 * size of 0). The pool itself lives in the `proxies` actor; its counts are in `pool`.
 *
 * The control connection belongs to one `session` actor, spawned on entering
 * `connecting` and stopped on entering `failed` or `stopped`; it reports `CONNECTED`,
 * `SECURED` (TLS), `OPENED`, `SERVER.*` and `FAILED`/`CONTROL.LOST` and destroys its
 * socket when stopped. Side effects are the named actors of `src/client/actors.ts`; tests swap them
 * with `machine.provide({ actors })`. All timers (connect, TLS and handshake deadlines,
 * heartbeat deadline, backoff delay, the stable-uptime reset) are XState delays, so a
 * `SimulatedClock` drives them, and the time and randomness the context records come
 * from the runtime.
 */
import { assign, sendTo, setup, spawnChild, stopChild } from 'xstate';
import { type ClientRuntime, type SessionEvent, proxiesActor, sessionActor } from '../src/client/actors.js';
import { backoffDelay } from '../src/client/backoff.js';
import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS, connectTimeoutError, tlsTimeoutError } from '../src/client/connect.js';
import { ERROR_CLASSES, type ErrorCode, handshakeTimeoutError } from '../src/client/errors.js';
import type { PoolStats } from '../src/client/pool.js';
import type { TunnelTls } from '../src/client/tls.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import { type ClientOutput, type LastError, viewOf } from './client-view.js';

export { type ClientOutput, type LastError, type TopState, type TunnelView, sameTunnelView, tunnelView } from './client-view.js';

/** Settings of one tunnel; the names and defaults match the CLI's flags. */
export interface TunnelSettings {
  /** Server host (`--to`). */
  to: string;
  /** Server control port (`--control-port`, default 7835). */
  controlPort: number;
  /** Local service host (`--local-host`, default localhost). */
  localHost: string;
  /** Local service port. */
  localPort: number;
  /** Public port to ask for (`--port`, 0 = any). */
  port: number;
  /** Declare the connection lost after this long without a message (ms). */
  heartbeatTimeoutMs: number;
  /** Cap on the reconnect delay (ms). */
  maxReconnectDelayMs: number;
  /** Reconnect after a loss (false: `--no-reconnect`). */
  reconnect: boolean;
  /** Retry the first attempt too instead of failing fast (`--retry-first`). */
  retryFirst: boolean;
  /** Uptime after which the backoff schedule starts over (ms). */
  stableAfterMs: number;
  /** Idle pooled data connections to ask a bore-ts server for (`--pool`, 0: none). */
  pool: number;
}

/** Input of {@link clientMachine}. */
export interface ClientMachineInput {
  settings: TunnelSettings;
  runtime: ClientRuntime;
}

/** Times the old public port is asked for again before the client takes any port. */
export const STICKY_PORT_TRIES = 3;

/** What the machine knows; everything but `runtime` is plain data. */
export interface ClientContext {
  settings: TunnelSettings;
  runtime: ClientRuntime;
  /** Number of the current attempt to open the tunnel (1 for the first). */
  attempt: number;
  /** Failures since the tunnel was last stable: drives the backoff schedule. */
  failures: number;
  /** The last failure. */
  lastError: LastError | undefined;
  /** The public port the server gave us (kept across reconnects, to ask for it again). */
  publicPort: number | undefined;
  /** The port asked for in the current attempt. */
  requestedPort: number;
  /** Consecutive refusals of the old port (with `port` 0). */
  stickyRefusals: number;
  /** Delay of the current backoff (ms). */
  retryDelayMs: number | undefined;
  /** When the next attempt starts (epoch ms), while in backoff. */
  nextRetryAt: number | undefined;
  /** Whether the tunnel has ever been listening. */
  everListened: boolean;
  /** Times the tunnel came back after a loss. */
  reconnects: number;
  /** With TLS, the control connection's (protocol, cipher, the server's certificate), once secured in this attempt. */
  tls: TunnelTls | undefined;
}

/**
 * Every event the machine accepts. `RETRY_NOW` (the inspector's "reconnect now") ends a
 * backoff's wait at once; anywhere else it changes nothing.
 */
export type ClientEvent = SessionEvent | { type: 'STOP' } | { type: 'RETRY_NOW' };

/** A failure as reported, before it is classified: the `params` of `recordFailure`. */
export interface Failure {
  code: ErrorCode;
  message: string;
}

/** The tunnel client's connection manager. */
export const clientMachine = setup({
  types: {
    context: {} as ClientContext,
    events: {} as ClientEvent,
    input: {} as ClientMachineInput,
    output: {} as ClientOutput,
  },
  actors: {
    session: sessionActor,
    proxies: proxiesActor,
  },
  delays: {
    connectTimeout: CONNECT_TIMEOUT_MS,
    tlsHandshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    handshakeTimeout: NETWORK_TIMEOUT_MS,
    heartbeatTimeout: ({ context }) => context.settings.heartbeatTimeoutMs,
    poolOfferTimeout: NETWORK_TIMEOUT_MS,
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
    stableAfter: ({ context }) => context.settings.stableAfterMs,
  },
  guards: {
    poolOff: ({ context }) => context.settings.pool === 0,
    /** The tunnel's connections to the server are TLS (`--tls`): the session secures the connection next. */
    tlsOn: ({ context }) => context.runtime.tls !== undefined,
    /** Give up: a fatal error, a first attempt without `--retry-first`, or a loss with `--no-reconnect`. */
    mustGiveUp: ({ context }) => {
      const failure = context.lastError;
      if (failure?.class === 'fatal' && !stickyPortRefusal(context, failure.code)) return true;
      if (!context.everListened) return !context.settings.retryFirst;
      return !context.settings.reconnect;
    },
  },
  actions: {
    openSession: spawnChild('session', {
      id: 'session',
      input: ({ context }) => ({
        host: context.settings.to,
        port: context.settings.controlPort,
        requestedPort: context.requestedPort,
        poolSize: context.settings.pool,
        runtime: context.runtime,
      }),
    }),
    /** Stopping the session actor closes the control connection (deferred: a pure transition closes nothing). */
    closeSession: stopChild('session'),
    recordFailure: assign((_, failure: Failure) => ({
      lastError: { code: failure.code, class: ERROR_CLASSES[failure.code], message: failure.message },
    })),
    scheduleRetry: assign(({ context }) => {
      const code = context.lastError?.code;
      const failures = context.failures + 1;
      const retryDelayMs = backoffDelay(failures, context.settings.maxReconnectDelayMs, context.runtime.random);
      return {
        failures,
        retryDelayMs,
        nextRetryAt: context.runtime.now() + retryDelayMs,
        stickyRefusals: context.stickyRefusals + (isStickyRequest(context) && code === 'port-in-use' ? 1 : 0),
        publicPort: code && stickyPortRefusal(context, code) ? undefined : context.publicPort,
      };
    }),
    startAttempt: assign(({ context }) => {
      const old = context.publicPort;
      const sticky = context.settings.port === 0 && old !== undefined && context.stickyRefusals < STICKY_PORT_TRIES;
      return {
        attempt: context.attempt + 1,
        retryDelayMs: undefined,
        nextRetryAt: undefined,
        tls: undefined,
        requestedPort: context.settings.port || (sticky ? old : 0),
      };
    }),
    opened: assign(({ context }, { port }: { port: number }) => ({
      publicPort: port,
      lastError: undefined,
      stickyRefusals: 0,
      reconnects: context.everListened ? context.reconnects + 1 : context.reconnects,
      everListened: true,
    })),
    secured: assign((_, { tls }: { tls: TunnelTls }) => ({ tls })),
    forwardConnection: sendTo('proxies', (_, { id }: { id: string }) => ({ type: 'SERVER.CONNECTION' as const, id })),
    /** Never more connections than asked for, whatever the server offers. */
    openPool: sendTo('proxies', ({ context }, { token, size }: { token: string; size: number }) => ({
      type: 'POOL.OPEN' as const,
      token,
      size: Math.min(size, context.settings.pool),
    })),
    closePool: sendTo('proxies', { type: 'POOL.CLOSE' as const }),
    // The log lines of the transitions, where they happen: no-ops here, given by the
    // runner with `machine.provide({ actions })` (src/run/tunnel-log.ts).
    /** Entering `connecting` (the attempt counted). */
    logConnecting: () => {},
    /** Connected, with TLS: its handshake starts. */
    logSecuring: () => {},
    /** Connected (and secured, with TLS): the bore handshake starts. */
    logAuthenticating: () => {},
    /** The server opened the tunnel (the port recorded). */
    logListening: () => {},
    /** No pool offer in time: new connections take the standard path. */
    logNoPool: () => {},
    /** Entering `backoff` (the retry scheduled). */
    logBackoff: () => {},
    /** Giving up (`fatal`). */
    logFatal: () => {},
    /** Stopped by `STOP`. */
    logStopped: () => {},
  },
}).createMachine({
  id: 'bore',
  context: ({ input }) => ({
    settings: input.settings,
    runtime: input.runtime,
    attempt: 0,
    failures: 0,
    lastError: undefined,
    publicPort: undefined,
    requestedPort: input.settings.port,
    stickyRefusals: 0,
    retryDelayMs: undefined,
    nextRetryAt: undefined,
    everListened: false,
    reconnects: 0,
    tls: undefined,
  }),
  initial: 'connecting',
  // The final view: how it ended (the final state's own output, `stopped` or `fatal`) and the context then.
  output: ({ context, event }) => viewOf(event.output === 'fatal' ? 'fatal' : 'stopped', context),
  // Public connections outlive control reconnects, so their actor lives at the root.
  invoke: {
    id: 'proxies',
    src: 'proxies',
    input: ({ context }) => {
      const { to, controlPort, localHost, localPort } = context.settings;
      return { target: { to, controlPort, localHost, localPort }, runtime: context.runtime };
    },
  },
  on: {
    STOP: '.stopped',
  },
  states: {
    connecting: {
      entry: ['startAttempt', 'openSession', 'logConnecting'],
      after: {
        connectTimeout: {
          target: 'failed',
          actions: {
            type: 'recordFailure',
            params: ({ context }) => connectTimeoutError(context.settings.to, context.settings.controlPort, CONNECT_TIMEOUT_MS),
          },
        },
      },
      on: {
        CONNECTED: [
          { guard: 'tlsOn', target: 'securing', actions: 'logSecuring' },
          { target: 'authenticating', actions: 'logAuthenticating' },
        ],
        FAILED: { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => event } },
      },
    },
    // With TLS only: the handshake over the connected socket, with its own deadline.
    securing: {
      after: {
        tlsHandshakeTimeout: {
          target: 'failed',
          actions: {
            type: 'recordFailure',
            params: ({ context }) => tlsTimeoutError(context.settings.to, context.settings.controlPort, TLS_HANDSHAKE_TIMEOUT_MS),
          },
        },
      },
      on: {
        SECURED: { target: 'authenticating', actions: [{ type: 'secured', params: ({ event }) => event }, 'logAuthenticating'] },
        FAILED: { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => event } },
      },
    },
    authenticating: {
      // Each message of the handshake has its own deadline, as in the Rust client.
      after: { handshakeTimeout: { target: 'failed', actions: { type: 'recordFailure', params: () => handshakeTimeoutError() } } },
      on: {
        'CHALLENGE.ANSWERED': { target: 'authenticating', reenter: true },
        OPENED: { target: 'listening', actions: [{ type: 'opened', params: ({ event }) => event }, 'logListening'] },
        FAILED: { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => event } },
      },
    },
    listening: {
      type: 'parallel',
      after: { stableAfter: { actions: assign({ failures: 0 }) } },
      on: {
        'CONTROL.LOST': { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => event } },
      },
      states: {
        heartbeat: {
          initial: 'alive',
          states: {
            // A child state so that re-entering it restarts only the heartbeat deadline, not `stableAfter`.
            alive: {
              after: {
                heartbeatTimeout: {
                  target: '#bore.failed',
                  actions: { type: 'recordFailure', params: { code: 'heartbeat-timeout', message: 'heartbeat timeout' } },
                },
              },
              on: {
                'SERVER.HEARTBEAT': { target: 'alive', reenter: true },
                'SERVER.ERROR': { target: 'alive', reenter: true },
                'SERVER.POOL': { target: 'alive', reenter: true },
                'SERVER.CONNECTION': {
                  target: 'alive',
                  reenter: true,
                  actions: { type: 'forwardConnection', params: ({ event }) => event },
                },
              },
            },
          },
        },
        pool: {
          initial: 'asking',
          states: {
            asking: {
              always: { guard: 'poolOff', target: 'off' },
              after: { poolOfferTimeout: { target: 'standard', actions: 'logNoPool' } },
              on: { 'SERVER.POOL': { target: 'open', actions: { type: 'openPool', params: ({ event }) => event } } },
            },
            // No offer in time (a Rust server never makes one): every connection takes the standard path.
            standard: {
              on: { 'SERVER.POOL': { target: 'open', actions: { type: 'openPool', params: ({ event }) => event } } },
            },
            open: { exit: 'closePool' },
            off: {},
          },
        },
      },
    },
    // Every failure comes through here, recorded: one decision, from the context alone.
    failed: {
      entry: 'closeSession',
      always: [{ guard: 'mustGiveUp', target: 'fatal' }, { target: 'backoff' }],
    },
    backoff: {
      entry: ['scheduleRetry', 'logBackoff'],
      after: { retryDelay: 'connecting' },
      on: { RETRY_NOW: 'connecting' },
    },
    fatal: {
      type: 'final',
      entry: 'logFatal',
      output: 'fatal',
    },
    stopped: {
      type: 'final',
      entry: ['closeSession', 'logStopped'],
      output: 'stopped',
    },
  },
});

function isStickyRequest(context: ClientContext): boolean {
  return context.settings.port === 0 && context.requestedPort !== 0;
}

/** A refusal of the old port we asked for on our own: fall back to any port, never fatal. */
function stickyPortRefusal(context: ClientContext, code: ErrorCode): boolean {
  if (!isStickyRequest(context)) return false;
  if (code === 'port-in-use') return context.stickyRefusals + 1 >= STICKY_PORT_TRIES;
  return code === 'port-not-allowed' || code === 'permission-denied' || code === 'bind-failed';
}

/** A tunnel's public connections open now and its warm pool's counts (all zero without one). */
export type LiveCounts = {
  activeConnections: number;
  pool: PoolStats;
};

/**
 * What changes per connection, read from the tunnel's runtime when a view asks (the
 * inspector's `/snapshot`, its page): the public connections open now and the warm pool's
 * counts. They never pass through the machine (no event per connection); the inspector
 * serves them beside the context, as values derived from it.
 */
export function clientLiveCounts(context: ClientContext): LiveCounts {
  return { activeConnections: context.runtime.connections.size, pool: context.runtime.poolStats };
}
