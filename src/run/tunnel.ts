/**
 * Starting a tunnel from options: the client machine as a running actor, with its
 * transitions logged and a clean stop. The CLI's `bore local` is a thin layer over
 * {@link startTunnel}.
 */
import { type Actor, type SnapshotFrom, createActor } from 'xstate';
import {
  clientLiveCounts,
  type LiveCounts,
  type ClientOutput,
  type TopState,
  type TunnelSettings,
  type TunnelView,
  clientMachine,
  sameTunnelView,
  tunnelView,
} from '../../machines/client.js';
import { clientCredentials } from '../client/credentials.js';
import { type TunnelTls, clientTlsOf, serverTlsOf } from '../client/tls.js';
import { serversOf } from '../client/servers.js';
import { TunnelError } from '../client/errors.js';
import { silentLogger } from '../log/logger.js';
import { rateLimited } from '../log/rate-limit.js';
import { EXIT, TUNNEL_DEFAULTS } from '../client/defaults.js';
import { TunnelRuntime } from './tunnel-log.js';
import { limitPools } from './pool-bound.js';
import { type Rules, checkOptions } from '../options/rules.js';
import { type OptionsOf, rulesOf } from '../options/table.js';
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';

/** Default control port of bore servers (the protocol's `CONTROL_PORT`). */
export { CONTROL_PORT as DEFAULT_CONTROL_PORT } from '../protocol/constants.js';

/** Options of {@link startTunnel}; names and defaults are those of `bore local` (declared in `client/tunnel-options.ts`). */
export type TunnelOptions = OptionsOf<typeof TUNNEL_OPTIONS>;

/** The rules of {@link TunnelOptions}, checked by {@link startTunnel} (see `options/rules.ts`). */
export const TUNNEL_RULES: Rules<TunnelOptions> = rulesOf(TUNNEL_OPTIONS);

/** A state of the tunnel as {@link Tunnel.onChange} reports it. */
export type TunnelState = TopState;

/** What a user sees of a tunnel; {@link Tunnel.onChange} reports each change of it. */
export type TunnelChange = TunnelView;

/** A running tunnel. */
export interface Tunnel {
  /** The machine's actor: subscribe to snapshots, read its context. */
  readonly actor: Actor<typeof clientMachine>;
  /**
   * Resolves with the public port once the tunnel is first listening; rejects if it never
   * is: with the {@link TunnelError} that ended it (its `code` and `class`), with the
   * `signal`'s reason if the signal stopped it, else with an `Error('tunnel stopped')`.
   */
  readonly ready: Promise<number>;
  /** Resolves when the machine has stopped (by `stop()` or a fatal error). */
  readonly done: Promise<TunnelResult>;
  /** The public port, once known. */
  readonly publicPort: number | undefined;
  /** With TLS, the control connection's protocol, cipher and server certificate, once secured (as in {@link TunnelChange}). */
  readonly tls: TunnelTls | undefined;
  /**
   * The public connections open now and the warm pool's counts, read at the call: they
   * change per connection, so they are no part of the machine's context or its changes.
   */
  counts(): LiveCounts;
  /**
   * Calls `listener` with the current {@link TunnelChange} at once, then once per change
   * of it (not on heartbeats, which re-enter the machine's state but change nothing a
   * user sees), up to the final `stopped` or `fatal`. Returns a function that
   * unsubscribes. An error thrown by the listener is rethrown asynchronously.
   */
  onChange(listener: (change: TunnelChange) => void): () => void;
  /**
   * The same changes as an async iterator: the current one first, then each change;
   * it ends after the final `stopped` or `fatal`. Subscribes at the call, so no change
   * is missed before the first `next()`; leaving a `for await` loop unsubscribes.
   */
  changes(): AsyncIterableIterator<TunnelChange>;
  /** Stops the tunnel: closes the control connection, drains in-flight connections. */
  stop(): Promise<TunnelResult>;
  /** `await using tunnel = startTunnel(...)`: stops it (as {@link Tunnel.stop}) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** How a tunnel ended. */
export interface TunnelResult {
  /** `stopped` by the user, or `fatal`: gave up after an error. */
  state: 'stopped' | 'fatal';
  /** The error that ended it, for `fatal`: a {@link TunnelError} (`code`, `class`, `message`). */
  error?: TunnelError;
  /** Process exit code the CLI uses: 0 stopped, 3 fatal error, 4 lost or unreachable without retry. */
  exitCode: number;
}

/** Exit codes of `bore local` (defined in `client/defaults.ts`). */
export { EXIT };

/** Resolves tunnel options to the machine's settings, applying the CLI's defaults. */
export function tunnelSettings(options: TunnelOptions): TunnelSettings {
  const servers = serversOf(options.to, options.controlPort ?? TUNNEL_DEFAULTS.controlPort);
  // One server: the settings of old (`to` as given, no list).
  const several = servers.length > 1 ? { servers, preferFirst: options.preferFirst ?? TUNNEL_DEFAULTS.preferFirst } : {};
  return {
    to: servers[0]!.host,
    controlPort: servers[0]!.port,
    localHost: options.localHost ?? TUNNEL_DEFAULTS.localHost,
    localPort: options.localPort,
    port: options.port ?? TUNNEL_DEFAULTS.port,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? TUNNEL_DEFAULTS.heartbeatTimeoutMs,
    maxReconnectDelayMs: options.maxReconnectDelayMs ?? TUNNEL_DEFAULTS.maxReconnectDelayMs,
    reconnect: options.reconnect ?? TUNNEL_DEFAULTS.reconnect,
    retryFirst: options.retryFirst ?? TUNNEL_DEFAULTS.retryFirst,
    stableAfterMs: options.stableAfterMs ?? TUNNEL_DEFAULTS.stableAfterMs,
    pool: options.pool ?? TUNNEL_DEFAULTS.pool,
    ...several,
  };
}

/**
 * Starts a tunnel actor and logs its transitions. Throws a `TypeError` or `RangeError`
 * (naming the option and its value) if an option is invalid.
 */
export function startTunnel(options: TunnelOptions): Tunnel {
  checkOptions(TUNNEL_RULES, options, 'startTunnel', ['localPort', 'to']);
  const logger = rateLimited(options.logger ?? silentLogger, options.logRateLimit);
  const settings = tunnelSettings({ ...options, pool: limitPools({ tunnel: options.pool ?? TUNNEL_DEFAULTS.pool }, logger).tunnel });
  const runtime = new TunnelRuntime(logger, clientCredentials(options, logger), options.drainTimeoutMs ?? TUNNEL_DEFAULTS.drainTimeoutMs);
  runtime.tls = clientTlsOf(options);
  runtime.mux = options.mux ?? TUNNEL_DEFAULTS.mux;
  runtime.muxFirst = options.muxFirst ?? TUNNEL_DEFAULTS.muxFirst;
  runtime.serverTls = serverTlsOf(options.to);
  const actor = createActor(clientMachine, { input: { settings, runtime }, inspect: options.inspect });
  const tunnel = trackTunnel(actor, runtime, options.signal);
  actor.start();
  stopOnAbort(options.signal, () => tunnel.stop(), tunnel.done);
  return tunnel;
}

/** Calls `stop` when `signal` aborts (at once if it already has), until `done`. */
export function stopOnAbort(signal: AbortSignal | undefined, stop: () => unknown, done: Promise<unknown>): void {
  if (signal?.aborted) void stop();
  else if (signal) {
    const onAbort = () => void stop();
    signal.addEventListener('abort', onAbort, { once: true });
    // Only until the tunnel ends: a long-lived signal must not keep it.
    void done.then(() => signal.removeEventListener('abort', onAbort));
  }
}

/**
 * The {@link Tunnel} of a client machine's actor, started or not (`startTunnel`'s, or a
 * supervisor's child), whose log actions `runtime`'s log implements
 * (`machines/transition-log.ts`): reports its changes, and once it is done drains
 * `runtime`'s connections (for its drain time after a stop) before `done` resolves.
 */
export function trackTunnel(actor: Actor<typeof clientMachine>, runtime: TunnelRuntime, signal?: AbortSignal): Tunnel {
  let resolveReady!: (port: number) => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<number>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});
  let resolveDone!: (r: TunnelResult) => void;
  const done = new Promise<TunnelResult>((res) => (resolveDone = res));

  // What a user sees, and who is told of its changes (until the final one).
  const stream = changeStream(tunnelView(actor.getSnapshot()), sameTunnelView);
  let ended = false;
  const onSnapshot = (snapshot: SnapshotFrom<typeof clientMachine>) => {
    const change = tunnelView(snapshot);
    stream.update(change, snapshot.status === 'done');
    if (change.state === 'listening') resolveReady(snapshot.context.publicPort!);
    if (snapshot.status === 'done' && snapshot.output && !ended) {
      ended = true;
      const result = tunnelResult(snapshot.output, runtime);
      rejectReady(result.error ?? stoppedError(signal));
      void runtime.drain(result.state === 'stopped' ? runtime.drainMs : 0).then(() => {
        runtime.log.logger.flush();
        resolveDone(result);
      });
    }
  };
  actor.subscribe(onSnapshot);
  // The current snapshot first: an actor not yet started emits the same one again at its
  // start (told once), and a supervisor's child may already be past it.
  onSnapshot(actor.getSnapshot());

  const stop = () => {
    actor.send({ type: 'STOP' });
    return done;
  };
  const onChange = (listener: (change: TunnelChange) => void) => stream.onChange(listener);
  return {
    actor,
    ready,
    done,
    get publicPort() {
      return actor.getSnapshot().context.publicPort;
    },
    get tls() {
      return actor.getSnapshot().context.tls;
    },
    counts: () => clientLiveCounts(actor.getSnapshot().context),
    onChange,
    changes: () => changes(onChange, isFinalChange),
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
  };
}

/** Why a stopped tunnel never became ready: `signal`'s reason if it aborted (an `AbortError` unless one was given), as Node's own APIs reject. */
export function stoppedError(signal: AbortSignal | undefined, what = 'tunnel'): unknown {
  return signal?.aborted ? signal.reason : new Error(`${what} stopped`);
}

/** How a tunnel ended, from its machine's output. */
function tunnelResult(output: ClientOutput, runtime: TunnelRuntime): TunnelResult {
  if (output.state === 'stopped') return { state: 'stopped', exitCode: EXIT.stopped };
  const last = output.lastError;
  // The session's own error when it is the one that ended the tunnel: it carries the socket error as its cause.
  const thrown = runtime.lastFailure;
  const error = last && (thrown?.code === last.code && thrown.message === last.message ? thrown : new TunnelError(last.code, last.message));
  return { state: 'fatal', error, exitCode: last?.class === 'fatal' ? EXIT.fatal : EXIT.gaveUp };
}

function isFinalChange(change: TunnelChange): boolean {
  return change.state === 'stopped' || change.state === 'fatal';
}

/**
 * A value that changes, and who is told of its changes: `onChange` tells a listener the
 * current value at once, then each change that `same` does not call equal, up to the
 * final one (`update(value, true)`). An error thrown by a listener is rethrown
 * asynchronously. Shared by a tunnel and a set of tunnels.
 */
export function changeStream<T>(initial: T, same: (a: T, b: T) => boolean) {
  let current = initial;
  let over = false;
  const listeners = new Set<(value: T) => void>();
  const tell = (listener: (value: T) => void, value: T) => {
    try {
      listener(value);
    } catch (err) {
      setImmediate(() => {
        throw err;
      });
    }
  };
  return {
    get current() {
      return current;
    },
    /** Records `value`, telling the listeners if it changed; `final` ends the stream. */
    update(value: T, final = false) {
      if (over) return;
      if (!same(value, current)) {
        current = value;
        for (const listener of [...listeners]) listener(value);
      }
      if (final) {
        over = true;
        listeners.clear();
      }
    },
    onChange(listener: (value: T) => void): () => void {
      tell(listener, current);
      if (over) return () => {};
      // A wrapper of its own, so the same function subscribed twice is told twice and unsubscribes once.
      const entry = (value: T) => tell(listener, value);
      listeners.add(entry);
      return () => void listeners.delete(entry);
    },
  };
}

/** {@link Tunnel.changes} over {@link Tunnel.onChange}: subscribed now, iterated later, ended after `isFinal`. */
export function changes<T>(
  onChange: (listener: (value: T) => void) => () => void,
  isFinal: (value: T) => boolean,
): AsyncIterableIterator<T> {
  const queue: T[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = onChange((change) => {
    queue.push(change);
    wake?.();
  });
  async function* iterate(): AsyncGenerator<T, void, undefined> {
    try {
      for (;;) {
        if (queue.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const change = queue.shift()!;
        yield change;
        if (isFinal(change)) return;
      }
    } finally {
      unsubscribe();
    }
  }
  return iterate();
}
