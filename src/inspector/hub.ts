/**
 * The inspection hook: receives XState's inspection events for the tunnel's root actor,
 * keeps the latest snapshot and a short log of events and transitions, and tells
 * listeners about them. The hook itself only stores references and counts; all
 * serialization and delivery happen later on `setImmediate`, batched, so the tunnel
 * never waits on the inspector (and bytes of the tunnel never pass through it anyway).
 * It also keeps the root actor and the machines it spawned, for the page's controls
 * ({@link InspectorHub.actor}), and finds each tunnel's books of public connections in
 * its machine's runtime, for the sampler ({@link InspectorHub.books}).
 */
import { SECRET_KEYS } from '../log/redact.js';
import type { ActorRefLike, InspectionEvent } from 'xstate';
import { ConnectionBook } from '../net/connection-book.js';
import { activePaths } from './graph.js';

/** One line of the inspector's live log. */
export interface LogEntry {
  /** Increasing number; a repeated event updates its entry in place (same `seq`). */
  seq: number;
  /** Epoch ms of the (last) occurrence. */
  time: number;
  /** `event`: the machine received an event; `transition`: its state changed. */
  kind: 'event' | 'transition';
  /** The event type (for a transition: the event that caused it). */
  event: string;
  /** How many times in a row the event arrived (heartbeats repeat). */
  count: number;
  /** For transitions: the state before and after, as dotted paths. */
  from?: string;
  to?: string;
  /** For a transition of a child machine of the root (a supervisor's tunnel): its id. */
  actor?: string;
}

/** The JSON served at `/snapshot` and pushed to pages. */
export interface PublicSnapshot {
  /** The machine's state value, e.g. `"backoff"` or `{ "listening": "alive" }`. */
  value: unknown;
  /** Active state paths, e.g. `["listening", "listening.alive"]`. */
  active: string[];
  /** `active`, `done` or `error`. */
  status: string;
  /** The machine's context without its runtime objects (and never a secret). */
  context: Record<string, unknown>;
  /** Epoch ms when the snapshot was taken. */
  time: number;
  /**
   * The machines the root machine spawned, by id, when there are any (a supervisor's
   * tunnels, for `bore up --inspect`): each as above, without `time` (and with `steps`
   * only in pushed snapshots, when its state changed).
   */
  children?: Record<string, Omit<PublicSnapshot, 'time' | 'children'>>;
  /**
   * Only in snapshots pushed to pages: every change of state since the previous one
   * pushed, oldest first (several when they came faster than pages are updated). The
   * page highlights the arrows they took.
   */
  steps?: StateStep[];
}

/** A change of the machine's active states, and the event that caused it. */
export interface StateStep {
  /** Active state paths before and after, parents included. */
  from: string[];
  to: string[];
  /** The event's type. */
  event: string;
}

/** Listener of {@link InspectorHub} updates. */
export interface HubListener {
  snapshot(snapshot: PublicSnapshot): void;
  log(entries: LogEntry[]): void;
}

/** Context fields never served: the runtime objects, and every field that can carry a secret. */
const HIDDEN_KEYS = new Set(['runtime', 'auth', ...SECRET_KEYS]);

/** The machine's context as plain data: runtime objects replaced, secrets dropped. */
export function publicContext(context: unknown): Record<string, unknown> {
  if (!context || typeof context !== 'object') return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(context)) {
    if (HIDDEN_KEYS.has(k)) continue;
    if (v instanceof Map) out[k] = publicContext(Object.fromEntries(v));
    else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = publicContext(v);
    else out[k] = v === undefined ? null : v;
  }
  return out;
}

function stateKey(value: unknown): string {
  return activePaths(value).join(',');
}

/** Collects the tunnel actor's inspection events; see the module comment for the cost model. */
export class InspectorHub {
  /** Most recent log entries kept for pages that connect later. */
  static readonly LOG_SIZE = 200;

  readonly #listeners = new Set<HubListener>();
  readonly #log: LogEntry[] = [];
  #seq = 0;
  #latest: { value: unknown; status: string; context: unknown } | undefined;
  /** The latest snapshot of each machine the root spawned, its state key, its actor and its actor's session, by id. */
  readonly #children = new Map<
    string,
    { value: unknown; status: string; context: unknown; key: string; session: string; ref: ActorRefLike }
  >();
  /** The root actor (what the page's controls send events to, with its children). */
  #root: ActorRefLike | undefined;
  #steps: StateStep[] = [];
  /** Each child's changes of state since the last push, by id (kept, like {@link #steps}, only while pages listen). */
  #childSteps = new Map<string, StateStep[]>();
  #latestKey = '';
  #dirtySnapshot = false;
  #dirtyLog = new Set<LogEntry>();
  #scheduled = false;
  readonly #derived: ((context: never) => Record<string, unknown>) | undefined;

  /** Values computed from each child's context, served in it (see `InspectorOptions.childDerived`). */
  readonly #childDerived: ((context: never) => Record<string, unknown>) | undefined;

  /** `derived`, `childDerived`: values computed from the root machine's and each child's context, served in them (see `InspectorOptions`). */
  constructor(derived?: (context: never) => Record<string, unknown>, childDerived?: (context: never) => Record<string, unknown>) {
    this.#derived = derived;
    this.#childDerived = childDerived;
  }

  /** The XState `inspect` observer to pass to `createActor` / `startTunnel`. */
  readonly inspect = (ev: InspectionEvent): void => {
    if (ev.actorRef.sessionId !== ev.rootId) {
      if (ev.type === '@xstate.snapshot' && isChildMachine(ev)) this.#childSnapshot(ev);
      return;
    }
    this.#root = ev.actorRef;
    if (ev.type === '@xstate.event') {
      // A child's snapshot relayed to its parent (`syncSnapshot`) is no event of interest.
      if (ev.event.type.startsWith('xstate.snapshot.')) return;
      this.#addEvent(ev.event.type);
    } else if (ev.type === '@xstate.snapshot') {
      const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown };
      const key = stateKey(snap.value);
      if (key !== this.#latestKey) {
        const from = this.#latestKey;
        this.#latestKey = key;
        this.#push({ kind: 'transition', event: ev.event.type, from: leaf(from), to: leaf(key) });
        // Kept only while pages listen, and bounded like the log.
        if (this.#listeners.size > 0 && this.#latest && this.#steps.length < InspectorHub.LOG_SIZE)
          this.#steps.push({ from: activePaths(this.#latest.value), to: activePaths(snap.value), event: ev.event.type });
      }
      this.#latest = { value: snap.value, status: snap.status ?? 'active', context: snap.context };
      // A child the root stopped or that ended is gone from the root's children.
      const children = (ev.snapshot as { children?: Record<string, unknown> }).children ?? {};
      for (const id of this.#children.keys()) if (!Object.hasOwn(children, id)) this.#children.delete(id);
      this.#dirtySnapshot = true;
      this.#schedule();
    }
  };

  #childSnapshot(ev: Extract<InspectionEvent, { type: '@xstate.snapshot' }>): void {
    const snap = ev.snapshot as { value?: unknown; status?: string; context?: unknown };
    const id = (ev.actorRef as { id?: string }).id ?? ev.actorRef.sessionId;
    const key = stateKey(snap.value);
    const before = this.#children.get(id);
    if (before?.key !== key) {
      this.#push({ kind: 'transition', event: ev.event.type, from: leaf(before?.key ?? ''), to: leaf(key), actor: id });
      const steps = this.#childSteps.get(id) ?? [];
      if (this.#listeners.size > 0 && steps.length < InspectorHub.LOG_SIZE) {
        // A new machine under the same id (a restarted tunnel) starts from nothing, not from its predecessor's state.
        const from = before && before.session === ev.actorRef.sessionId ? activePaths(before.value) : [];
        this.#childSteps.set(id, [...steps, { from, to: activePaths(snap.value), event: ev.event.type }]);
      }
    }
    this.#children.set(id, {
      value: snap.value,
      status: snap.status ?? 'active',
      context: snap.context,
      key,
      session: ev.actorRef.sessionId,
      ref: ev.actorRef,
    });
    this.#dirtySnapshot = true;
    this.#schedule();
  }

  /** The latest snapshot as served to pages, or undefined before the actor started. */
  snapshot(): PublicSnapshot | undefined {
    const s = this.#latest;
    if (!s) return undefined;
    const out: PublicSnapshot = {
      value: s.value,
      active: activePaths(s.value),
      status: s.status,
      context: publicContext(this.#derived && s.context ? { ...s.context, ...this.#derived(s.context as never) } : s.context),
      time: Date.now(),
    };
    if (this.#children.size > 0) {
      out.children = Object.fromEntries(
        [...this.#children].map(([id, c]) => [
          id,
          {
            value: c.value,
            active: activePaths(c.value),
            status: c.status,
            context: publicContext(
              this.#childDerived && c.context ? { ...c.context, ...this.#childDerived(c.context as never) } : c.context,
            ),
          },
        ]),
      );
    }
    return out;
  }

  /** The actor of tunnel `name` (`''`: the root machine), if it is running. */
  actor(name: string): ActorRefLike | undefined {
    if (name === '') return this.#latest?.status === 'active' ? this.#root : undefined;
    const child = this.#children.get(name);
    return child?.status === 'active' ? child.ref : undefined;
  }

  /**
   * The books of each tunnel's public connections, by name (`''`: the root machine's,
   * when it is a tunnel's client machine): found in the machines' runtime, read by the
   * inspector's sampler.
   */
  books(): Map<string, ConnectionBook> {
    const out = new Map<string, ConnectionBook>();
    const bookOf = (context: unknown) => {
      const book = (context as { runtime?: { connections?: unknown } } | undefined)?.runtime?.connections;
      return book instanceof ConnectionBook ? book : undefined;
    };
    const root = bookOf(this.#latest?.context);
    if (root) out.set('', root);
    for (const [id, c] of this.#children) {
      const book = bookOf(c.context);
      if (book) out.set(id, book);
    }
    return out;
  }

  /** The recent log, oldest first. */
  log(): LogEntry[] {
    return [...this.#log];
  }

  /** Adds a listener; returns the function that removes it. */
  listen(listener: HubListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #addEvent(type: string): void {
    const last = this.#log[this.#log.length - 1];
    if (last && last.kind === 'event' && last.event === type) {
      last.count += 1;
      last.time = Date.now();
      this.#dirtyLog.add(last);
    } else {
      this.#push({ kind: 'event', event: type });
    }
    this.#schedule();
  }

  #push(entry: Omit<LogEntry, 'seq' | 'time' | 'count'>): void {
    const full: LogEntry = { seq: ++this.#seq, time: Date.now(), count: 1, ...entry };
    this.#log.push(full);
    if (this.#log.length > InspectorHub.LOG_SIZE) this.#log.shift();
    this.#dirtyLog.add(full);
  }

  #schedule(): void {
    if (this.#scheduled || this.#listeners.size === 0) {
      if (this.#listeners.size === 0) this.#dirtyLog.clear();
      return;
    }
    this.#scheduled = true;
    setImmediate(() => this.#flush());
  }

  /**
   * Delivers what is pending now rather than on the next `setImmediate`: the server
   * calls it before it closes, so that open pages get the final state.
   */
  flush(): void {
    this.#flush();
  }

  #flush(): void {
    this.#scheduled = false;
    const entries = [...this.#dirtyLog];
    this.#dirtyLog.clear();
    const snap = this.#dirtySnapshot ? this.snapshot() : undefined;
    if (snap && this.#steps.length) snap.steps = this.#steps;
    for (const [id, steps] of this.#childSteps) {
      const child = snap?.children?.[id];
      if (child) child.steps = steps;
    }
    this.#steps = [];
    this.#childSteps = new Map();
    this.#dirtySnapshot = false;
    for (const l of this.#listeners) {
      if (entries.length > 0) l.log(entries);
      if (snap) l.snapshot(snap);
    }
  }
}

/** Whether `ev` is about a state machine the root actor spawned itself (not the root's grandchildren, nor callback actors). */
function isChildMachine(ev: Extract<InspectionEvent, { type: '@xstate.snapshot' }>): boolean {
  const parent = (ev.actorRef as { _parent?: { sessionId?: string } })._parent;
  const snap = ev.snapshot as { value?: unknown } | undefined;
  return parent?.sessionId === ev.rootId && snap?.value !== undefined;
}

function leaf(key: string): string {
  const paths = key.split(',').filter(Boolean);
  return paths[paths.length - 1] ?? '';
}
