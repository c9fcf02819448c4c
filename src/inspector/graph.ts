/**
 * The statechart as plain data, read from the machine's own definition (never drawn
 * by hand, so the picture cannot drift from the code): every state and every
 * transition, including `after` delays and the `onDone`/`onError` of invoked actors.
 */
import type { AnyStateMachine } from 'xstate';

/** One state of the chart. */
export interface GraphState {
  /** Dotted path below the root, e.g. `listening.alive` (used as `data-state`). */
  path: string;
  /** The state's own key, e.g. `alive`. */
  key: string;
  /** Path of the parent state, `''` for top-level states. */
  parent: string;
  /** `atomic`, `compound`, `parallel`, `final` or `history`. */
  type: string;
  /** Path of the initial child, for compound states. */
  initial?: string;
  /** Sources of the actors invoked while in the state. */
  invoke: string[];
  /** Entry actions, by name. */
  entry: string[];
  /** Exit actions, by name. */
  exit: string[];
}

/** One transition of the chart. */
export interface GraphTransition {
  /** Path of the state that declares the transition (`''` for the root). */
  source: string;
  /** Paths of the targets; empty for a transition that stays in place (actions only). */
  targets: string[];
  /** What triggers it: `on` an event, `after` a delay, `done`/`error` of an invoked actor, or `always`. */
  kind: 'on' | 'after' | 'done' | 'error' | 'always';
  /** Human label of the trigger: the event type, the delay name, or the invoked actor's source. */
  trigger: string;
  /** Name of the guard, if any. */
  guard?: string;
  /** Action names. */
  actions: string[];
  /** Whether the transition re-enters its source. */
  reenter: boolean;
}

/** The whole chart: the machine id, its states (parents before children) and transitions. */
export interface MachineGraph {
  id: string;
  /** Path of the root's initial state. */
  initial?: string;
  /** Sources of the actors the root invokes (they live as long as the machine). */
  invoke: string[];
  states: GraphState[];
  transitions: GraphTransition[];
}

/**
 * What `/graph` serves: the root machine's chart and, when the root spawns machines of
 * its own (a supervisor's tunnels), the chart they all run.
 */
export interface InspectorGraph extends MachineGraph {
  /** The chart of every child machine of the root (the client machine under a supervisor); absent for a single tunnel. */
  child?: MachineGraph;
}

/** The subset of XState's StateNode this module reads (kept loose: it is internal API). */
interface Node {
  id: string;
  key: string;
  path: string[];
  type: string;
  states: Record<string, Node>;
  initial?: { target: readonly Node[] };
  invoke: readonly { id: string; src: unknown }[];
  entry: readonly unknown[];
  exit: readonly unknown[];
  transitions: Map<string, readonly Transition[]>;
  always?: readonly Transition[];
}

interface Transition {
  eventType: string;
  target?: readonly Node[];
  guard?: unknown;
  actions: readonly unknown[];
  reenter: boolean;
  delay?: unknown;
}

function nameOf(x: unknown): string {
  if (typeof x === 'string') return x;
  // XState's built-in actions are functions carrying a `type` such as `xstate.assign`.
  if (x && (typeof x === 'object' || typeof x === 'function') && 'type' in x && typeof x.type === 'string') return x.type;
  if (typeof x === 'function') return x.name || 'inline';
  return 'inline';
}

function pathOf(node: Node): string {
  return node.path.join('.');
}

/** Reads the chart of `machine` (states, transitions, delays, invokes) from its definition. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as Node;
  const states: GraphState[] = [];
  const transitions: GraphTransition[] = [];

  const visit = (node: Node): void => {
    const path = pathOf(node);
    const invokeById = new Map(node.invoke.map((inv) => [inv.id, nameOf(inv.src)]));
    if (node !== root) {
      states.push({
        path,
        key: node.key,
        parent: node.path.slice(0, -1).join('.'),
        type: node.type,
        initial: node.initial?.target[0] ? pathOf(node.initial.target[0]) : undefined,
        invoke: [...invokeById.values()],
        entry: node.entry.map(nameOf),
        exit: node.exit.map(nameOf),
      });
    }
    const all = [...[...node.transitions.values()].flat(), ...(node.always ?? [])];
    for (const t of all) {
      transitions.push({
        source: path,
        targets: (t.target ?? []).map(pathOf),
        ...trigger(t, node.always?.includes(t) ?? false, invokeById),
        guard: t.guard === undefined ? undefined : nameOf(t.guard),
        actions: t.actions.map(nameOf),
        reenter: t.reenter,
      });
    }
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(root);
  return {
    id: root.id,
    initial: root.initial?.target[0] ? pathOf(root.initial.target[0]) : undefined,
    invoke: root.invoke.map((inv) => nameOf(inv.src)),
    states,
    transitions,
  };
}

function trigger(t: Transition, always: boolean, invokeById: Map<string, string>): Pick<GraphTransition, 'kind' | 'trigger'> {
  if (always) return { kind: 'always', trigger: 'always' };
  const type = t.eventType;
  if (type.startsWith('xstate.after.')) {
    return { kind: 'after', trigger: typeof t.delay === 'number' ? `${t.delay}ms` : nameOf(t.delay) };
  }
  for (const [prefix, kind] of [
    ['xstate.done.actor.', 'done'],
    ['xstate.error.actor.', 'error'],
  ] as const) {
    if (type.startsWith(prefix)) {
      const id = type.slice(prefix.length);
      return { kind, trigger: invokeById.get(id) ?? id };
    }
  }
  return { kind: 'on', trigger: type };
}

/** The active state paths of a state value, e.g. `{ listening: 'alive' }` → `listening`, `listening.alive`. */
export function activePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (!value || typeof value !== 'object') return [];
  const out: string[] = [];
  for (const [key, child] of Object.entries(value)) {
    out.push(prefix + key);
    out.push(...activePaths(child, `${prefix}${key}.`));
  }
  return out;
}
