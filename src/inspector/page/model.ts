/**
 * The chart as the page draws it, derived from `/graph` without any geometry: the tree
 * of states, the lines written inside each box (invokes, entry/exit actions, and the
 * transitions that stay in place), and the arrows, one per source and target with the
 * labels of every transition between them. Pure: no DOM.
 */
import type { GraphState, MachineGraph } from '../graph.js';
import { shownActions, transitionLabel } from './format.js';

/** The root's path (the machine itself). */
export const ROOT = '';

/** An arrow: every transition from `source` to `target`, one label each. */
export interface ChartEdge {
  /** Path of the state that declares the transitions (`''`: the root). */
  readonly source: string;
  /** Path of their target. */
  readonly target: string;
  /** One label per transition, in definition order. */
  readonly labels: string[];
}

/** The chart to lay out: {@link MachineGraph} indexed, with notes and merged edges. */
export interface ChartModel {
  /** The machine id (the root box's title). */
  readonly id: string;
  /** Path of the root's initial state. */
  readonly initial?: string;
  /** Every state by path, parents before children. */
  readonly states: ReadonlyMap<string, GraphState>;
  /** Children of each state by path (`''`: the root's), in definition order. */
  readonly children: ReadonlyMap<string, readonly string[]>;
  /** Lines written in each box under its title (`''`: the root's). */
  readonly notes: ReadonlyMap<string, readonly string[]>;
  /** The arrows, in the order of their first transition. */
  readonly edges: readonly ChartEdge[];
}

/** Builds the {@link ChartModel} of a graph served at `/graph`. */
export function chartModel(graph: MachineGraph): ChartModel {
  const states = new Map<string, GraphState>();
  const children = new Map<string, string[]>([[ROOT, []]]);
  const notes = new Map<string, string[]>();
  for (const s of graph.states) {
    states.set(s.path, s);
    children.set(s.path, []);
  }
  for (const s of graph.states) children.get(s.parent)?.push(s.path);
  for (const s of graph.states) {
    const lines: string[] = [];
    if (s.invoke.length) lines.push(`invoke: ${s.invoke.join(', ')}`);
    const entry = shownActions(s.entry);
    if (entry.length) lines.push(`entry / ${entry.join(', ')}`);
    const exit = shownActions(s.exit);
    if (exit.length) lines.push(`exit / ${exit.join(', ')}`);
    notes.set(s.path, lines);
  }
  notes.set(ROOT, graph.invoke.length ? [`invoke: ${graph.invoke.join(', ')}`] : []);

  const edges = new Map<string, ChartEdge>();
  for (const t of graph.transitions) {
    const label = transitionLabel(t);
    const own = notes.get(t.source) ?? [];
    // A transition without a target, or back to its own state, is written in the box.
    if (t.targets.length === 0) own.push(`\u2022 ${label}`);
    for (const target of t.targets) {
      if (target === t.source) {
        own.push(`\u21bb ${label}`);
        continue;
      }
      const key = JSON.stringify([t.source, target]);
      let edge = edges.get(key);
      if (!edge) edges.set(key, (edge = { source: t.source, target, labels: [] }));
      edge.labels.push(label);
    }
  }
  return { id: graph.id, initial: graph.initial, states, children, notes, edges: [...edges.values()] };
}

/** Whether `path` lies inside `ancestor` (every state lies inside the root). */
export function isInside(path: string, ancestor: string): boolean {
  return ancestor === ROOT || path.startsWith(`${ancestor}.`);
}

/** The child of `container` that is or contains `path`; undefined if `path` is not below it. */
export function childOf(model: ChartModel, container: string, path: string): string | undefined {
  let p: string | undefined = path;
  while (p !== undefined && model.states.get(p)?.parent !== container) p = model.states.get(p)?.parent;
  return p;
}
