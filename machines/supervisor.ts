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
import { type SnapshotFrom, assign, enqueueActions, setup } from 'xstate';
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

/**
 * The aggregate of the tunnels' states: `listening` (all of them), `starting` (some not
 * yet listening for the first time, none reconnecting or fatal), `reconnecting` (some
 * in backoff, none fatal), `degraded` (some fatal, the others running), `gone` (none
 * running: every one fatal or stopped), `waiting` (as `gone`, some fatal, after a
 * `RELOAD`: the set waits for the next one).
 */
export type AggregateState = 'starting' | 'listening' | 'reconnecting' | 'degraded' | 'gone' | 'waiting';

/** Input of {@link supervisorMachine}: the tunnels by name. */
export interface SupervisorInput {
  tunnels: Record<string, TunnelSpec>;
}

/** What the supervisor knows; plain data but for the specs waiting to restart. */
export interface SupervisorContext {
  /** Every tunnel of the current set by name, fatal ones included. */
  tunnels: Record<string, TunnelStatus>;
  /** Tunnels stopped to be started again with these specs once their old child is done. */
  restarting: Record<string, TunnelSpec>;
  /** Tunnels sent `STOP` by a reload or `STOP`, waiting for their child to be done. */
  stopping: string[];
  /** A `RELOAD` has come: from then on, every tunnel failing leaves the set waiting for the next one. */
  reloaded: boolean;
}

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
export function reloadDiff(current: Record<string, TunnelStatus>, next: Record<string, TunnelSpec>): ReloadDiff {
  const diff: ReloadDiff = { added: [], removed: [], changed: [], unchanged: [] };
  for (const name of Object.keys(current)) if (!Object.hasOwn(next, name)) diff.removed.push(name);
  for (const [name, spec] of Object.entries(next)) {
    const now = current[name];
    if (!now) diff.added.push(name);
    else if (now.key !== spec.key || now.state === 'fatal' || now.state === 'stopped') diff.changed.push(name);
    else diff.unchanged.push(name);
  }
  return diff;
}

/** The aggregate of `tunnels` (see {@link AggregateState}); `reloaded`: a `RELOAD` has come. */
export function aggregateOf(tunnels: Record<string, TunnelStatus>, reloaded = false): AggregateState {
  // A tunnel stopped on its own (its handle's `stop()`) counts for nothing.
  const states = Object.values(tunnels)
    .map((t) => t.state)
    .filter((s) => s !== 'stopped');
  const running = states.filter((s) => s !== 'fatal');
  if (running.length === 0) return reloaded && states.length > 0 ? 'waiting' : 'gone';
  if (states.includes('fatal')) return 'degraded';
  if (states.includes('backoff')) return 'reconnecting';
  if (running.every((s) => s === 'listening')) return 'listening';
  return 'starting';
}

/** The aggregate of a supervisor's tunnels now: a function of its context (or snapshot's context), not stored in it. */
export function supervisorAggregate(context: Pick<SupervisorContext, 'tunnels' | 'reloaded'>): AggregateState {
  return aggregateOf(context.tunnels, context.reloaded);
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
    noneLeft: ({ context }) => Object.keys(context.tunnels).length === 0 && context.stopping.length === 0,
  },
  actions: {
    reload: enqueueActions(({ context, enqueue }, { tunnels }: { tunnels: Record<string, TunnelSpec> }) => {
      const diff = reloadDiff(context.tunnels, tunnels);
      const next = { ...context.tunnels };
      const restarting = { ...context.restarting };
      const stopping = [...context.stopping];
      for (const name of diff.added) {
        enqueue.spawnChild('client', childOptions(name, tunnels[name]!, false));
        next[name] = starting(tunnels[name]!, 1);
      }
      for (const name of diff.removed) {
        delete restarting[name];
        if (next[name]!.state === 'fatal' || next[name]!.state === 'stopped') delete next[name];
        else {
          enqueue.sendTo(name, { type: 'STOP' });
          stopping.push(name);
        }
      }
      for (const name of diff.changed) {
        const spec = tunnels[name]!;
        const old = next[name]!;
        if (old.state === 'fatal' || old.state === 'stopped') {
          // Its child is done and gone already: start the new one now.
          enqueue.spawnChild('client', childOptions(name, spec, true));
          next[name] = starting(spec, old.generation + 1);
        } else {
          restarting[name] = spec;
          if (!stopping.includes(name)) {
            enqueue.sendTo(name, { type: 'STOP' });
            stopping.push(name);
          }
        }
      }
      enqueue.assign({ tunnels: next, restarting, stopping, reloaded: true });
    }),
    stopAll: enqueueActions(({ context, enqueue }) => {
      const stopping = [...context.stopping];
      const next = { ...context.tunnels };
      for (const [name, status] of Object.entries(context.tunnels)) {
        if (status.state === 'fatal' || status.state === 'stopped') delete next[name];
        else if (!stopping.includes(name)) {
          enqueue.sendTo(name, { type: 'STOP' });
          stopping.push(name);
        }
      }
      enqueue.assign({ tunnels: next, stopping, restarting: {} });
    }),
    /** A child's snapshot: its status, when what a user sees changed. */
    childChanged: assign(({ context }, { name, snapshot }: { name: string; snapshot: ClientSnapshot }) => {
      const old = context.tunnels[name];
      if (!old || context.stopping.includes(name)) return {};
      const status = statusOf(snapshot, old.key, old.generation);
      if (sameTunnelView(old, status)) return {};
      return { tunnels: { ...context.tunnels, [name]: status } };
    }),
    /** A child is done (its `output`, how it ended): fatal on its own, or stopped (then maybe started again). */
    childDone: enqueueActions(({ context, enqueue }, { name, output }: { name: string; output: ClientOutput }) => {
      enqueue.stopChild(name);
      const tunnels = { ...context.tunnels };
      const restarting = { ...context.restarting };
      const stopping = context.stopping.filter((n) => n !== name);
      const old = tunnels[name];
      const spec = restarting[name];
      if (spec && old) {
        delete restarting[name];
        enqueue.spawnChild('client', childOptions(name, spec, true));
        tunnels[name] = starting(spec, old.generation + 1);
      } else if (context.stopping.includes(name) || !old) {
        delete tunnels[name];
      } else {
        tunnels[name] = { ...output, key: old.key, generation: old.generation };
      }
      enqueue.assign({ tunnels, restarting, stopping });
    }),
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input, spawn }) => {
    const tunnels: Record<string, TunnelStatus> = {};
    for (const [name, spec] of Object.entries(input.tunnels)) {
      spawn('client', childOptions(name, spec, false));
      tunnels[name] = starting(spec, 1);
    }
    return { tunnels, restarting: {}, stopping: [], reloaded: false };
  },
  initial: 'running',
  on: {
    'xstate.snapshot.*': {
      actions: {
        type: 'childChanged',
        params: ({ event }) => ({ name: event.type.slice(SNAPSHOT_PREFIX.length), snapshot: event.snapshot }),
      },
    },
    'xstate.done.actor.*': {
      actions: { type: 'childDone', params: ({ event }) => ({ name: event.actorId, output: event.output }) },
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
