/**
 * The page's texts, as pure functions (no DOM): transition labels, times, log lines and
 * the rows of the context table.
 */
import type { GraphTransition } from '../graph.js';
import type { ChildSnapshotView, LogEntryView, PoolView, SnapshotView, TlsView } from './wire.js';

/**
 * Whether an action is not worth showing: XState plumbing (`xstate.raise`,
 * `xstate.cancel`), or one of the client machine's log hooks (`logListening`: the
 * runner's log lines).
 */
export function isHiddenAction(name: string): boolean {
  return /^xstate\.(raise|cancel)/.test(name) || /^log[A-Z]/.test(name);
}

/** The actions worth showing, by name (`xstate.assign` shown as `assign`). */
export function shownActions(names: readonly string[]): string[] {
  return names.filter((a) => !isHiddenAction(a)).map((a) => (a === 'xstate.assign' ? 'assign' : a));
}

/** A transition's label: `EVENT`, `after delay` or `kind: actor`, then `[guard]` and `/ actions`. */
export function transitionLabel(t: GraphTransition): string {
  let label = t.kind === 'on' || t.kind === 'always' ? t.trigger : t.kind === 'after' ? `after ${t.trigger}` : `${t.kind}: ${t.trigger}`;
  if (t.guard) label += ` [${t.guard}]`;
  const actions = shownActions(t.actions);
  if (actions.length) label += ` / ${actions.join(', ')}`;
  return label;
}

/** `hh:mm:ss.mmm` in local time. */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}

/** The state shown in the header: the deepest active state, `(done)` once the machine is. */
export function stateTitle(snapshot: SnapshotView): string {
  const { active } = snapshot;
  return (active.length ? active[active.length - 1] : '?') + (snapshot.status === 'done' ? ' (done)' : '');
}

/** A log line without its time: `from → to   (event)` or `EVENT  ×count`; a tunnel's transition under a supervisor starts with `[name] `. */
export function logText(entry: LogEntryView): string {
  const text =
    entry.kind === 'transition'
      ? `${entry.from || '(start)'} \u2192 ${entry.to}   (${entry.event})`
      : entry.event + (entry.count > 1 ? `  \u00d7${entry.count}` : '');
  return entry.actor === undefined ? text : `[${entry.actor}] ${text}`;
}

/**
 * A state value in words: `backoff`, `listening (heartbeat alive, pool open)` for
 * `{ listening: { heartbeat: 'alive', pool: 'open' } }`.
 */
export function stateText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return NONE;
  return Object.entries(value as Record<string, unknown>)
    .map(([k, v]) => (typeof v === 'string' ? `${k} ${v}` : `${k} (${stateText(v)})`))
    .join(', ');
}

/** One row of the context table. */
export interface ContextRow {
  label: string;
  value: string;
  /** Class of the value cell (`err` for a failure), if any. */
  className?: string;
}

/** What a missing value shows. */
export const NONE = '\u2014';

/** The context table of a client machine's snapshot (a tunnel's); `now` (epoch ms) counts down to the next retry. */
export function contextRows(snapshot: ChildSnapshotView, now: number): ContextRow[] {
  const c = snapshot.context;
  const st = c.settings || {};
  const err = c.lastError;
  const servers = c.servers ?? [];
  const current = servers.length > 1 ? servers[c.server ?? 0]?.name : undefined;
  const show = (value: string | number | null | undefined) => (value === undefined ? NONE : String(value));
  let retry = NONE;
  if (c.nextRetryAt) {
    const left = Math.max(0, c.nextRetryAt - now) / 1000;
    retry = `${formatTime(c.nextRetryAt)} (in ${left.toFixed(1)}s, delay ${((c.retryDelayMs || 0) / 1000).toFixed(1)}s)`;
  }
  return [
    { label: 'state', value: stateText(snapshot.value) },
    { label: 'attempt', value: show(c.attempt) },
    { label: 'public port', value: c.publicPort == null ? NONE : `${hostOf(current, st.to)}:${c.publicPort}` },
    { label: 'active connections', value: show(c.activeConnections) },
    err
      ? { label: 'last error', value: `${err.message} (${err.code}, ${err.class})`, className: 'err' }
      : { label: 'last error', value: NONE },
    { label: 'next retry', value: retry },
    { label: 'failures', value: show(c.failures) },
    { label: 'reconnects', value: show(c.reconnects) },
    // The session actor owns the socket; it is open while connected (securing, authenticating or listening).
    {
      label: 'control connection',
      value: ['securing', 'authenticating', 'listening'].some((s) => snapshot.active.includes(s)) ? 'open' : 'closed',
    },
    { label: 'server', value: current ?? `${st.to}:${st.controlPort}` },
    ...serverRows(c),
    ...tlsRows(c.tls),
    { label: 'local service', value: `${st.localHost}:${st.localPort}` },
    { label: 'connection pool', value: poolText(c.pool) },
  ];
}

/** `host` of `host:port` (a bracketed IPv6 address unbracketed), else `fallback`. */
function hostOf(name: string | undefined, fallback: string | undefined): string | undefined {
  return name === undefined ? fallback : name.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
}

/** With several servers: each one (current, refused, its sticky port) and the last move with its reason. */
function serverRows(c: ChildSnapshotView['context']): ContextRow[] {
  const servers = c.servers ?? [];
  if (servers.length < 2) return [];
  const list = servers
    .map((s, i) => `${i === c.server ? '\u25b6 ' : ''}${s.name}${s.refused ? ' (refused)' : ''}${s.port ? ` port ${s.port}` : ''}`)
    .join(', ');
  const moved = c.moved ? `to ${c.moved.to}: ${c.moved.reason}` : NONE;
  return [
    { label: 'servers', value: list },
    { label: 'moved', value: moved },
  ];
}

/** The TLS of the control connection: protocol and cipher, then the server's certificate once secured. */
function tlsRows(tls: TlsView | null | undefined): ContextRow[] {
  if (!tls) return [{ label: 'TLS', value: NONE }];
  return [
    { label: 'TLS', value: `${tls.protocol}, ${tls.cipher}, ${tls.resumed ? 'session resumed' : 'full handshake'}` },
    { label: 'server certificate', value: tls.subject || NONE },
    { label: 'fingerprint', value: tls.fingerprint || NONE },
    { label: 'certificate expires', value: tls.validTo || NONE },
  ];
}

/**
 * The pool row: `3 idle of 4, 1 in use; 120 served, 2 refills, 5 fallbacks` (none while
 * the server offers no pool); then the multiplexed connection, if the client keeps one:
 * `...; multiplexed: ready, 37 served`.
 */
function poolText(pool: PoolView | null | undefined): string {
  if (!pool) return NONE;
  const mux = pool.multiplexed;
  if (mux) return `${poolText({ ...pool, multiplexed: undefined })}; multiplexed: ${mux.ready ? 'ready' : 'not up'}, ${mux.served} served`;
  const totals = `${pool.served} served, ${pool.refills} refills, ${pool.fallbacks} fallbacks`;
  if (pool.size === 0) return pool.served > 0 || pool.inUse > 0 ? `none now (${pool.inUse} in use; ${totals})` : 'none';
  const failures = pool.failures > 0 ? `, ${pool.failures} failures` : '';
  return `${pool.idle} idle of ${pool.size}, ${pool.inUse} in use; ${totals}${failures}`;
}
