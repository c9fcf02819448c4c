/**
 * The supervisor of several tunnels: an XState v5 machine that spawns one client
 * machine (`machines/client.ts`) per tunnel as a child actor, named after the tunnel,
 * and keeps their states in its context; their aggregate is computed from it
 * ({@link supervisorAggregate}), never stored. Each child keeps its own
 * connection management (reconnects, backoff, deadlines): the supervisor restarts
 * nothing on its own. A child that goes `fatal` is recorded (and reported by the
 * runner) while the others go on.
 *
 *   running ──STOP──→ stopping → stopped (every child stopped)
 *   running ──every tunnel fatal, and no RELOAD yet──→ gone
 *
 * Once a `RELOAD` has come, a set whose every tunnel has failed stays `running` (its
 * aggregate `waiting`) for the next `RELOAD`: a reload that brought a mistake (a wrong
 * secret) must leave a way back, not end the process.
 *
 * `RELOAD` carries the new set of tunnels: an added one starts, a removed one is sent
 * `STOP` (the runner drains its connections), a changed one (its `key` differs, or it
 * had gone fatal or been stopped on its own) is stopped and started again with the new
 * settings, an unchanged one is left alone. The children report their snapshots (`syncSnapshot`), so the
 * supervisor needs no actor of its own and a `SimulatedClock` drives it and its
 * children alike.
 */
import { type SnapshotFrom, enqueueActions, setup } from 'xstate';
import { type AggregateState, deriveTally, supervisorAggregate } from './aggregate.js';
import type { ClientRuntime } from '../src/client/actors.js';
import {
  type ClientMachineInput,
  type ClientOutput,
  type TopState,
  type TunnelSettings,
  type TunnelView,
  clientMachine,
  sameTunnelView,
  tunnelView,
} from './client.js';

/** The aggregate of a set of tunnels, defined in `aggregate.ts`. */
export { type AggregateState, aggregateOf, supervisorAggregate } from './aggregate.js';

/** One tunnel as the supervisor is given it. */
export interface TunnelSpec {
  /** Settings of its client machine. */
  settings: TunnelSettings;
  /** Its side effects' runtime (logger with the tunnel's name, credentials). */
  runtime: ClientRuntime;
  /**
   * Opaque text that changes whenever anything that needs a restart changes (settings,
   * secret, drain timeout): a `RELOAD` restarts the tunnel when it differs.
   */
  key: string;
}

/** The state of one client machine, at the top level. */
export type ChildState = TopState;

/** What the supervisor knows of one tunnel: what a user sees of it, and which start of it this is. */
export interface TunnelStatus extends TunnelView {
  /** The spec's {@link TunnelSpec.key}. */
  key: string;
  /** How many times it was started (1, then one more per restart). */
  generation: number;
}

/** Input of {@link supervisorMachine}: the tunnels by name. */
export interface SupervisorInput {
  tunnels: Record<string, TunnelSpec>;
}

/** What the supervisor knows; plain data but for the specs waiting to restart. */
export interface SupervisorContext {
  /**
   * Every tunnel of the current set by name, fatal ones included. A Map, replaced (not
   * changed) on every change: copying one of 1,000 entries costs 69 µs where a plain
   * object's spread costs 1.3 ms, and a set starting up changes it thousands of times.
   */
  tunnels: ReadonlyMap<string, TunnelStatus>;
  /** Tunnels stopped to be started again with these specs once their old child is done. */
  restarting: Record<string, TunnelSpec>;
  /** Tunnels sent `STOP` by a reload or `STOP`, waiting for their child to be done. */
  stopping: string[];
  /** A `RELOAD` has come: from then on, every tunnel failing leaves the set waiting for the next one. */
  reloaded: boolean;
  /** Tunnels started whose first attempt has not ended yet (listening, backoff, fatal or stopped): at most {@link START_WINDOW}. */
  launching: string[];
  /** Tunnels waiting for a place in the window, in order, with their specs: their status says `connecting`, attempt 0. */
  queued: [string, TunnelSpec][];
}

/**
 * How many tunnels make their first attempt at once. A set of 1,000 started in one go
 * keeps the event loop busy for seconds with spawns and handshakes, long enough for the
 * first ones' 3 s handshake deadlines to pass before their answers are read (measured: 11 of
 * 1,000 gave up); a window lets each attempt run on an idle loop, and the next tunnel starts
 * as one ends.
 */
export const START_WINDOW = 64;

/** The outcome of a `RELOAD`, by tunnel name. */
export interface ReloadDiff {
  added: string[];
  removed: string[];
  changed: string[];
  unchanged: string[];
}

/** Every event the supervisor accepts from outside. */
export type SupervisorEvent = { type: 'RELOAD'; tunnels: Record<string, TunnelSpec> } | { type: 'STOP' };

type ClientSnapshot = SnapshotFrom<typeof clientMachine>;
type ChildEvent =
  | { type: `xstate.snapshot.${string}`; snapshot: ClientSnapshot }
  | { type: `xstate.done.actor.${string}`; actorId: string; output: ClientOutput };

/** The tunnels a `RELOAD` adds, removes, changes and keeps: fatal tunnels, and those stopped on their own, count as changed. */
export function reloadDiff(current: ReadonlyMap<string, TunnelStatus>, next: Record<string, TunnelSpec>): ReloadDiff {
  const diff: ReloadDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const name of current.keys()) if (!Object.hasOwn(next, name)) diff.removed.push(name);
  for (const [name, spec] of Object.entries(next)) {
    const now = current.get(name);
    if (!now) diff.added.push(name);
    else if (now.key !== spec.key || now.state === 'fatal' || now.state === 'stopped') diff.changed.push(name);
    else diff.unchanged.push(name);
  }
  return diff;
}

/** The values derived from a supervisor's context that its inspector shows beside it (its `aggregate`). */
export function supervisorDerived(context: SupervisorContext): { aggregate: AggregateState } {
  return { aggregate: supervisorAggregate(context) };
}

function statusOf(snapshot: ClientSnapshot, key: string, generation: number): TunnelStatus {
  return { ...tunnelView(snapshot), key, generation };
}

function starting(spec: TunnelSpec, generation: number): TunnelStatus {
  return {
    key: spec.key,
    state: 'connecting',
    publicPort: undefined,
    attempt: 0,
    lastError: undefined,
    retryDelayMs: undefined,
    tls: undefined,
    generation,
  };
}

const SNAPSHOT_PREFIX = 'xstate.snapshot.';

/** The states that end a tunnel's first attempt, and free its place in the start window. */
const SETTLED = new Set<ChildState>(['listening', 'backoff', 'fatal', 'stopped']);

/** The queued tunnels to start now to fill the window, and the window and queue after. */
function refill(launching: string[], queued: [string, TunnelSpec][]) {
  const room = Math.max(0, START_WINDOW - launching.length);
  const started = queued.slice(0, room);
  return { started, launching: [...launching, ...started.map(([name]) => name)], queued: queued.slice(room) };
}

/** The tunnel's name and snapshot in a child's snapshot event. */
function childParams(event: { type: string; snapshot: ClientSnapshot }): { name: string; snapshot: ClientSnapshot } {
  return { name: event.type.slice(SNAPSHOT_PREFIX.length), snapshot: event.snapshot };
}

/** The supervisor of a set of named tunnels. */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent | ChildEvent,
    input: {} as SupervisorInput,
  },
  actors: { client: clientMachine },
  guards: {
    /** No child left running (all fatal or stopped), and none waiting for a reload to fix it. */
    allGone: ({ context }) => supervisorAggregate(context) === 'gone',
    /** Every child stopped and gone. */
    noneLeft: ({ context }) => context.tunnels.size === 0 && context.stopping.length === 0,
    /** A child's snapshot changes what a user sees of it (a heartbeat does not). */
    childViewChanged: ({ context }, { name, snapshot }: { name: string; snapshot: ClientSnapshot }) => {
      const old = context.tunnels.get(name);
      return !!old && !context.stopping.includes(name) && !sameTunnelView(old, tunnelView(snapshot));
    },
  },
  actions: {
    reload: enqueueActions(({ context, enqueue }, { tunnels }: { tunnels: Record<string, TunnelSpec> }) => {
      const diff = reloadDiff(context.tunnels, tunnels);
      const next = new Map(context.tunnels);
      const restarting = { ...context.restarting };
      const stopping = [...context.stopping];
      // A tunnel still waiting for its start has no child yet: its new spec replaces the old, or it goes.
      let queued = context.queued.filter(([name]) => Object.hasOwn(tunnels, name));
      for (const name of diff.removed) if (!queued.some(([n]) => n === name) && context.queued.some(([n]) => n === name)) next.delete(name);
      for (const name of diff.changed) {
        const at = queued.findIndex(([n]) => n === name);
        if (at >= 0) {
          queued[at] = [name, tunnels[name]!];
          next.set(name, starting(tunnels[name]!, 1));
        }
      }
      for (const name of diff.added) {
        queued.push([name, tunnels[name]!]);
        next.set(name, starting(tunnels[name]!, 1));
      }
      const waiting = new Set(queued.map(([name]) => name));
      const launch = refill(context.launching, queued);
      for (const [name, spec] of launch.started) enqueue.spawnChild('client', childOptions(name, spec, false));
      queued = launch.queued;
      for (const name of diff.removed) {
        if (!next.has(name)) continue;
        delete restarting[name];
        if (next.get(name)!.state === 'fatal' || next.get(name)!.state === 'stopped') next.delete(name);
        else {
          enqueue.sendTo(name, { type: 'STOP' });
          stopping.push(name);
        }
      }
      for (const name of diff.changed) {
        if (waiting.has(name)) continue;
        const spec = tunnels[name]!;
        const old = next.get(name)!;
        if (old.state === 'fatal' || old.state === 'stopped') {
          // Its child is done and gone already: start the new one now.
          enqueue.spawnChild('client', childOptions(name, spec, true));
          next.set(name, starting(spec, old.generation + 1));
        } else {
          restarting[name] = spec;
          if (!stopping.includes(name)) {
            enqueue.sendTo(name, { type: 'STOP' });
            stopping.push(name);
          }
        }
      }
      enqueue.assign({ tunnels: next, restarting, stopping, reloaded: true, launching: launch.launching, queued });
    }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      const stopping = [...context.stopping];
      const next = new Map(context.tunnels);
      for (const [name] of context.queued) next.delete(name);
      for (const [name, status] of next) {
        if (status.state === 'fatal' || status.state === 'stopped') next.delete(name);
        else if (!stopping.includes(name)) {
          enqueue.sendTo(name, { type: 'STOP' });
          stopping.push(name);
        }
      }
      enqueue.assign({ tunnels: next, stopping, restarting: {}, queued: [] });
    }),
    /** A child's snapshot: its status, when what a user sees changed. */
    childChanged: enqueueActions(({ context, enqueue }, { name, snapshot }: { name: string; snapshot: ClientSnapshot }) => {
      const old = context.tunnels.get(name);
      if (!old || context.stopping.includes(name)) return;
      const status = statusOf(snapshot, old.key, old.generation);
      if (sameTunnelView(old, status)) return;
      const tunnels = new Map(context.tunnels).set(name, status);
      deriveTally(context.tunnels, tunnels, old.state, status.state);
      if (!context.launching.includes(name) || !SETTLED.has(status.state)) return enqueue.assign({ tunnels });
      const launch = refill(
        context.launching.filter((n) => n !== name),
        context.queued,
      );
      for (const [next, spec] of launch.started) enqueue.spawnChild('client', childOptions(next, spec, false));
      enqueue.assign({ tunnels, launching: launch.launching, queued: launch.queued });
    }),
    /** A child is done (its `output`, how it ended): fatal on its own, or stopped (then maybe started again). */
    childDone: enqueueActions(({ context, enqueue }, { name, output, unlink }: { name: string; output: ClientOutput; unlink: boolean }) => {
      if (unlink) enqueue.stopChild(name);
      const tunnels = new Map(context.tunnels);
      const restarting = { ...context.restarting };
      const stopping = context.stopping.filter((n) => n !== name);
      const old = tunnels.get(name);
      const spec = restarting[name];
      if (spec && old) {
        delete restarting[name];
        enqueue.spawnChild('client', childOptions(name, spec, true));
        tunnels.set(name, starting(spec, old.generation + 1));
      } else if (context.stopping.includes(name) || !old) {
        if (tunnels.delete(name)) deriveTally(context.tunnels, tunnels, old?.state, undefined);
      } else {
        tunnels.set(name, { ...output, key: old.key, generation: old.generation });
        deriveTally(context.tunnels, tunnels, old.state, output.state);
      }
      const launch = refill(
        context.launching.filter((n) => n !== name),
        context.queued,
      );
      for (const [next, queuedSpec] of launch.started) enqueue.spawnChild('client', childOptions(next, queuedSpec, false));
      enqueue.assign({ tunnels, restarting, stopping, launching: launch.launching, queued: launch.queued });
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn }) => {
    const tunnels = new Map<string, TunnelStatus>();
    for (const [name, spec] of Object.entries(input.tunnels)) tunnels.set(name, starting(spec, 1));
    const { launching, queued, started } = refill([], Object.entries(input.tunnels));
    for (const [name, spec] of started) spawn('client', childOptions(name, spec, false));
    return { tunnels, restarting: {}, stopping: [], reloaded: false, launching, queued };
  },
  initial: 'running',
  on: {
    'xstate.snapshot.*': {
      guard: { type: 'childViewChanged', params: ({ event }) => childParams(event) },
      actions: { type: 'childChanged', params: ({ event }) => childParams(event) },
    },
    'xstate.done.actor.*': {
      actions: { type: 'childDone', params: ({ event }) => ({ name: event.actorId, output: event.output, unlink: true }) },
    },
  },
  states: {
    running: {
      always: { guard: 'allGone', target: 'gone' },
      on: {
        RELOAD: { actions: { type: 'reload', params: ({ event }) => ({ tunnels: event.tunnels }) } },
        STOP: 'stopping',
      },
    },
    stopping: {
      entry: 'stopAll',
      always: { guard: 'noneLeft', target: 'stopped' },
      // A child done while the set stops stays in `children` (it has stopped itself) until
      // the supervisor ends: unlinking each one copies XState's `children` object, 1-2 ms at
      // 1,000 tunnels, which made stopping 1,000 take 3.9 s.
      on: {
        'xstate.done.actor.*': {
          actions: { type: 'childDone', params: ({ event }) => ({ name: event.actorId, output: event.output, unlink: false }) },
        },
      },
    },
    stopped: { type: 'final' },
    gone: { type: 'final' },
  },
});

/** How the client machine of tunnel `name` is spawned; a restarted one retries its first attempt (its old session may hold the port). */
function childOptions(name: string, spec: TunnelSpec, restart: boolean): { id: string; input: ClientMachineInput; syncSnapshot: true } {
  const settings = restart ? { ...spec.settings, retryFirst: true } : spec.settings;
  return { id: name, input: { settings, runtime: spec.runtime }, syncSnapshot: true };
}
