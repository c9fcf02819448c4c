/**
 * Several tunnels in one process: {@link startTunnels} runs the supervisor machine
 * (`machines/supervisor.ts`), which spawns one client machine per named tunnel, and
 * hands back a {@link Tunnel} per tunnel (the handle of `startTunnel`, from the same
 * code) plus the same kind of handle for the whole set, with `reload`. `bore local` with
 * several mappings and `bore up` are thin layers over it.
 */
import { nodeCrypto } from '../protocol/on-demand.js';
import { type Actor, type InspectionEvent, type Observer, type SnapshotFrom, createActor } from 'xstate';
import type { clientMachine } from '../../machines/client.js';
import { type ReloadDiff, type TunnelSpec, reloadDiff, supervisorAggregate, supervisorMachine } from '../../machines/supervisor.js';
import { clientCredentials } from '../client/credentials.js';
import { clientTlsOf, serverTlsOf } from '../client/tls.js';
import { TunnelError } from '../client/errors.js';
import { TUNNEL_DEFAULTS } from '../client/defaults.js';
import { type Logger, silentLogger, withFields } from '../log/logger.js';
import { type RateLimitOptions, rateLimited } from '../log/rate-limit.js';
import { type Rule, type Rules, checkOptions, nested } from '../options/rules.js';
import { limitPools } from './pool-bound.js';
import { type TunnelsChange, type TunnelsState, changeOf, logAggregate, sameChange } from './tunnels-change.js';
import { TunnelRuntime } from './tunnel-log.js';
import {
  EXIT,
  type Tunnel,
  type TunnelOptions,
  type TunnelResult,
  TUNNEL_RULES,
  changeStream,
  changes,
  stopOnAbort,
  stoppedError,
  trackTunnel,
  tunnelSettings,
} from './tunnel.js';

/** What one tunnel of a set is given: {@link TunnelOptions} less what the whole process shares. */
export type TunnelSpecOptions = Omit<TunnelOptions, 'logger' | 'logRateLimit' | 'inspect' | 'signal'>;

/**
 * Options of {@link startTunnels}: the tunnels by name, each with its own options; an
 * option given at the top level applies to every tunnel that does not set it (e.g.
 * `to` and `secret` once for all).
 */
export interface TunnelsOptions extends Partial<TunnelSpecOptions> {
  /** The tunnels by name (at least one); the name is on every log line of its tunnel. */
  tunnels: Record<string, Partial<TunnelSpecOptions>>;
  /** Where to log (default: nowhere); each tunnel's lines carry `tunnel: <name>`. */
  logger?: Logger;
  /** The rate limit on repeated warnings, per tunnel and across tunnels (the same message from many tunnels). */
  logRateLimit?: RateLimitOptions;
  /** XState inspection hook on the supervisor and its children. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void);
  /** Aborting it stops every tunnel as `stop()` does. */
  signal?: AbortSignal;
}

/** What {@link Tunnels.reload} takes: the new set, with or without the process-wide options (which stay as they were). */
export type TunnelsReload = Omit<TunnelsOptions, 'logger' | 'logRateLimit' | 'inspect' | 'signal'>;

export type { TunnelsChange, TunnelsState } from './tunnels-change.js';

/** How a set of tunnels ended. */
export interface TunnelsResult {
  /** `stopped` by the user, or `gone`: every tunnel ended on its own. */
  state: 'stopped' | 'gone';
  /** How each tunnel of the last set ended. */
  tunnels: Record<string, TunnelResult>;
  /** The exit code (see {@link tunnelsExitCode}). */
  exitCode: number;
}

/** A running set of tunnels. */
export interface Tunnels {
  /** The supervisor's actor; its children are the tunnels' client machines, by name. */
  readonly actor: Actor<typeof supervisorMachine>;
  /** The handle of each running tunnel by name (a restarted one gets a new handle). */
  readonly tunnels: ReadonlyMap<string, Tunnel>;
  /**
   * Resolves with the public port of each tunnel once all are listening; rejects if one
   * fails first (with a {@link TunnelError} naming the tunnel), or with the `signal`'s
   * reason if the signal stopped them.
   */
  readonly ready: Promise<Record<string, number>>;
  /** Resolves when the set has ended (stopped, or every tunnel gone) and every connection drained. */
  readonly done: Promise<TunnelsResult>;
  /** The public port of each tunnel, once known. */
  readonly publicPorts: Record<string, number | undefined>;
  /** As {@link Tunnel.onChange}, for the whole set. */
  onChange(listener: (change: TunnelsChange) => void): () => void;
  /** As {@link Tunnel.changes}, for the whole set; ends after `stopped` or `gone`. */
  changes(): AsyncIterableIterator<TunnelsChange>;
  /** Stops every tunnel and drains their connections. */
  stop(): Promise<TunnelsResult>;
  /** `await using tunnels = startTunnels(...)`: stops them (as {@link Tunnels.stop}) at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
  /**
   * Replaces the set: added tunnels start, removed ones stop (their connections drain),
   * changed ones (any option) restart, unchanged ones keep their connections and ports;
   * tunnels that had gone fatal restart. Throws, changing nothing, if the options are
   * invalid. Returns what it did, by name. After a reload, a set whose every tunnel has
   * given up does not end: it is `waiting` for the next reload (or `stop()`).
   */
  reload(options: TunnelsReload): ReloadDiff;
}

/**
 * The exit code of a set of tunnels that ended: 0 when stopped (by `stop()`, SIGINT or
 * SIGTERM); once every tunnel is gone, 4 if any gave up on an error a restart may cure
 * (lost or unreachable without retry), else 3 if any failed with a fatal error
 * (restarting will not help), else 0 (each was stopped through its own handle).
 */
export function tunnelsExitCode(state: 'stopped' | 'gone', results: readonly TunnelResult[]): number {
  if (state === 'stopped') return EXIT.stopped;
  if (results.some((r) => r.exitCode === EXIT.gaveUp)) return EXIT.gaveUp;
  return results.some((r) => r.exitCode === EXIT.fatal) ? EXIT.fatal : EXIT.stopped;
}

const PROCESS_WIDE = ['logger', 'logRateLimit', 'inspect', 'signal'] as const;

/** The rules of one tunnel's options (those of `startTunnel` less the process-wide ones). */
const SPEC_RULES = Object.fromEntries(
  Object.entries<Rule>(TUNNEL_RULES).filter(([k]) => !(PROCESS_WIDE as readonly string[]).includes(k)),
) as Rules<TunnelSpecOptions>;

const tunnelsRule: Rule = (name, value) => {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw Object.assign(new TypeError(`${name} must be an object of tunnels by name`), { code: 'ERR_BORE_INVALID_OPTION' });
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0)
    throw Object.assign(new RangeError(`${name} must name at least one tunnel`), { code: 'ERR_BORE_INVALID_OPTION' });
  for (const [tunnel, options] of entries) nested<TunnelSpecOptions>(SPEC_RULES)(`${name}.${tunnel}`, options);
};

const TUNNELS_RULES: Rules<TunnelsOptions> = { ...TUNNEL_RULES, tunnels: tunnelsRule };

/** Checks `options` and resolves each tunnel's own options (the top-level ones filled in). */
function resolveTunnels(options: TunnelsReload, where: string): Record<string, TunnelSpecOptions> {
  checkOptions(TUNNELS_RULES, options, where, ['tunnels']);
  const { tunnels, ...shared } = options;
  for (const key of PROCESS_WIDE) delete (shared as Record<string, unknown>)[key];
  const resolved: Record<string, TunnelSpecOptions> = {};
  for (const [name, own] of Object.entries(tunnels)) {
    const mine = dropUndefined(own);
    // A tunnel's own secret, of either kind, replaces the shared one of either kind.
    const base =
      mine.secret !== undefined || mine.secretFile !== undefined ? { ...shared, secret: undefined, secretFile: undefined } : shared;
    const merged = dropUndefined({ ...base, ...mine }) as Partial<TunnelSpecOptions>;
    for (const key of ['localPort', 'to'] as const) {
      if (merged[key] === undefined)
        throw Object.assign(new TypeError(`tunnels.${name}.${key} is required${key === 'to' ? ' (or give to for every tunnel)' : ''}`), {
          code: 'ERR_BORE_INVALID_OPTION',
        });
    }
    resolved[name] = merged as TunnelSpecOptions;
  }
  return resolved;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Starts a set of named tunnels under one supervisor. Throws a `TypeError` or
 * `RangeError` naming the option (`tunnels.web.localPort must be 1-65535, got 70000`)
 * if an option is invalid.
 */
export function startTunnels(options: TunnelsOptions): Tunnels {
  const resolved = resolveTunnels(options, 'startTunnels');
  const base = options.logger ?? silentLogger;
  // Across tunnels: the same warning from 184 tunnels refused by the server's cap is one message.
  const shared = rateLimited(base, options.logRateLimit);

  const specOf = (name: string, spec: TunnelSpecOptions, pool: number): TunnelSpec => {
    const drainMs = spec.drainTimeoutMs ?? TUNNEL_DEFAULTS.drainTimeoutMs;
    const settings = tunnelSettings(spec);
    const logger = rateLimited(withFields(shared, { tunnel: name }), options.logRateLimit);
    const runtime = new TunnelRuntime(logger, clientCredentials(spec, logger), drainMs);
    runtime.tls = clientTlsOf(spec);
    runtime.serverTls = serverTlsOf(spec.to);
    runtime.mux = spec.mux ?? TUNNEL_DEFAULTS.mux;
    runtime.muxFirst = spec.muxFirst ?? TUNNEL_DEFAULTS.muxFirst;
    // A file is re-read at each attempt: the same path is the same tunnel.
    const secret =
      spec.secret === undefined ? (spec.secretFile ?? null) : nodeCrypto().createHash('sha256').update(spec.secret).digest('hex');
    // The key has the pool asked for: a reload keeps a running tunnel whose options are
    // the same, with the pool it got (its share of the descriptors may differ now).
    return {
      settings: { ...settings, pool },
      runtime,
      key: JSON.stringify({
        settings,
        secret,
        drainMs,
        tls: [spec.tls, spec.tlsCa, spec.tlsFingerprint],
        to: spec.to,
        mux: [runtime.mux, runtime.muxFirst],
      }),
    };
  };
  const specs = (set: Record<string, TunnelSpecOptions>) => {
    // The process's pools, summed over its tunnels, bounded by the open-file limit.
    const pools = limitPools(Object.fromEntries(Object.entries(set).map(([name, s]) => [name, s.pool ?? TUNNEL_DEFAULTS.pool])), base);
    return Object.fromEntries(Object.entries(set).map(([name, spec]) => [name, specOf(name, spec, pools[name]!)]));
  };

  // Each tunnel's client machine logs its transitions on the log its runtime carries.
  const actor = createActor(supervisorMachine, { input: { tunnels: specs(resolved) }, inspect: options.inspect });

  // Each child gets a Tunnel handle the moment it appears; every handle's end is awaited.
  const handles = new Map<string, Tunnel>();
  // The newest handle of each name (kept after the end, for the result) and the set while running.
  const latest = new Map<string, Tunnel>();
  let lastSet: string[] = [];
  const tracked = new WeakSet<object>();
  const results = new Map<string, TunnelResult>();
  const ends: Promise<unknown>[] = [];
  // The supervisor's `children` object is replaced only when a child is spawned or stopped.
  let seenChildren: object | undefined;
  const trackChildren = (snapshot: SnapshotFrom<typeof supervisorMachine>) => {
    if (snapshot.children === seenChildren) return;
    seenChildren = snapshot.children;
    for (const [name, child] of Object.entries(snapshot.children)) {
      if (!child || tracked.has(child)) continue;
      tracked.add(child);
      const ref = child as unknown as Actor<typeof clientMachine>;
      const runtime = ref.getSnapshot().context.runtime;
      if (!(runtime instanceof TunnelRuntime)) continue;
      const tunnel = trackTunnel(ref, runtime);
      handles.set(name, tunnel);
      latest.set(name, tunnel);
      ends.push(
        tunnel.done.then((result) => {
          if (latest.get(name) === tunnel) results.set(name, result);
        }),
      );
    }
    for (const name of [...handles.keys()]) if (!snapshot.context.tunnels.has(name)) handles.delete(name);
  };

  const stream = changeStream(changeOf(actor.getSnapshot()), sameChange);
  let resolveReady!: (ports: Record<string, number>) => void;
  let rejectReady!: (err: unknown) => void;
  const ready = new Promise<Record<string, number>>((res, rej) => {
    resolveReady = res;
    rejectReady = rej;
  });
  ready.catch(() => {});
  let resolveDone!: (result: TunnelsResult) => void;
  const done = new Promise<TunnelsResult>((res) => (resolveDone = res));

  let lastState: TunnelsState | undefined;
  // While `waiting`, no socket or timer of the set is left to keep the process alive: this one does.
  let keepAlive: NodeJS.Timeout | undefined;
  // A child's heartbeat, pool figures and connection counts reach the supervisor as
  // snapshots that leave its tunnels' views as they were (the same `tunnels` object): those
  // change nothing here, and skipping them keeps a beat of one tunnel from costing a pass
  // over the whole set.
  let seen: { tunnels: unknown; stopping: unknown; reloaded: boolean; value: unknown; status: string } | undefined;
  actor.subscribe((snapshot) => {
    const { tunnels, stopping, reloaded } = snapshot.context;
    if (
      seen &&
      seen.tunnels === tunnels &&
      seen.stopping === stopping &&
      seen.reloaded === reloaded &&
      seen.value === snapshot.value &&
      seen.status === snapshot.status
    ) {
      return;
    }
    seen = { tunnels, stopping, reloaded, value: snapshot.value, status: snapshot.status };
    trackChildren(snapshot);
    // The rest passes over the whole set: once per turn of the event loop, however many
    // tunnels changed in it (a set starting up changes thousands of times), and at once at the end.
    if (snapshot.status === 'done') report();
    else if (!reporting) {
      reporting = true;
      setImmediate(report);
    }
  });
  let reporting = false;
  let reported = false;
  let readyResolved = false;
  function report(): void {
    reporting = false;
    if (reported) return;
    const snapshot = actor.getSnapshot();
    reported = snapshot.status !== 'active';
    const isWaiting = snapshot.status === 'active' && supervisorAggregate(snapshot.context) === 'waiting';
    if (isWaiting && !keepAlive) keepAlive = setInterval(() => {}, 1 << 30);
    if (!isWaiting && keepAlive) keepAlive = void clearInterval(keepAlive);
    if (snapshot.value === 'running') lastSet = [...snapshot.context.tunnels.keys()];
    const change = changeOf(snapshot, stream.current);
    stream.update(change, snapshot.status === 'done');
    if (change.state !== lastState) {
      lastState = change.state;
      logAggregate(base, change);
    }
    if (change.state === 'listening' && !readyResolved) {
      readyResolved = true;
      resolveReady(Object.fromEntries(Object.entries(change.tunnels).map(([name, t]) => [name, t.publicPort!])));
    } else if (['degraded', 'gone', 'waiting', 'stopped'].includes(change.state)) {
      const failed = Object.entries(change.tunnels).find(([, t]) => t.state === 'fatal' && t.lastError);
      const last = failed?.[1].lastError;
      rejectReady(
        failed && last ? new TunnelError(last.code, `tunnel ${failed[0]}: ${last.message}`) : stoppedError(options.signal, 'tunnels'),
      );
    }
    if (snapshot.status === 'done') {
      const state = change.state === 'stopped' ? 'stopped' : 'gone';
      void (async () => {
        // Children that end later (a restart's old child) push more ends while we wait.
        for (let n = 0; n < ends.length; n = ends.length) await Promise.all(ends);
        shared.flush();
        const all = Object.fromEntries(lastSet.filter((name) => results.has(name)).map((name) => [name, results.get(name)!]));
        resolveDone({ state, tunnels: all, exitCode: tunnelsExitCode(state, Object.values(all)) });
      })();
    }
  }
  trackChildren(actor.getSnapshot());
  actor.start();

  const stop = () => {
    actor.send({ type: 'STOP' });
    return done;
  };
  stopOnAbort(options.signal, stop, done);
  // A listener is told the current change first: bring it up to date if a report is due.
  const onChange = (listener: (change: TunnelsChange) => void) => {
    if (reporting) report();
    return stream.onChange(listener);
  };

  return {
    actor,
    tunnels: handles,
    ready,
    done,
    get publicPorts() {
      return Object.fromEntries([...actor.getSnapshot().context.tunnels].map(([name, t]) => [name, t.publicPort]));
    },
    onChange,
    changes: () => changes(onChange, (c) => c.state === 'stopped' || c.state === 'gone'),
    stop,
    [Symbol.asyncDispose]: async () => void (await stop()),
    reload(next: TunnelsReload): ReloadDiff {
      const set = resolveTunnels(next, 'reload');
      const snapshot = actor.getSnapshot();
      if (snapshot.status !== 'active' || snapshot.value !== 'running') throw new Error('the tunnels are stopped');
      const current = snapshot.context.tunnels;
      // The supervisor keeps the running child of an unchanged tunnel (same key) and drops its new spec.
      const built = specs(set);
      const diff = reloadDiff(current, built);
      base.info(
        `reload: ${diff.added.length} added, ${diff.removed.length} removed, ${diff.changed.length} changed, ${diff.unchanged.length} unchanged`,
        { ...diff },
      );
      actor.send({ type: 'RELOAD', tunnels: built });
      return diff;
    },
  };
}
