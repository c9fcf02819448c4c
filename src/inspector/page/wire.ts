/**
 * What the page reads from the inspector server, as it arrives in JSON: the page's own
 * view of `PublicSnapshot` and `LogEntry` (`src/inspector/hub.ts`), declared here because
 * the hub module is Node code the browser program must not type-check. The layout test
 * assigns the hub's real values to these types, so a drift fails to compile there.
 */

/** One line of the live log (the hub's `LogEntry`). */
export interface LogEntryView {
  /** Increasing number; a repeated event comes again with the same `seq`. */
  seq: number;
  /** Epoch ms of the (last) occurrence. */
  time: number;
  /** `event`: the machine received an event; `transition`: its state changed. */
  kind: 'event' | 'transition';
  /** The event type. */
  event: string;
  /** How many times in a row the event arrived. */
  count: number;
  /** For transitions: the state before and after. */
  from?: string;
  to?: string;
}

/** The failure shown in the context table (the machine's `LastError`). */
export interface LastErrorView {
  message: string;
  code: string;
  class: string;
}

/** The fields of the client machine's public context that the page shows (all may be missing). */
export interface ContextView {
  settings?: { to?: string; controlPort?: number; localHost?: string; localPort?: number } | null;
  attempt?: number | null;
  publicPort?: number | null;
  activeConnections?: number | null;
  lastError?: LastErrorView | null;
  nextRetryAt?: number | null;
  retryDelayMs?: number | null;
  failures?: number | null;
  reconnects?: number | null;
  pool?: PoolView | null;
}

/** The warm pool's counts (the client's `PoolStats`). */
export interface PoolView {
  size: number;
  idle: number;
  opening: number;
  inUse: number;
  served: number;
  refills: number;
  fallbacks: number;
  failures: number;
}

/** A snapshot pushed on `/events` (the hub's `PublicSnapshot`). */
export interface SnapshotView {
  value: unknown;
  /** Active state paths, parents first. */
  active: string[];
  /** `active`, `done` or `error`. */
  status: string;
  context: ContextView;
  time: number;
  /** Only in pushed snapshots: the changes of state since the previous one, oldest first. */
  steps?: StateStepView[];
}

/** A change of active states (the hub's `StateStep`). */
export interface StateStepView {
  /** Active state paths before and after, parents included. */
  from: string[];
  to: string[];
  /** The type of the event that caused it. */
  event: string;
}

/** The `hello` event that opens every `/events` stream. */
export interface HelloView {
  /** Changes when the tunnel process restarts. */
  bootId: string;
  /** The recent log, oldest first. */
  log: LogEntryView[];
}
