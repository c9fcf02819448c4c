/**
 * Where everything goes, as pure functions of the {@link ChartModel} (no DOM, no text
 * measuring: widths are estimated from character counts).
 *
 * Inside each compound state (and the root) the children stand in columns, layered:
 * a depth-first search from the initial child marks the edges that close a cycle
 * ("back" edges); every other edge goes at least one column to the right, so a child's
 * column is the longest path to it from the initial child ({@link rankColumns}). An edge
 * between neighbouring columns is a curve through the gap between them, and the gap is
 * widened to fit its labels; every other edge (longer, within a column, or backward)
 * runs in a lane of its own above or below the columns.
 */
import { type ChartEdge, type ChartModel, ROOT, childOf, isInside } from './model.js';

/** The drawing's sizes, in SVG units. */
export const SIZE = {
  /** Height of a note line. */
  line: 15,
  /** Inner margin of a box. */
  pad: 14,
  /** Height of a box's title. */
  head: 26,
  /** Vertical space between boxes of a column. */
  rowGap: 30,
  /** Least horizontal space between columns. */
  minGap: 70,
  /** Distance between two lanes. */
  lane: 18,
  /** Estimated width of a character of 12px text. */
  char: 6.6,
} as const;

/** Estimated width of a line of text (bold: a state's name). */
export function textWidth(text: string, bold = false): number {
  return text.length * (bold ? SIZE.char + 0.8 : SIZE.char);
}

/** An edge between two children of one container, from the child holding its source to the one holding its target. */
export interface Link {
  readonly from: string;
  readonly to: string;
}

/** The columns of a container: {@link rankColumns}'s result. */
export interface Columns {
  /** Children by column, left to right, each column top to bottom. */
  readonly columns: string[][];
  /** For each link (same index): whether it closes a cycle, so that it does not push its target right. */
  readonly back: boolean[];
}

/**
 * Puts the `children` of a container in columns. A depth-first search from `initial`
 * (then from each child not reached yet that has links of its own) gives the order
 * within columns and marks back links; a reached child's column is its longest path of
 * forward links from a search's start; children never reached go in one last column.
 */
export function rankColumns(children: readonly string[], initial: string | undefined, links: readonly Link[]): Columns {
  const visit = new Map<string, 'open' | 'done'>();
  const order: string[] = [];
  const back = links.map(() => false);
  const search = (p: string): void => {
    visit.set(p, 'open');
    order.push(p);
    links.forEach((l, i) => {
      if (l.from !== p) return;
      const seen = visit.get(l.to);
      if (seen === undefined) search(l.to);
      else if (seen === 'open') back[i] = true;
    });
    visit.set(p, 'done');
  };
  if (initial) search(initial);
  for (const c of children) if (!visit.has(c) && links.some((l) => l.from === c)) search(c);

  // Longest paths over forward links: they form a DAG, so at most one pass per child settles them.
  const rank = new Map(children.map((c) => [c, 0]));
  const at = (c: string) => rank.get(c) ?? 0;
  for (let pass = 0, changed = true; changed && pass <= children.length; pass++) {
    changed = false;
    links.forEach((l, i) => {
      if (back[i] || !visit.has(l.from) || at(l.to) >= at(l.from) + 1) return;
      rank.set(l.to, at(l.from) + 1);
      changed = true;
    });
  }
  const reached = children.filter((c) => visit.has(c));
  const last = order.length ? Math.max(0, ...reached.map(at)) + 1 : 0;
  for (const c of children) if (!visit.has(c)) rank.set(c, last);

  const position = (c: string) => (visit.has(c) ? order.indexOf(c) : Infinity);
  const columns: string[][] = [];
  for (const c of [...children].sort((a, b) => position(a) - position(b) || 0)) (columns[at(c)] ??= []).push(c);
  return { columns: columns.filter(Boolean), back };
}

/** A lane: a horizontal run above or below a container's columns. */
export interface Lane {
  readonly side: 'top' | 'bottom';
  /** Its y, relative to the container's box. */
  readonly y: number;
}

/** An edge drawn inside a container, between two of its children. */
export interface LocalEdge extends Link {
  readonly edge: ChartEdge;
  /** Columns from `from` to `to`: 1 for a curve through the gap; anything else runs in {@link lane}. */
  readonly span: number;
  /** The lane, for an edge that is not between neighbouring columns. */
  lane?: Lane;
}

/** A state's box (or the root's), with its children's boxes. */
export interface Box {
  /** The state's path (`''`: the root). */
  readonly path: string;
  width: number;
  height: number;
  /** Height of the title and notes. */
  readonly head: number;
  /** Position relative to the parent box (the root's: relative to the drawing). */
  x: number;
  y: number;
  /** Absolute position in the drawing. */
  ax: number;
  ay: number;
  /** The children's boxes, column by column. */
  readonly kids: Box[];
  /** The children's paths by column ({@link rankColumns}). */
  columns: string[][];
  /** The edges between children, drawn inside this box. */
  local: LocalEdge[];
  /** Path of the initial child (the dot and arrow point at it). */
  initial?: string;
}

/** The laid-out chart. */
export interface ChartLayout {
  readonly model: ChartModel;
  /** The root's box, at (10, 10). */
  readonly root: Box;
  /** Every box by path, parents before children (`''`: the root). */
  readonly boxes: ReadonlyMap<string, Box>;
  /** Size of the whole drawing (the root box and a margin of 10). */
  readonly width: number;
  readonly height: number;
}

/** Lays out the whole chart: box sizes, columns, lanes and absolute positions. */
export function layoutChart(model: ChartModel): ChartLayout {
  const boxes = new Map<string, Box>();
  const root = measure(model, ROOT, boxes);
  root.x = 10;
  root.y = 10;
  place(root, 0, 0);
  return { model, root, boxes, width: root.width + 20, height: root.height + 20 };
}

/** Height of a column of boxes, gaps included. */
function columnHeight(column: readonly string[], boxes: ReadonlyMap<string, Box>): number {
  let h = -SIZE.rowGap;
  for (const c of column) h += box(boxes, c).height + SIZE.rowGap;
  return h;
}

function box(boxes: ReadonlyMap<string, Box>, path: string): Box {
  const b = boxes.get(path);
  if (!b) throw new Error(`no box for state ${JSON.stringify(path)}`);
  return b;
}

/** Sizes the box of `path` and, inside it, places its children's boxes (relative positions). */
function measure(model: ChartModel, path: string, boxes: Map<string, Box>): Box {
  const state = model.states.get(path);
  const notes = model.notes.get(path) ?? [];
  const title = state ? state.key : model.id;
  const head = SIZE.head + notes.length * SIZE.line;
  let width = Math.max(120, textWidth(title, true) + 2 * SIZE.pad);
  for (const n of notes) width = Math.max(width, textWidth(n) + 2 * SIZE.pad);
  const self: Box = { path, width, height: head + 10, head, x: 0, y: 0, ax: 0, ay: 0, kids: [], columns: [], local: [] };
  boxes.set(path, self);
  const children = model.children.get(path) ?? [];
  if (!children.length) return self;

  const initial = state ? state.initial : model.initial;
  const links: (Link & { edge: ChartEdge })[] = [];
  for (const edge of model.edges) {
    const from = childOf(model, path, edge.source);
    const to = childOf(model, path, edge.target);
    if (from !== undefined && to !== undefined && from !== to && isInside(edge.source, path) && isInside(edge.target, path))
      links.push({ edge, from, to });
  }
  const { columns } = rankColumns(children, initial, links);
  for (const c of children) measure(model, c, boxes);

  const columnOf = new Map(columns.flatMap((column, i) => column.map((c) => [c, i] as const)));
  const col = (c: string) => columnOf.get(c) ?? 0;
  const local: LocalEdge[] = links.map((l) => ({ ...l, span: col(l.to) - col(l.from) }));
  // Gaps between columns fit the labels of the edges that cross them.
  const gaps = columns.map((): number => SIZE.minGap);
  for (const l of local) {
    if (l.span !== 1) continue;
    for (const label of l.edge.labels) gaps[col(l.from)] = Math.max(gaps[col(l.from)] ?? SIZE.minGap, textWidth(label) + 36);
  }
  const areaHeight = Math.max(0, ...columns.map((column) => columnHeight(column, boxes)));
  const { above, below } = laneSides(local, columns, boxes, areaHeight);
  const top = self.head + 8 + (above.length ? above.length * SIZE.lane + 12 : 0);
  above.forEach((l, i) => (l.lane = { side: 'top', y: top - 12 - i * SIZE.lane }));
  below.forEach((l, i) => (l.lane = { side: 'bottom', y: top + areaHeight + 16 + i * SIZE.lane }));

  let x = SIZE.pad + 14;
  columns.forEach((column, i) => {
    const columnWidth = Math.max(0, ...column.map((c) => box(boxes, c).width));
    let y = top + (areaHeight - columnHeight(column, boxes)) / 2;
    for (const c of column) {
      const kid = box(boxes, c);
      kid.x = x + (columnWidth - kid.width) / 2;
      kid.y = y;
      y += kid.height + SIZE.rowGap;
      self.kids.push(kid);
    }
    x += columnWidth + (i < columns.length - 1 ? (gaps[i] ?? SIZE.minGap) : 0);
  });
  self.columns = columns;
  self.local = local;
  self.initial = initial;
  // Labels of arrows from this box's border down to a descendant (e.g. STOP) may stick out on the right.
  let extra = 0;
  for (const e of model.edges) {
    if (e.source !== path || e.target === path || !isInside(e.target, path)) continue;
    const kid = box(boxes, childOf(model, path, e.target) ?? '');
    extra = Math.max(extra, kid.x + kid.width / 2 + 6 + textWidth(`${e.labels.join('; ')} (from any state)`) - x + 10);
  }
  self.width = Math.max(self.width, x + SIZE.pad + extra);
  self.height = top + areaHeight + (below.length ? below.length * SIZE.lane + 20 : 0) + SIZE.pad;
  return self;
}

/**
 * Splits the edges that are not between neighbouring columns into those that run above
 * the columns (forward edges whose target's middle is in the upper half) and those that
 * run below (any other: backward edges, edges within a column). Each gets a lane of its
 * own, numbered from the columns outwards in this order.
 */
function laneSides(
  local: readonly LocalEdge[],
  columns: readonly string[][],
  boxes: ReadonlyMap<string, Box>,
  areaHeight: number,
): { above: LocalEdge[]; below: LocalEdge[] } {
  const above: LocalEdge[] = [];
  const below: LocalEdge[] = [];
  for (const l of local) {
    if (l.span === 1) continue;
    const column = columns.find((c) => c.includes(l.to)) ?? [];
    let y = 0;
    for (const c of column) {
      if (c === l.to) break;
      y += box(boxes, c).height + SIZE.rowGap;
    }
    const middle = (areaHeight - columnHeight(column, boxes)) / 2 + y + box(boxes, l.to).height / 2;
    (l.span > 1 && middle < areaHeight / 2 ? above : below).push(l);
  }
  return { above, below };
}

/** Turns relative positions into absolute ones. */
function place(b: Box, ox: number, oy: number): void {
  b.ax = ox + b.x;
  b.ay = oy + b.y;
  for (const k of b.kids) place(k, b.ax, b.ay);
}
