/**
 * Which arrows of the chart the machine just took, worked out from two snapshots' active
 * states, as a pure function (no DOM). The hub sends at most one snapshot per turn of
 * the event loop, and a transient state (e.g. `failed`, left at once by `always`) never
 * shows in one, so the page looks for the shortest chains of arrows from a state active
 * before to a state entered now, and prefers the chains with an arrow triggered by the
 * snapshot's event. A snapshot that enters no state (a self-transition such as the
 * heartbeat's re-entry of `listening.alive`, or a context change) takes no arrow.
 */
import { type ChartEdge, ROOT, isInside } from './model.js';

/** Longest chain of arrows looked for between two snapshots. */
const MAX_CHAIN = 4;

/** The key of an arrow, as in its `data-edge` attribute: `source->target`. */
export function edgeKey(edge: ChartEdge): string {
  return `${edge.source}->${edge.target}`;
}

/**
 * Whether a transition label (see `transitionLabel`) is triggered by an event of type
 * `event`: `CONTROL.LOST / recordFailure` by `CONTROL.LOST`, `after heartbeatTimeout`
 * by `xstate.after.heartbeatTimeout.<state id>`.
 */
export function labelMatchesEvent(label: string, event: string): boolean {
  const trigger = label.split(' / ')[0]!.split(' [')[0]!;
  const after = /^xstate\.after\.([^.]+)\./.exec(event);
  if (after) return trigger === `after ${after[1]}` || trigger === `after ${after[1]}ms`;
  return trigger === event;
}

/**
 * The keys of the arrows taken from active states `before` to active states `after`
 * (paths, parents included), `event` being the type of the event that led there if
 * known. Empty when no state was entered.
 */
export function takenEdges(edges: readonly ChartEdge[], before: readonly string[], after: readonly string[], event?: string): string[] {
  const was = new Set(before);
  const entered = new Set(after.filter((p) => !was.has(p)));
  if (entered.size === 0) return [];
  // An arrow leaves a state when its source is that state or one of its ancestors (the root's leave any state).
  const leaving = (state: string) => edges.filter((e) => e.source === state || (e.source !== state && isInside(state, e.source)));
  const starts = before.length ? before : [ROOT];
  let chains: ChartEdge[][] = [];
  let frontier: { at: string; chain: ChartEdge[] }[] = starts.map((at) => ({ at, chain: [] }));
  for (let length = 1; length <= MAX_CHAIN && chains.length === 0 && frontier.length; length++) {
    const next: typeof frontier = [];
    for (const { at, chain } of frontier) {
      for (const e of leaving(at)) {
        if (chain.includes(e)) continue;
        const longer = [...chain, e];
        if (entered.has(e.target)) chains.push(longer);
        else if (!was.has(e.target)) next.push({ at: e.target, chain: longer });
      }
    }
    frontier = next;
  }
  if (event) {
    const matching = chains.filter((chain) => chain.some((e) => e.labels.some((l) => labelMatchesEvent(l, event))));
    if (matching.length) chains = matching;
  }
  return [...new Set(chains.flat().map(edgeKey))];
}
