/**
 * Several tunnels in one process (`bore up`, `bore local 3000 8080:18080`), as pure
 * functions (no DOM): the list of tunnels the page shows from a supervisor's snapshot,
 * each with its state, the tone of its pill and its address, the snapshot its chart and
 * context table show, and the supervisor's own context table.
 */
import { type ContextRow, NONE, stateText } from './format.js';
import type { ChildSnapshotView, ContextView, SnapshotView } from './wire.js';

/** The colour of a tunnel's pill: `ok` listening, `wait` on its way (connecting, backoff), `bad` gave up, `off` stopped. */
export type Tone = 'ok' | 'wait' | 'bad' | 'off';

/** One tunnel as the page lists it. */
export interface TunnelItem {
  /** Its name (the config file's table name, or the mapping as written). */
  name: string;
  /** Its client machine's top-level state, e.g. `listening` or `backoff`. */
  state: string;
  tone: Tone;
  /** `local → public`, e.g. `localhost:3000 → bore.pub:41234`. */
  address: string;
  /** What its chart and context table show. */
  view: ChildSnapshotView;
}

/** The tone of a tunnel's pill for its top-level state. */
export function stateTone(state: string): Tone {
  if (state === 'listening') return 'ok';
  if (state === 'fatal') return 'bad';
  if (state === 'stopped') return 'off';
  return 'wait';
}

/** The tone of the supervisor's pill for its aggregate (`listening`, `starting`, `reconnecting`, `degraded`, `waiting`, `gone`). */
export function aggregateTone(aggregate: string): Tone {
  if (aggregate === 'listening') return 'ok';
  if (aggregate === 'degraded' || aggregate === 'waiting') return 'bad';
  if (aggregate === 'gone') return 'off';
  return 'wait';
}

/**
 * `localhost:3000 → bore.pub:41234`; the public side is `…` until the server gave a
 * port; `—` without settings (a tunnel that gave up before the page saw its machine).
 */
export function tunnelAddress(context: ContextView): string {
  const st = context.settings;
  if (!st) return NONE;
  const local = st.localPort == null ? '?' : `${st.localHost ?? 'localhost'}:${st.localPort}`;
  const to = st.to ?? '?';
  return `${local} \u2192 ${context.publicPort == null ? `${to}:\u2026` : `${to}:${context.publicPort}`}`;
}

/**
 * The tunnels of a supervisor's snapshot, in the supervisor's order (then any other
 * running child). A tunnel whose machine is gone (it gave up, and the supervisor stopped
 * it) is shown from the supervisor's view of it over `seen`, its last snapshot the page
 * saw, if any: its chart then marks its final state.
 */
export function tunnelItems(snapshot: SnapshotView, seen: ReadonlyMap<string, ChildSnapshotView> = new Map()): TunnelItem[] {
  const statuses = snapshot.context.tunnels ?? {};
  const children = snapshot.children ?? {};
  const names = [...new Set([...Object.keys(statuses), ...Object.keys(children)])];
  return names.map((name) => {
    const status = statuses[name];
    let view = children[name];
    if (!view) {
      const last = seen.get(name);
      const state = status?.state ?? last?.active[0] ?? '?';
      view = {
        value: state,
        active: [state],
        status: state === 'fatal' || state === 'stopped' ? 'done' : 'active',
        context: {
          ...last?.context,
          publicPort: status?.publicPort ?? last?.context.publicPort ?? null,
          attempt: status?.attempt ?? last?.context.attempt ?? null,
          lastError: status?.lastError ?? last?.context.lastError ?? null,
          nextRetryAt: null,
        },
      };
    }
    const state = view.active[0] ?? status?.state ?? '?';
    return { name, state, tone: stateTone(state), address: tunnelAddress(view.context), view };
  });
}

/** The supervisor's context table: its state, the aggregate, and each tunnel's state. */
export function supervisorRows(snapshot: SnapshotView): ContextRow[] {
  const c = snapshot.context;
  const tunnels = Object.entries(c.tunnels ?? {});
  return [
    { label: 'state', value: stateText(snapshot.value) },
    { label: 'tunnels', value: c.aggregate ? `${tunnels.length}, ${c.aggregate}` : String(tunnels.length) },
    ...tunnels.map(([name, t]) => ({
      label: name,
      value: t.state + (t.publicPort == null ? '' : `, port ${t.publicPort}`) + (t.lastError ? `; ${t.lastError.message}` : ''),
      ...(t.state === 'fatal' ? { className: 'err' } : {}),
    })),
    { label: 'stopping', value: c.stopping?.length ? c.stopping.join(', ') : NONE },
  ];
}
