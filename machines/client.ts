/**
 * The client's connection manager: an XState v5 machine that owns the control
 * connection, the heartbeat deadline and the retry schedule.
 *
 *   connecting → authenticating → listening ⇄ backoff → connecting ...
 *   any failure that must not be retried → fatal;   STOP from anywhere → stopped
 *
 * Side effects are the named actors of `src/client/actors.ts`; tests swap them with
 * `machine.provide({ actors })`. All timers (heartbeat deadline, backoff delay, the
 * stable-uptime reset) are XState delays, so a `SimulatedClock` drives them.
 */
import { assign, sendTo, setup } from 'xstate';
import {
  type ClientRuntime,
  type ControlConnection,
  type ControlEvent,
  type ProxyEvent,
  type ProxyRequest,
  connectActor,
  controlActor,
  handshakeActor,
  proxiesActor,
} from '../src/client/actors.js';
import { backoffDelay } from '../src/client/backoff.js';
import { ERROR_CLASSES, type ErrorClass, type ErrorCode, classify } from '../src/client/errors.js';

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
}

/** Input of {@link clientMachine}. */
export interface ClientMachineInput {
  settings: TunnelSettings;
  runtime: ClientRuntime;
}

/** The last failure, as shown to a person. */
export interface LastError {
  code: ErrorCode;
  class: ErrorClass;
  message: string;
}

/** Times the old public port is asked for again before the client takes any port. */
export const STICKY_PORT_TRIES = 3;

/** What the machine knows; everything but `control` and `runtime` is plain data. */
export interface ClientContext {
  settings: TunnelSettings;
  runtime: ClientRuntime;
  /** The open control connection, while there is one. */
  control: ControlConnection | undefined;
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
  /** Proxied public connections now open. */
  activeConnections: number;
  /** Whether the tunnel has ever been listening. */
  everListened: boolean;
  /** Times the tunnel came back after a loss. */
  reconnects: number;
}

/** Every event the machine accepts. */
export type ClientEvent = ControlEvent | ProxyEvent | { type: 'STOP' };

function failureOf(event: { type: string; error?: unknown; code?: ErrorCode; message?: string }): LastError {
  if (event.type === 'CONTROL.LOST') {
    return { code: event.code!, class: ERROR_CLASSES[event.code!], message: event.message! };
  }
  if (event.type.startsWith('xstate.after.')) {
    return { code: 'heartbeat-timeout', class: 'retriable', message: 'heartbeat timeout' };
  }
  const err = classify(event.error);
  return { code: err.code, class: err.class, message: err.message };
}

/** The tunnel client's connection manager. */
export const clientMachine = setup({
  types: {
    context: {} as ClientContext,
    events: {} as ClientEvent,
    input: {} as ClientMachineInput,
  },
  actors: {
    connect: connectActor,
    handshake: handshakeActor,
    control: controlActor,
    proxies: proxiesActor,
  },
  delays: {
    heartbeatTimeout: ({ context }) => context.settings.heartbeatTimeoutMs,
    retryDelay: ({ context }) => context.retryDelayMs ?? 0,
    stableAfter: ({ context }) => context.settings.stableAfterMs,
  },
  guards: {
    /** Give up: a fatal error, a first attempt without `--retry-first`, or a loss with `--no-reconnect`. */
    mustGiveUp: ({ context, event }) => {
      const failure = failureOf(event as never);
      if (failure.class === 'fatal' && !stickyPortRefusal(context, failure.code)) return true;
      if (!context.everListened) return !context.settings.retryFirst;
      return !context.settings.reconnect;
    },
  },
  actions: {
    closeControl: assign({
      control: ({ context }) => {
        context.control?.close();
        return undefined;
      },
    }),
    recordFailure: assign(({ context, event }) => {
      const failure = failureOf(event as never);
      const failures = context.failures + 1;
      const retryDelayMs = backoffDelay(failures, context.settings.maxReconnectDelayMs, context.runtime.random);
      return {
        lastError: failure,
        failures,
        retryDelayMs,
        nextRetryAt: context.runtime.now() + retryDelayMs,
        stickyRefusals: context.stickyRefusals + (isStickyRequest(context) && failure.code === 'port-in-use' ? 1 : 0),
        publicPort: stickyPortRefusal(context, failure.code) ? undefined : context.publicPort,
      };
    }),
    recordFatal: assign(({ event }) => ({ lastError: failureOf(event as never), nextRetryAt: undefined })),
    startAttempt: assign(({ context }) => {
      const sticky = context.settings.port === 0 && context.publicPort !== undefined && context.stickyRefusals < STICKY_PORT_TRIES;
      return {
        attempt: context.attempt + 1,
        retryDelayMs: undefined,
        nextRetryAt: undefined,
        requestedPort: context.settings.port || (sticky ? context.publicPort! : 0),
      };
    }),
    forwardConnection: sendTo('proxies', ({ event }) => event as ProxyRequest),
    connectionOpened: assign({ activeConnections: ({ context }) => context.activeConnections + 1 }),
    /** A connection that never opened (it carries an error) was never counted. */
    connectionClosed: assign({
      activeConnections: ({ context, event }) =>
        event.type === 'PROXY.CLOSED' && event.error ? context.activeConnections : Math.max(0, context.activeConnections - 1),
    }),
  },
}).createMachine({
  id: 'bore',
  context: ({ input }) => ({
    settings: input.settings,
    runtime: input.runtime,
    control: undefined,
    attempt: 0,
    failures: 0,
    lastError: undefined,
    publicPort: undefined,
    requestedPort: input.settings.port,
    stickyRefusals: 0,
    retryDelayMs: undefined,
    nextRetryAt: undefined,
    activeConnections: 0,
    everListened: false,
    reconnects: 0,
  }),
  initial: 'connecting',
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
    'PROXY.OPENED': { actions: 'connectionOpened' },
    'PROXY.CLOSED': { actions: 'connectionClosed' },
  },
  states: {
    connecting: {
      entry: ['closeControl', 'startAttempt'],
      invoke: {
        id: 'connect',
        src: 'connect',
        input: ({ context }) => ({ host: context.settings.to, port: context.settings.controlPort, runtime: context.runtime }),
        onDone: { target: 'authenticating', actions: assign({ control: ({ event }) => event.output }) },
        onError: [
          { guard: 'mustGiveUp', target: 'fatal', actions: 'recordFatal' },
          { target: 'backoff', actions: 'recordFailure' },
        ],
      },
    },
    authenticating: {
      invoke: {
        id: 'handshake',
        src: 'handshake',
        input: ({ context }) => ({ control: context.control!, port: context.requestedPort, runtime: context.runtime }),
        onDone: {
          target: 'listening',
          actions: assign(({ context, event }) => ({
            publicPort: event.output,
            lastError: undefined,
            stickyRefusals: 0,
            reconnects: context.everListened ? context.reconnects + 1 : context.reconnects,
            everListened: true,
          })),
        },
        onError: [
          { guard: 'mustGiveUp', target: 'fatal', actions: 'recordFatal' },
          { target: 'backoff', actions: 'recordFailure' },
        ],
      },
    },
    listening: {
      invoke: { id: 'control', src: 'control', input: ({ context }) => ({ control: context.control! }) },
      after: { stableAfter: { actions: assign({ failures: 0 }) } },
      on: {
        'CONTROL.LOST': [
          { guard: 'mustGiveUp', target: 'fatal', actions: 'recordFatal' },
          { target: 'backoff', actions: 'recordFailure' },
        ],
      },
      initial: 'alive',
      states: {
        alive: {
          after: {
            heartbeatTimeout: [
              { guard: 'mustGiveUp', target: '#bore.fatal', actions: 'recordFatal' },
              { target: '#bore.backoff', actions: 'recordFailure' },
            ],
          },
          on: {
            'SERVER.HEARTBEAT': { target: 'alive', reenter: true },
            'SERVER.ERROR': { target: 'alive', reenter: true },
            'SERVER.CONNECTION': { target: 'alive', reenter: true, actions: 'forwardConnection' },
          },
        },
      },
    },
    backoff: {
      entry: 'closeControl',
      after: { retryDelay: 'connecting' },
    },
    fatal: {
      type: 'final',
      entry: 'closeControl',
    },
    stopped: {
      type: 'final',
      entry: 'closeControl',
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
