/**
 * Where everything goes, as pure functions of the {@link ChartModel} (no DOM, no text
 * measuring: widths are estimated from character counts).
 *
 * The chart reads top to bottom. Inside each compound state (and the root) the children
 * stand in rows: a depth-first search from the initial child marks the edges that close
 * a cycle ("back" edges); every other edge goes at least one row down, so a child's row
 * is the longest path to it from the initial child ({@link rankRows}). Between two rows
 * (and above the first) runs a channel that no box stands in: every arrow leaves its
 * source's bottom into the channel under the source's row, with its label there, one
 * line of the channel each. An arrow to the next row goes on to its target's top; a
 * longer, backward or sideways one runs to a vertical lane beside the rows (right going
 * down, left going up), shared by every such arrow to the same target, and reaches its
 * target through the channel above it. So no arrow crosses a box, and labels never widen
 * the chart between its boxes: a chart fits a laptop's width at 100%.
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
  /** Horizontal space between the boxes of a row. */
  colGap: 36,
  /** Height of a channel with no arrow in it. */
  rowGap: 26,
  /** Height of one line (an arrow's run and its label) of a channel. */
  slot: 18,
  /** Space in a channel above its first line, and under its last (the arrows' final drop). */
  slotTop: 6,
  slotBottom: 16,
  /** Distance between two vertical lanes, and from the rows to the first. */
  lane: 16,
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

/** The rows of a container: {@link rankRows}'s result. */
export interface Rows {
  /** Children by row, top to bottom, each row left to right. */
  readonly rows: string[][];
  /** For each link (same index): whether it closes a cycle, so that it does not push its target down. */
  readonly back: boolean[];
}

/**
 * Puts the `children` of a container in rows. A depth-first search from `initial` (then
 * from each child not reached yet that has links of its own) marks back links; a reached
 * child's row is its longest path of forward links from a search's start; children
 * never reached (a parallel state's regions, a state entered only from outside) join the
 * first row. Within a row, children that leave by a back link come first (their lane is
 * on the left), then the search's order.
 */
export function rankRows(children: readonly string[], initial: string | undefined, links: readonly Link[]): Rows {
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
  const leavesBack = new Set(links.filter((_, i) => back[i]).map((l) => l.from));
  const position = (c: string) => (visit.has(c) ? order.indexOf(c) : order.length + children.indexOf(c));
  const key = (c: string) => (leavesBack.has(c) ? 0 : 1);
  const rows: string[][] = [];
  for (const c of [...children].sort((a, b) => key(a) - key(b) || position(a) - position(b))) (rows[at(c)] ??= []).push(c);
  return { rows: rows.filter(Boolean), back };
}

/** How an edge between two children runs, by their rows. */
export type EdgeKind = 'next' | 'same' | 'down' | 'up';

/**
 * A vertical lane beside the rows. `local`: the way of every longer, backward or
 * sideways edge between children to one target. `entry`: the way in of every edge from
 * outside to one descendant of a child below the first row (it comes in at the top).
 * `exit`: the way out of one edge from a descendant of a child above the last row to
 * outside (it leaves at the bottom).
 */
export interface Lane {
  readonly kind: 'local' | 'entry' | 'exit';
  readonly side: 'left' | 'right';
  /** The edges' common target (`local`, `entry`), or the one edge's source (`exit`). */
  readonly target: string;
  /** The one edge of an `exit` lane. */
  readonly edge?: ChartEdge;
  /** Row of the child the lane ends at (`local`, `entry`: in the channel above it) or starts from (`exit`: in the channel under it). */
  readonly row: number;
  /** Its x, relative to the container's box. */
  x: number;
}

/** An edge drawn inside a container, between two of its children. */
export interface LocalEdge extends Link {
  readonly edge: ChartEdge;
  /** Rows of `from` and `to`. */
  readonly fromRow: number;
  readonly toRow: number;
  /** `next`: one row down, straight through the channel; `down`/`up`/`same`: through {@link lane}. */
  readonly kind: EdgeKind;
  /** The lane, for any but a `next` edge. */
  lane?: Lane;
}

/** A channel: the space under a row (or above the first), where arrows and their labels run. */
export interface Channel {
  /** The row above it (-1: the channel above the first row). */
  readonly row: number;
  /** Number of lines: one per edge leaving the row above, one per lane arriving at the row below, one per drop. */
  readonly lines: number;
  /** Its top, relative to the container's box. */
  y: number;
  readonly height: number;
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
  /** The children's boxes, row by row. */
  readonly kids: Box[];
  /** The children's paths by row ({@link rankRows}). */
  rows: string[][];
  /** The edges between children, drawn inside this box. */
  local: LocalEdge[];
  /** The lanes of those edges, left ones outermost first, right ones innermost first. */
  lanes: Lane[];
  /** The channels, the one above the first row first. */
  channels: Channel[];
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

/** Lays out the whole chart: box sizes, rows, channels, lanes and absolute positions. */
export function layoutChart(model: ChartModel): ChartLayout {
  const boxes = new Map<string, Box>();
  const root = measure(model, ROOT, boxes);
  root.x = 10;
  root.y = 10;
  place(root, 0, 0);
  return { model, root, boxes, width: root.width + 20, height: root.height + 20 };
}

/** The box of `path`. */
export function boxAt(boxes: ReadonlyMap<string, Box>, path: string): Box {
  const b = boxes.get(path);
  if (!b) throw new Error(`no box for state ${JSON.stringify(path)}`);
  return b;
}

/** The edges drawn from a container's title down to one of its descendants (e.g. the root's `STOP`). */
export function dropsOf(model: ChartModel, path: string): ChartEdge[] {
  return model.edges.filter((e) => e.source === path && e.target !== path && isInside(e.target, path));
}

/** The words under a drop's line: its labels, and for the root's, that it leaves any state. */
export function dropLabel(edge: ChartEdge): string {
  return edge.labels.join('; ') + (edge.source === ROOT ? ' (from any state)' : '');
}

/** Sizes the box of `path` and, inside it, places its children's boxes (relative positions). */
function measure(model: ChartModel, path: string, boxes: Map<string, Box>): Box {
  const state = model.states.get(path);
  const notes = model.notes.get(path) ?? [];
  const title = state ? state.key : model.id;
  const head = SIZE.head + notes.length * SIZE.line;
  let width = Math.max(120, textWidth(title, true) + 2 * SIZE.pad);
  for (const n of notes) width = Math.max(width, textWidth(n) + 2 * SIZE.pad);
  const self: Box = {
    path,
    width,
    height: head + 10,
    head,
    x: 0,
    y: 0,
    ax: 0,
    ay: 0,
    kids: [],
    rows: [],
    local: [],
    lanes: [],
    channels: [],
  };
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
  const { rows } = rankRows(children, initial, links);
  for (const c of children) measure(model, c, boxes);
  const rowOf = new Map(rows.flatMap((row, i) => row.map((c) => [c, i] as const)));
  const row = (c: string) => rowOf.get(c) ?? 0;
  const local: LocalEdge[] = links.map((l) => {
    const [fromRow, toRow] = [row(l.from), row(l.to)];
    const kind: EdgeKind = toRow === fromRow + 1 ? 'next' : toRow > fromRow ? 'down' : toRow < fromRow ? 'up' : 'same';
    return { ...l, fromRow, toRow, kind };
  });
  const lanes = laneFor(local, throughLanes(model, path, row, rows.length));
  const drops = dropsOf(model, path);

  // Rows side by side, centred on the widest; the initial dot and the left lanes to their left.
  const lefts = lanes.filter((l) => l.side === 'left');
  const rights = lanes.filter((l) => l.side === 'right');
  const areaLeft = SIZE.pad + 18 + (lefts.length ? lefts.length * SIZE.lane + 6 : 0);
  const rowWidth = (r: readonly string[]) => r.reduce((w, c) => w + boxAt(boxes, c).width, (r.length - 1) * SIZE.colGap);
  const areaWidth = Math.max(...rows.map(rowWidth));
  lefts.forEach((l, i) => (l.x = SIZE.pad + 6 + i * SIZE.lane));

  // Channels: lines for the edges leaving the row above, the lanes arriving at the row below, the drops.
  const lines = (r: number) =>
    local.filter((l) => l.fromRow === r).length +
    lanes.filter((l) => (l.kind === 'exit' ? l.row === r : l.row === r + 1)).length +
    (r === -1 ? drops.length : 0);
  const channel = (r: number): Channel => {
    const n = lines(r);
    return { row: r, lines: n, y: 0, height: n ? SIZE.slotTop + n * SIZE.slot + SIZE.slotBottom : r === -1 ? 4 : SIZE.rowGap };
  };
  let y = head + 4;
  const channels: Channel[] = [];
  for (let r = -1; r < rows.length; r++) {
    if (r >= 0) {
      let x = areaLeft + (areaWidth - rowWidth(rows[r]!)) / 2;
      for (const c of rows[r]!) {
        const kid = boxAt(boxes, c);
        kid.x = x;
        kid.y = y;
        x += kid.width + SIZE.colGap;
        self.kids.push(kid);
      }
      y += Math.max(...rows[r]!.map((c) => boxAt(boxes, c).height));
    }
    const ch = channel(r);
    if (r === rows.length - 1 && !ch.lines) break;
    ch.y = y;
    y += ch.height;
    channels.push(ch);
  }
  self.rows = rows;
  self.local = local;
  self.lanes = lanes;
  self.channels = channels;
  self.initial = initial;
  // Labels start beside their line and may reach past the rows; the right lanes run past them.
  let right = areaLeft + areaWidth;
  const reach = (p: string, text: string) => offsetIn(model, boxes, p, path) + boxAt(boxes, p).width + 6 + textWidth(text);
  for (const l of local) right = Math.max(right, reach(exitBox(model, boxes, l.edge, l.from), l.edge.labels.join('; ')));
  for (const d of drops) right = Math.max(right, reach(d.target, dropLabel(d)));
  rights.forEach((l, i) => (l.x = right + SIZE.lane + i * SIZE.lane));
  self.width = Math.max(self.width, right + rights.length * SIZE.lane + SIZE.pad);
  self.height = y + SIZE.pad - (channels.at(-1)?.row === rows.length - 1 ? SIZE.slotBottom - 4 : 0);
  return self;
}

/**
 * Gives every edge that is not `next` its lane: one per target and side, shared by all
 * the edges to it. Down edges go right, up and sideways ones left; with the `through`
 * lanes (entries on the left, exits on the right), the right lanes are numbered from the
 * rows outwards in order of the row they end at (exits last: they end at the bottom),
 * the left ones from the outside in, the one to the highest row outermost (so that a
 * lane's last run crosses no other lane).
 */
function laneFor(local: LocalEdge[], through: readonly Lane[]): Lane[] {
  const lanes = new Map<string, Lane>();
  for (const l of local) {
    if (l.kind === 'next') continue;
    const side = l.kind === 'down' ? 'right' : 'left';
    const key = `${side}:${l.edge.target}`;
    let lane = lanes.get(key);
    if (!lane) lanes.set(key, (lane = { kind: 'local', side, target: l.edge.target, row: l.toRow, x: 0 }));
    l.lane = lane;
  }
  const all = [...lanes.values(), ...through];
  const end = (l: Lane) => (l.kind === 'exit' ? Infinity : l.row);
  const rights = all.filter((l) => l.side === 'right').sort((a, b) => end(a) - end(b));
  const lefts = all.filter((l) => l.side === 'left').sort((a, b) => a.row - b.row);
  return [...lefts, ...rights];
}

/**
 * The lanes of the edges that cross the border of `path`'s box: one `entry` lane per
 * descendant reached from outside whose child stands below the first row, one `exit`
 * lane per edge that leaves from a descendant whose child stands above the last row.
 * (An edge to or from a child of the first or last row goes straight through.)
 */
function throughLanes(model: ChartModel, path: string, row: (child: string) => number, rowCount: number): Lane[] {
  if (path === ROOT) return [];
  const entries = new Map<string, Lane>();
  const exits: Lane[] = [];
  for (const edge of model.edges) {
    const inSource = edge.source !== path && isInside(edge.source, path);
    const inTarget = edge.target !== path && isInside(edge.target, path);
    if (inTarget && !inSource) {
      const r = row(childOf(model, path, edge.target) ?? '');
      if (r > 0 && !entries.has(edge.target)) entries.set(edge.target, { kind: 'entry', side: 'left', target: edge.target, row: r, x: 0 });
    }
    if (inSource && !inTarget && edge.target !== path && !isInside(path, edge.target)) {
      const r = row(childOf(model, path, edge.source) ?? '');
      if (r < rowCount - 1) exits.push({ kind: 'exit', side: 'right', target: edge.source, edge, row: r, x: 0 });
    }
  }
  return [...entries.values(), ...exits];
}

/**
 * The box whose right side bounds where `edge` leaves `from` (the child holding its
 * source), and so where its label starts: the outermost box on the way down to the
 * source with an exit lane for it (the edge leaves by that lane, at most at its right
 * side), else the source itself.
 */
function exitBox(model: ChartModel, boxes: ReadonlyMap<string, Box>, edge: ChartEdge, from: string): string {
  for (let p: string | undefined = from; p !== undefined && p !== edge.source; p = childOf(model, p, edge.source)) {
    if (boxAt(boxes, p).lanes.some((l) => l.kind === 'exit' && l.edge === edge)) return p;
  }
  return edge.source;
}

/** How far right of its ancestor `container`'s left side the box of `path` stands (relative positions summed). */
function offsetIn(model: ChartModel, boxes: ReadonlyMap<string, Box>, path: string, container: string): number {
  let x = 0;
  for (let p: string | undefined = path; p !== undefined && p !== container; p = model.states.get(p)?.parent) x += boxAt(boxes, p).x;
  return x;
}

/** Turns relative positions into absolute ones. */
function place(b: Box, ox: number, oy: number): void {
  b.ax = ox + b.x;
  b.ay = oy + b.y;
  for (const k of b.kids) place(k, b.ax, b.ay);
}
