/**
 * The aggregate of a supervisor's set of tunnels, computed from its context, never stored:
 * from a tally of the tunnels' states, derived change by change.
 */
import type { ChildState, TunnelStatus } from './supervisor.js';

/**
 * The aggregate of the tunnels' states: `listening` (all of them), `starting` (some not
 * yet listening for the first time, none reconnecting or fatal), `reconnecting` (some
 * in backoff, none fatal), `degraded` (some fatal, the others running), `gone` (none
 * running: every one fatal or stopped), `waiting` (as `gone`, some fatal, after a
 * `RELOAD`: the set waits for the next one).
 */
export type AggregateState = 'starting' | 'listening' | 'reconnecting' | 'degraded' | 'gone' | 'waiting';

/** How many tunnels of a set are in each state. */
type Tally = Readonly<Partial<Record<ChildState, number>>>;

// The tally of each `tunnels` object met. The object is replaced on every change of a
// tunnel's view: a change of one tunnel derives the new tally from the old one
// ({@link deriveTally}) instead of a pass over the set, which made a set of 1,000
// starting up (some 3,000 changes) quadratic.
const tallies = new WeakMap<ReadonlyMap<string, TunnelStatus>, Tally>();

function tallyOf(tunnels: ReadonlyMap<string, TunnelStatus>): Tally {
  let tally = tallies.get(tunnels);
  if (!tally) {
    const counts: Partial<Record<ChildState, number>> = {};
    for (const { state } of tunnels.values()) counts[state] = (counts[state] ?? 0) + 1;
    tallies.set(tunnels, (tally = counts));
  }
  return tally;
}

/** Notes that `next` is `prev` with one tunnel's state `from` (absent: added) now `to` (absent: removed). */
export function deriveTally(
  prev: ReadonlyMap<string, TunnelStatus>,
  next: ReadonlyMap<string, TunnelStatus>,
  from: ChildState | undefined,
  to: ChildState | undefined,
): void {
  const old = tallies.get(prev);
  if (!old) return;
  const counts = { ...old };
  if (from !== undefined) counts[from] = (counts[from] ?? 0) - 1;
  if (to !== undefined) counts[to] = (counts[to] ?? 0) + 1;
  tallies.set(next, counts);
}

/** The aggregate of `tunnels` (see {@link AggregateState}); `reloaded`: a `RELOAD` has come. */
export function aggregateOf(tunnels: ReadonlyMap<string, TunnelStatus>, reloaded = false): AggregateState {
  const tally = tallyOf(tunnels);
  // A tunnel stopped on its own (its handle's `stop()`) counts for nothing.
  const counted = tunnels.size - (tally.stopped ?? 0);
  const running = counted - (tally.fatal ?? 0);
  if (running === 0) return reloaded && counted > 0 ? 'waiting' : 'gone';
  if (tally.fatal) return 'degraded';
  if (tally.backoff) return 'reconnecting';
  if (tally.listening === running) return 'listening';
  return 'starting';
}

/** The aggregate of a supervisor's tunnels now: a function of its context (or snapshot's context), not stored in it. */
export function supervisorAggregate(context: {
  readonly tunnels: ReadonlyMap<string, TunnelStatus>;
  readonly reloaded: boolean;
}): AggregateState {
  return aggregateOf(context.tunnels, context.reloaded);
}
