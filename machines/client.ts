/**
 * The client's connection manager: an XState v5 machine that owns the control
 * connection's lifetime, every deadline, the retry schedule and the server it uses
 * (with several, `failover.ts` picks the next after failures; `--prefer-first` returns).
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
import { assign, cancel, raise, sendTo, setup, spawnChild, stopChild } from 'xstate';
import {
  type ClientRuntime,
  HEARTBEAT_COALESCE_MS,
  type SessionEvent,
  heartbeatIntervalFor,
  proxiesActor,
  sessionActor,
} from '../src/client/actors.js';
import { type ProbeEvent, probeActor } from '../src/client/probe.js';
import { backoffDelay } from '../src/client/backoff.js';
import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS, connectTimeoutError, tlsTimeoutError } from '../src/client/connect.js';
import { ERROR_CLASSES, type ErrorCode, handshakeTimeoutError } from '../src/client/errors.js';
import type { TunnelTls } from '../src/client/tls.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import { type ClientOutput, type LastError, viewOf } from './client-view.js';
import * as failover from './failover.js';
import { transitionLog } from './transition-log.js';
import { type ClientMachineInput, STICKY_PORT_TRIES, type TunnelSettings, isStickyRequest, stickyPortRefusal } from './client-settings.js';

export {
  type ClientOutput,
  type LastError,
  type LiveCounts,
  type TopState,
  type TunnelView,
  clientLiveCounts,
  sameTunnelView,
  tunnelView,
} from './client-view.js';
export { type ClientMachineInput, STICKY_PORT_TRIES, type TunnelSettings } from './client-settings.js';

/** What the machine knows; everything but `runtime` is plain data. */
export interface ClientContext {
  settings: TunnelSettings;
  runtime: ClientRuntime;
  /** Number of the current attempt to open the tunnel (1 for the first). */
  attempt: number;
  /** Failed rounds of the server list (with one server, failures) since the tunnel was last stable: drives the backoff. */
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
  /** Index of the current server in the list; what the tunnel knows of each; the failover's counts (`failover.ts`). */
  server: number;
  servers: readonly failover.ServerState[];
  serverFailures: number;
  roundFailed: readonly number[];
  /** The last move between servers and why. */
  moved: failover.ServerMove | undefined;
}

/**
 * Every event the machine accepts. `RETRY_NOW` (the inspector's "reconnect now") ends a
 * backoff's wait at once; anywhere else it changes nothing.
 */
export type ClientEvent = SessionEvent | ProbeEvent | { type: 'STOP' } | { type: 'RETRY_NOW' };

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
    probe: probeActor,
  },
  delays: {
    connectTimeout: CONNECT_TIMEOUT_MS,
    tlsHandshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    handshakeTimeout: NETWORK_TIMEOUT_MS,
    heartbeatTimeout: ({ context }) => context.settings.heartbeatTimeoutMs + HEARTBEAT_COALESCE_MS,
    poolOfferTimeout: NETWORK_TIMEOUT_MS,
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
    stableAfter: ({ context }) => context.settings.stableAfterMs,
  },
  guards: {
    poolOff: ({ context }) => context.settings.pool === 0,
    /** The tunnel's connections to the server are TLS (`--tls`): the session secures the connection next. */
    tlsOn: ({ context }) => context.runtime.tlsFor(context.server) !== undefined,
    /** Give up: every server refused, a first round failed without `--retry-first`, or a loss with `--no-reconnect`. */
    mustGiveUp: ({ context }) => {
      if (refusedHere(context) && failover.othersRefused(context)) return true;
      if (!context.everListened) return !context.settings.retryFirst && failover.endsRound(context);
      return !context.settings.reconnect;
    },
    /** `--prefer-first`, listening on another server than the first. */
    awayFromFirst: ({ context }) => awayFromFirst(context),
  },
  actions: {
    openSession: spawnChild('session', {
      id: 'session',
      input: ({ context }) => ({
        ...failover.currentServer(context),
        server: context.server,
        requestedPort: context.requestedPort,
        poolSize: context.settings.pool,
        heartbeatIntervalMs: heartbeatIntervalFor(context.settings.heartbeatTimeoutMs),
        runtime: context.runtime,
      }),
    }),
    /** Stopping the session actor closes the control connection (deferred: a pure transition closes nothing). */
    closeSession: stopChild('session'),
    recordFailure: assign((_, failure: Failure) => ({
      lastError: { code: failure.code, class: ERROR_CLASSES[failure.code], message: failure.message },
    })),
    /** The delay of the current round (it grows once a whole round has failed) and the next server (`failover.ts`). */
    scheduleRetry: assign(({ context }) => {
      const error = context.lastError!;
      const dropped = stickyPortRefusal(context, error.code);
      const next = failover.afterFailure(
        { ...context, servers: dropped ? failover.dropPort(context.servers, context.server) : context.servers },
        error,
        refusedHere(context),
      );
      const round = context.failures + 1;
      const retryDelayMs = backoffDelay(round, context.settings.maxReconnectDelayMs, context.runtime.random);
      const moved = next.server !== context.server;
      return {
        ...next,
        failures: next.roundOver ? round : context.failures,
        retryDelayMs,
        nextRetryAt: context.runtime.now() + retryDelayMs,
        stickyRefusals: moved ? 0 : context.stickyRefusals + (isStickyRequest(context) && error.code === 'port-in-use' ? 1 : 0),
        publicPort: moved ? next.servers[next.server]!.port : dropped ? undefined : context.publicPort,
      };
    }),
    /** Giving up with several servers: the message names each server's failure. */
    sayEveryServer: assign(({ context }) => failover.everyServerError(context)),
    /** `--prefer-first` away from the first server: probe the first (`src/client/probe.ts`; idle otherwise). */
    startProbe: spawnChild('probe', {
      id: 'probe',
      input: ({ context }) => ({ server: failover.firstServer(context), runtime: context.runtime, active: awayFromFirst(context) }),
    }),
    stopProbe: stopChild('probe'),
    /** `--prefer-first`: back to the first server, asking for the port it gave before. */
    returnToFirst: assign(({ context }) => ({ ...failover.returnToFirst(context), stickyRefusals: 0 })),
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
      ...failover.listenedOn(context, port),
      publicPort: port,
      lastError: undefined,
      stickyRefusals: 0,
      reconnects: context.everListened ? context.reconnects + 1 : context.reconnects,
      everListened: true,
    })),
    secured: assign((_, { tls }: { tls: TunnelTls }) => ({ tls })),
    /** Never more connections than asked for, whatever the server offers. */
    openPool: sendTo('proxies', ({ context }, { token, size }: { token: string; size: number }) => ({
      type: 'POOL.OPEN' as const,
      token,
      size: Math.min(size, context.settings.pool),
    })),
    closePool: sendTo('proxies', { type: 'POOL.CLOSE' as const }),
    // The log lines of the transitions, where they happen: the runtime's log, if any.
    /** Entering `connecting` (the attempt counted). */
    logConnecting: ({ context }) => transitionLog(context)?.connecting(context),
    /** Connected, with TLS: its handshake starts. */
    logSecuring: ({ context }) => transitionLog(context)?.securing(context),
    /** Connected (and secured, with TLS): the bore handshake starts. */
    logAuthenticating: ({ context }) => transitionLog(context)?.authenticating(context),
    /** The server opened the tunnel (the port recorded). */
    logListening: ({ context }) => transitionLog(context)?.listening(context),
    /** No pool offer in time: new connections take the standard path. */
    logNoPool: ({ context }) => transitionLog(context)?.noPool(),
    /** Entering `backoff` (the retry scheduled). */
    logBackoff: ({ context }) => transitionLog(context)?.backoff(context),
    /** Giving up (`fatal`). */
    logFatal: ({ context }) => transitionLog(context)?.fatal(context),
    /** Stopped by `STOP`. */
    logStopped: ({ context }) => transitionLog(context)?.stopped(),
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
    server: 0,
    servers: failover.initialServers(input.settings),
    serverFailures: 0,
    roundFailed: [],
    moved: undefined,
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
            params: ({ context }) => connectTimeoutError(...failover.hostPort(context), CONNECT_TIMEOUT_MS),
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
            params: ({ context }) => tlsTimeoutError(...failover.hostPort(context), TLS_HANDSHAKE_TIMEOUT_MS),
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
      // `--prefer-first` away from the first server: the probe's answers start (or cancel) the wait for a return.
      entry: 'startProbe',
      exit: ['stopProbe', cancel('steady')],
      after: { stableAfter: { actions: assign({ failures: 0 }) } },
      on: {
        'CONTROL.LOST': { target: 'failed', actions: { type: 'recordFailure', params: ({ event }) => event } },
        'PROBE.ANSWERED': { actions: raise({ type: 'PROBE.STEADY' }, { id: 'steady', delay: 'stableAfter' }) },
        'PROBE.SILENT': { actions: cancel('steady') },
        'PROBE.STEADY': { guard: 'awayFromFirst', target: 'returning' },
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
      always: [{ guard: 'mustGiveUp', target: 'fatal', actions: 'sayEveryServer' }, { target: 'backoff' }],
    },
    // `--prefer-first`: leaving the server that works for the first one, which answered for a while.
    returning: {
      entry: ['closeSession', 'returnToFirst'],
      always: 'connecting',
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

function awayFromFirst(context: ClientContext): boolean {
  return context.settings.preferFirst === true && context.server !== 0;
}

/** The last failure is a refusal by the current server for good (a fatal answer, not a refusal of the old port). */
function refusedHere(context: ClientContext): boolean {
  const failure = context.lastError;
  return failure?.class === 'fatal' && !stickyPortRefusal(context, failure.code);
}
