/**
 * What a user sees of a tunnel's client machine (`machines/client.ts`): its top-level
 * state and progress ({@link TunnelView}), and how it ended ({@link ClientOutput}, the
 * machine's `output`). Plain functions of the machine's state value and context.
 */
import type { StateValue } from 'xstate';
import type { ErrorClass, ErrorCode } from '../src/client/errors.js';
import type { TunnelTls } from '../src/client/tls.js';
import type { ClientRuntime } from '../src/client/actors.js';
import type { PoolStats } from '../src/client/pool.js';

/** The last failure, as shown to a person. */
export interface LastError {
  code: ErrorCode;
  class: ErrorClass;
  message: string;
}

/** A state of the machine at the top level (`listening`, not its regions). */
export type TopState = 'connecting' | 'securing' | 'authenticating' | 'listening' | 'backoff' | 'fatal' | 'stopped';

/** What a user sees of a tunnel: its top-level state and its progress, not its heartbeats. */
export interface TunnelView {
  /** The machine's state (top level: `listening`, not `{ listening: { heartbeat: 'alive', ... } }`). */
  readonly state: TopState;
  /** The public port, once known (kept while reconnecting: the client asks for it again). */
  readonly publicPort: number | undefined;
  /** Number of the current attempt to open the tunnel (1 for the first). */
  readonly attempt: number;
  /** The last failure; cleared once the tunnel listens again. */
  readonly lastError: LastError | undefined;
  /** In `backoff`, the wait before the next attempt (ms). */
  readonly retryDelayMs: number | undefined;
  /**
   * With TLS, once the control connection is secured: its protocol (`TLSv1.3`), cipher,
   * the server certificate's subject, fingerprint (`sha256:HEX`) and expiry, and whether
   * the session was resumed. Undefined without TLS, and between attempts.
   */
  readonly tls: TunnelTls | undefined;
  /**
   * With several servers only (`--to a,b`): the current one (`host:port`), whose host and
   * `publicPort` are the public address, and the last move between servers with its
   * reason. Absent with one server, so its views are as they were.
   */
  readonly server?: string;
  readonly moved?: { readonly from: string; readonly to: string; readonly reason: string };
}

/** The machine's `output`: its final view, once it is `stopped` or `fatal` (then `lastError` is why). */
export interface ClientOutput extends TunnelView {
  /** How it ended: `stopped` (a `STOP`), or `fatal` (it gave up). */
  readonly state: 'stopped' | 'fatal';
}

/** The fields of the context a view shows (and those it reads the server from: the list, the index, the last move). */
type ViewContext = Pick<TunnelView, 'publicPort' | 'attempt' | 'lastError' | 'retryDelayMs' | 'tls'> & {
  servers?: readonly { readonly name: string }[];
  server?: number;
  moved?: TunnelView['moved'];
};

/** The {@link TunnelView} of a snapshot of the machine (its state value and context). */
export function tunnelView(snapshot: { value: StateValue; context: ViewContext }): TunnelView {
  const value = snapshot.value;
  const state = (typeof value === 'string' ? value : Object.keys(value)[0]!) as TopState;
  return viewOf(state, snapshot.context);
}

/** The view of a machine in `state` with `context`. */
export function viewOf<S extends TopState>(state: S, context: ViewContext): TunnelView & { state: S } {
  const { publicPort, attempt, lastError, retryDelayMs, tls, servers = [], server = 0, moved } = context;
  const view = { state, publicPort, attempt, lastError, retryDelayMs, tls };
  if (servers.length < 2) return view;
  return { ...view, server: servers[server]?.name, ...(moved ? { moved } : {}) };
}

/** Whether two views show the same (a heartbeat re-enters a state and changes none). */
export function sameTunnelView(a: TunnelView, b: TunnelView): boolean {
  return (
    a.state === b.state &&
    a.publicPort === b.publicPort &&
    a.attempt === b.attempt &&
    a.retryDelayMs === b.retryDelayMs &&
    a.lastError?.code === b.lastError?.code &&
    a.lastError?.message === b.lastError?.message &&
    a.server === b.server &&
    a.moved?.reason === b.moved?.reason &&
    sameTls(a.tls, b.tls)
  );
}

/** Whether two control connections' TLS show the same (each secured connection has its own object). */
function sameTls(a: TunnelTls | undefined, b: TunnelTls | undefined): boolean {
  if (a === b) return true;
  if (!a || !b) return false;
  return (Object.keys(a) as (keyof TunnelTls)[]).every((k) => a[k] === b[k]);
}

/** A tunnel's public connections open now and its warm pool's counts (all zero without one). */
export type LiveCounts = {
  activeConnections: number;
  pool: PoolStats;
};

/**
 * What changes per connection, read from the tunnel's runtime when a view asks (the
 * inspector's `/snapshot`, its page): the public connections open now and the warm pool's
 * counts. They never pass through the machine (no event per connection); the inspector
 * serves them beside the context, as values derived from it.
 */
export function clientLiveCounts(context: { runtime: ClientRuntime }): LiveCounts {
  return { activeConnections: context.runtime.connections.size, pool: context.runtime.poolStats };
}
