/**
 * What the page reads from the inspector server, as it arrives in JSON: the page's own
 * view of `PublicSnapshot` and `LogEntry` (`src/inspector/hub.ts`), declared here because
 * the hub module is Node code the browser program must not type-check. The layout test
 * assigns the hub's real values to these types, so a drift fails to compile there.
 *
 * `GET /graph` serves {@link GraphView}: the root machine's chart (`MachineGraph`, from
 * `src/inspector/graph.ts`, a plain-data module the page shares) and, for several
 * tunnels in one process, `child`: the client machine's chart, which every tunnel runs.
 * The root is then the supervisor; each snapshot carries every running tunnel under
 * `children` (by name) and the supervisor's view of each under `context.tunnels` (a
 * tunnel that gave up is only there: the supervisor has stopped its machine).
 */
import type { InspectorGraph } from '../graph.js';

/** What `/graph` serves: the root's chart, and `child` (the client machine's) under a supervisor. */
export type GraphView = InspectorGraph;

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
  /** For a transition of a tunnel under a supervisor: the tunnel's name. */
  actor?: string;
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
  /** With TLS, the control connection's (the client's `TunnelTls`), once secured. */
  tls?: TlsView | null;
  /** The current server's index in `servers` (the client's failover, `machines/failover.ts`). */
  server?: number | null;
  /** What the client knows of each of its servers. */
  servers?: { name: string; port?: number; refused?: boolean; error?: string }[] | null;
  /** The last move between servers, and why. */
  moved?: { from: string; to: string; reason: string } | null;
  /** A supervisor's: what it knows of each tunnel, by name (`TunnelStatus`). */
  tunnels?: Record<string, TunnelStatusView> | null;
  /** A supervisor's: the aggregate of its tunnels' states (`listening`, `reconnecting`, `degraded`, ...). */
  aggregate?: string | null;
  /** A supervisor's: tunnels waiting for their machine to stop. */
  stopping?: string[] | null;
}

/** What a supervisor knows of one tunnel (its `TunnelStatus`). */
export interface TunnelStatusView {
  /** Its client machine's top-level state. */
  state: string;
  publicPort?: number | null;
  attempt?: number | null;
  lastError?: LastErrorView | null;
  retryDelayMs?: number | null;
  /** How many times it was started. */
  generation?: number | null;
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
  /** With `--mux`: the multiplexed connection. */
  multiplexed?: { ready: boolean; served: number };
}

/** A control connection's TLS (the client's `TunnelTls`). */
export interface TlsView {
  protocol: string;
  cipher: string;
  subject: string;
  /** `sha256:HEX`. */
  fingerprint: string;
  /** ISO 8601. */
  validTo: string;
  resumed: boolean;
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
  /** Under a supervisor: each running tunnel's client machine, by name. */
  children?: Record<string, ChildSnapshotView>;
}

/** The snapshot of one tunnel under a supervisor (an entry of {@link SnapshotView.children}); `steps` as the root's. */
export type ChildSnapshotView = Omit<SnapshotView, 'time' | 'children'>;

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

/** One public connection in the `traffic` event (the client's `ConnectionRecord`). */
export interface ConnectionView {
  id: string;
  openedAt: number;
  closedAt?: number;
  bytesIn: number;
  bytesOut: number;
  end?: string;
}

/** One point of a tunnel's traffic chart (the inspector's `TrafficPoint`). */
export interface TrafficPointView {
  time: number;
  open: number;
  inRate: number;
  outRate: number;
  connRate: number;
}

/** One tunnel's traffic (the inspector's `TunnelTraffic`). */
export interface TunnelTrafficView {
  totals: { opened: number; closed: number; open: number; bytesIn: number; bytesOut: number };
  open: ConnectionView[];
  recent: ConnectionView[];
  history: TrafficPointView[];
}

/** The `traffic` event, once a second while the page is open (the inspector's `TrafficEvent`). */
export interface TrafficView {
  time: number;
  /** Whether `history` holds every kept point (the stream's first event) or only the new one. */
  full: boolean;
  /** By tunnel name; `''`: a single tunnel. */
  tunnels: Record<string, TunnelTrafficView>;
}
