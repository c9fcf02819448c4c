/**
 * The inspector page's state, in one object: what was fetched and pushed (the chart,
 * the latest snapshot, the last view of each tunnel), what the page shows (the selected
 * machine, its drawn states, the log's lines), and the live handles (the event stream,
 * the timer of the highlighted arrows). `main.ts` holds one {@link PageState} and every
 * function of the page reads and writes it there.
 */
import type { ChartModel } from './model.js';
import type { ChildSnapshotView, GraphView, SnapshotView } from './wire.js';

/** Everything the page keeps between events (one object, owned by `main.ts`). */
export interface PageState {
  /** The charts from `/graph`: the root machine's, with a `child` chart under a supervisor. */
  graph: GraphView | undefined;
  /** The model of the chart drawn (the selected machine's). */
  model: ChartModel | undefined;
  /** The drawn state nodes by state path, to mark the active ones. */
  groups: Map<string, SVGGElement>;
  /** The root machine's latest snapshot (a single tunnel's, or the supervisor's). */
  snapshot: SnapshotView | undefined;
  /** Whose chart is shown: `''` the root machine's, else the name of a tunnel under the supervisor. */
  selected: string;
  /** What the chart showed last (of the selected machine): compared with the next to find the arrows taken. */
  shown: ChildSnapshotView | undefined;
  /** The last snapshot of each tunnel seen since the tunnel process started (a tunnel that gave up leaves `children`). */
  seen: Map<string, ChildSnapshotView>;
  /** The tabs of the tunnel strip by tunnel name (`''`: the supervisor). */
  readonly tabs: Map<string, HTMLButtonElement>;
  /** Whether the tunnel process said it was stopping (its `end` event); until a new one says `hello`. */
  ended: boolean;
  /** Ends the highlight of the arrows just taken. */
  takenTimer: ReturnType<typeof setTimeout> | undefined;
  /** The tunnel process's `bootId` (from `hello`): a new one means it restarted. */
  bootId: string | undefined;
  /** The event stream (`/events`) being followed. */
  source: EventSource | undefined;
  /** The log's lines by `seq`: a repeated event updates its line. */
  logItems: Map<number, HTMLLIElement>;
}

/** The state of a page just loaded, at address fragment `hash` (`#tunnel=name` selects a tunnel). */
export function initialState(hash: string): PageState {
  return {
    graph: undefined,
    model: undefined,
    groups: new Map(),
    snapshot: undefined,
    selected: decodeURIComponent(/^#tunnel=(.*)$/.exec(hash)?.[1] ?? ''),
    shown: undefined,
    seen: new Map(),
    tabs: new Map(),
    ended: false,
    takenTimer: undefined,
    bootId: undefined,
    source: undefined,
    logItems: new Map(),
  };
}

/**
 * Forgets what came from the previous tunnel process (a new `bootId`): its snapshots
 * (no arrow leads from its state to the new one's) and its log lines.
 */
export function forgetProcess(state: PageState, bootId: string): void {
  state.bootId = bootId;
  state.snapshot = undefined;
  state.shown = undefined;
  state.seen = new Map();
  state.logItems = new Map();
}
