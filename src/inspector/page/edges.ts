/**
 * The arrows' geometry, pure (no DOM): SVG path data, the corner points, and label
 * positions for every edge of a {@link ChartLayout}, in the order they are drawn.
 *
 * Every arrow runs in right angles with rounded corners. It leaves its source's bottom
 * and turns on its own line of the channel under the source's row, where its label
 * stands beside it; from there it goes to its target's top (an edge to the next row),
 * or along its lane and through the channel above its target (any other). A drop from a
 * compound state's title (a dot) to a descendant, e.g. the root's `STOP → stopped`,
 * runs straight down the channel above the first row. Edge ends sharing a side of a box
 * are spread along it in the order of where they come from or go to, and the lines of
 * a channel are ordered so that a line's label stands right of every arrow that reaches
 * that line from above. An edge from a state to one of its ancestors is not drawn.
 */
import { type Box, type Channel, type ChartLayout, type Lane, SIZE, boxAt, dropLabel, dropsOf, textWidth } from './layout.js';
import { type ChartEdge, childOf, isInside } from './model.js';
import { edgeKey } from './taken.js';

/** A point of the drawing. */
export interface Point {
  readonly x: number;
  readonly y: number;
}

/** A label's text and where it starts (its baseline). */
export interface Label extends Point {
  readonly text: string;
  /** The key of its arrow (`source->target`), if it labels one. */
  readonly edge?: string;
}

/** One drawn arrow. */
export interface EdgeRoute {
  readonly edge: ChartEdge;
  /** SVG path data. */
  readonly d: string;
  /** The corners it runs through, first to last (the path rounds them). */
  readonly points: readonly Point[];
  /** Where a dot marks the start (an arrow from a compound state's title). */
  readonly dot?: Point;
  /** Its label, drawn after every arrow. */
  readonly label: Label;
}

/** Where an edge meets a box: which box side (`key`), how far along it (0..1), ordered by `order`. */
interface End {
  readonly key: string;
  readonly order: number;
  frac: number;
}

/** Corner radius of the arrows. */
const CORNER = 6;
/** From a channel line's top: its label's baseline, and its arrows' run. */
const BASELINE = 12;
const RUN = 17;

/** Routes every edge of a layout: each container's local edges (containers parents first), then its drops. */
export function routeEdges(layout: ChartLayout): EdgeRoute[] {
  const { boxes, model } = layout;
  const box = (path: string) => boxAt(boxes, path);
  const centre = (path: string) => box(path).ax + box(path).width / 2;
  const laneX = (b: Box, lane: Lane) => b.ax + lane.x;
  const childIn = (k: Box, path: string) => box(childOf(model, k.path, path) ?? '');
  const ends: End[] = [];
  const end = (path: string, side: 'top' | 'bottom', order: number): End => {
    const e = { key: `${path}:${side}`, order, frac: 0.5 };
    ends.push(e);
    return e;
  };
  // Where each edge leaves its source and reaches its target (a local lane's edges share their arrival).
  const fromEnd = new Map<ChartEdge, End>();
  const toEnd = new Map<ChartEdge, End>();
  const plans = [...boxes.values()].map((b) => {
    const arrivals = new Map(
      b.lanes.flatMap((lane) => (lane.kind === 'local' ? [[lane, end(lane.target, 'top', laneX(b, lane))] as const] : [])),
    );
    for (const l of b.local) {
      fromEnd.set(l.edge, end(l.edge.source, 'bottom', l.lane ? laneX(b, l.lane) : centre(l.edge.target)));
      toEnd.set(l.edge, (l.lane && arrivals.get(l.lane)) || end(l.edge.target, 'top', centre(l.edge.source)));
    }
    const drops = dropsOf(model, b.path);
    for (const d of drops) toEnd.set(d, end(d.target, 'top', centre(d.target)));
    return { b, drops };
  });
  spread(ends);
  const at = (path: string, e: End | undefined) => box(path).ax + box(path).width * (e?.frac ?? 0.5);
  const entryLane = (k: Box, target: string) => k.lanes.find((l) => l.kind === 'entry' && l.target === target);
  const exitLane = (k: Box, edge: ChartEdge) => k.lanes.find((l) => l.kind === 'exit' && l.edge === edge);
  /** The x at which `edge` leaves the bottom of `k` (its source, or a box holding it). */
  const exitX = (edge: ChartEdge, k: Box): number => {
    if (k.path === edge.source) return at(edge.source, fromEnd.get(edge));
    const lane = exitLane(k, edge);
    return lane ? laneX(k, lane) : exitX(edge, childIn(k, edge.source));
  };
  /** The x at which `edge` enters the top of `k` (its target, or a box holding it). */
  const entryX = (edge: ChartEdge, k: Box): number => {
    if (k.path === edge.target) return at(edge.target, toEnd.get(edge));
    const lane = entryLane(k, edge.target);
    return lane ? laneX(k, lane) : entryX(edge, childIn(k, edge.target));
  };

  // Each channel's lines: drops, leaving edges and lanes, arriving lanes, in the order that crosses least.
  const lineY = new Map<unknown, number>();
  for (const { b, drops } of plans) {
    const edgeTo = (lane: Lane) =>
      b.local.find((l) => l.lane === lane)?.edge ?? [...toEnd.keys()].find((e) => e.target === lane.target && !isInside(e.source, b.path));
    for (const ch of b.channels) {
      const items: LineItem[] = [];
      if (ch.row === -1)
        for (const drop of drops) {
          const x = entryX(drop, childIn(b, drop.target));
          items.push({ key: drop, v: [[x, -Infinity, Infinity]], h: [], label: [x + 6, textWidth(dropLabel(drop))] });
        }
      for (const l of b.local.filter((l) => l.fromRow === ch.row)) {
        const sx = exitX(l.edge, box(l.from));
        const tx = l.lane ? laneX(b, l.lane) : entryX(l.edge, box(l.to));
        const onward: Vertical = l.lane?.side === 'left' ? [tx, -Infinity, 0] : [tx, 0, Infinity];
        items.push({ key: l, v: [[sx, -Infinity, 0], onward], h: [[sx, tx]], label: [sx + 6, textWidth(l.edge.labels.join('; '))] });
      }
      for (const lane of b.lanes) {
        const lx = laneX(b, lane);
        if (lane.kind === 'exit' && lane.row === ch.row && lane.edge) {
          const sx = exitX(lane.edge, childIn(b, lane.target));
          items.push({
            key: lane,
            v: [
              [sx, -Infinity, 0],
              [lx, 0, Infinity],
            ],
            h: [[sx, lx]],
          });
        }
        const edge = lane.kind !== 'exit' && lane.row === ch.row + 1 ? edgeTo(lane) : undefined;
        if (!edge) continue;
        const dx = entryX(edge, childIn(b, lane.target));
        items.push({
          key: lane,
          v: [lane.side === 'left' && lane.kind === 'local' ? [lx, 0, Infinity] : [lx, -Infinity, 0], [dx, 0, Infinity]],
          h: [[lx, dx]],
        });
      }
      leastCrossing(items).forEach((item, i) => lineY.set(item.key, lineTop(b, ch, i)));
    }
  }
  const run = (key: unknown) => (lineY.get(key) ?? 0) + RUN;
  /** The corners from the source's bottom to the bottom of `k`, a box holding it. */
  const out = (edge: ChartEdge, k: Box): Point[] => {
    if (k.path === edge.source) return [{ x: exitX(edge, k), y: k.ay + k.height }];
    const points = out(edge, childIn(k, edge.source));
    const x = points[points.length - 1]!.x;
    const lane = exitLane(k, edge);
    if (lane) points.push({ x, y: run(lane) }, { x: laneX(k, lane), y: run(lane) });
    points.push({ x: lane ? laneX(k, lane) : x, y: k.ay + k.height });
    return points;
  };
  /** The corners from the top of `k`, a box holding the target (or the target), to the target's top. */
  const into = (edge: ChartEdge, k: Box): Point[] => {
    const points: Point[] = [{ x: entryX(edge, k), y: k.ay }];
    if (k.path === edge.target) return points;
    const inner = childIn(k, edge.target);
    const lane = entryLane(k, edge.target);
    if (lane) points.push({ x: points[0]!.x, y: run(lane) }, { x: entryX(edge, inner), y: run(lane) });
    return [...points, ...into(edge, inner)];
  };

  const routes: EdgeRoute[] = [];
  for (const { b, drops } of plans) {
    for (const l of b.local) {
      const points = out(l.edge, box(l.from));
      const sx = points[points.length - 1]!.x;
      const y = run(l);
      points.push({ x: sx, y });
      if (l.lane) {
        const lx = laneX(b, l.lane);
        points.push({ x: lx, y }, { x: lx, y: run(l.lane) }, { x: entryX(l.edge, box(l.to)), y: run(l.lane) });
      } else points.push({ x: entryX(l.edge, box(l.to)), y });
      points.push(...into(l.edge, box(l.to)));
      const top = lineY.get(l) ?? 0;
      routes.push(route(l.edge, points, { x: sx + 6, y: top + BASELINE, text: l.edge.labels.join('; '), edge: edgeKey(l.edge) }));
    }
    for (const drop of drops) {
      const k = childIn(b, drop.target);
      const start = { x: entryX(drop, k), y: b.ay + (b.channels[0]?.y ?? b.head) };
      const label = { x: start.x + 6, y: (lineY.get(drop) ?? 0) + BASELINE, text: dropLabel(drop), edge: edgeKey(drop) };
      routes.push({ ...route(drop, [start, ...into(drop, k)], label), dot: start });
    }
  }
  return routes;
}

/** A vertical run in a channel: its x, and from and to where, relative to its line (0; -Infinity: the channel's top). */
type Vertical = readonly [x: number, from: number, to: number];

/** What runs on one line of a channel, for {@link leastCrossing}: vertical runs, horizontal ones (from x, to x) on the line, and a label (x, width) just above it. */
interface LineItem {
  readonly key: unknown;
  readonly v: readonly Vertical[];
  readonly h: readonly (readonly [number, number])[];
  readonly label?: readonly [number, number];
}

/** Most lines a channel is searched for its best order (7! = 5,040 orders); a longer one keeps its order. */
const MAX_SEARCHED = 7;

/**
 * The order of a channel's lines, top to bottom, in which the fewest vertical runs cross
 * another line's run or label; among equals, the first found (the items' own order first).
 */
export function leastCrossing<T extends LineItem>(items: readonly T[]): T[] {
  if (items.length < 2 || items.length > MAX_SEARCHED) return [...items];
  let best: T[] = [...items];
  let bestScore = crossings(best);
  permute(items.length, (order) => {
    if (bestScore === 0) return;
    const candidate = order.map((i) => items[i]!);
    const score = crossings(candidate);
    if (score < bestScore) [best, bestScore] = [candidate, score];
  });
  return best;
}

/** How many times a vertical run crosses another line's horizontal run or label, the lines in this order. */
function crossings(lines: readonly LineItem[]): number {
  let n = 0;
  lines.forEach((a, ia) => {
    for (const [x, from, to] of a.v) {
      const [y0, y1] = [ia + from, ia + to];
      lines.forEach((b, ib) => {
        if (ib === ia) return;
        for (const [x0, x1] of b.h) if (x > Math.min(x0, x1) + 0.5 && x < Math.max(x0, x1) - 0.5 && y0 < ib && y1 > ib) n++;
        // A label fills the band just above its line.
        if (b.label && x > b.label[0] - 2 && x < b.label[0] + b.label[1] && y0 < ib - 0.1 && y1 > ib - 0.9) n++;
      });
    }
  });
  return n;
}

/** Calls `visit` with every order of 0..n-1 (Heap's algorithm), the identity first. */
function permute(n: number, visit: (order: readonly number[]) => void): void {
  const a = Array.from({ length: n }, (_, i) => i);
  const c = new Array<number>(n).fill(0);
  visit(a);
  for (let i = 1; i < n;) {
    if (c[i]! < i) {
      const j = i % 2 === 0 ? 0 : c[i]!;
      [a[j], a[i]] = [a[i]!, a[j]!];
      visit(a);
      c[i]!++;
      i = 1;
    } else c[i++] = 0;
  }
}

/** The top of line `i` of a channel of `b`, absolute. */
function lineTop(b: Box, ch: Channel, i: number): number {
  return b.ay + ch.y + SIZE.slotTop + i * SIZE.slot;
}

/** An arrow through `points` (repeated and aligned points dropped), its corners rounded. */
function route(edge: ChartEdge, corners: readonly Point[], label: Label): Omit<EdgeRoute, 'dot'> {
  const points: Point[] = [];
  for (const p of corners) {
    const last = points[points.length - 1];
    if (last && Math.abs(last.x - p.x) < 0.01 && Math.abs(last.y - p.y) < 0.01) continue;
    const before = points[points.length - 2];
    // Three in a line: the middle one is no corner.
    if (before && last && ((before.x === last.x && last.x === p.x) || (before.y === last.y && last.y === p.y))) points.pop();
    points.push(p);
  }
  let d = `M${points[0]!.x},${points[0]!.y}`;
  for (let i = 1; i < points.length; i++) {
    const [p, c, n] = [points[i - 1]!, points[i]!, points[i + 1]];
    if (!n) {
      d += ` L${c.x},${c.y}`;
      continue;
    }
    const r = Math.min(CORNER, dist(p, c) / 2, dist(c, n) / 2);
    const a = toward(c, p, r);
    const z = toward(c, n, r);
    d += ` L${a.x},${a.y} Q${c.x},${c.y} ${z.x},${z.y}`;
  }
  return { edge, d, points, label };
}

function dist(a: Point, b: Point): number {
  return Math.abs(a.x - b.x) + Math.abs(a.y - b.y);
}

/** The point `r` from `from` toward `to` (on an axis-parallel segment). */
function toward(from: Point, to: Point, r: number): Point {
  return { x: from.x + Math.sign(to.x - from.x) * r, y: from.y + Math.sign(to.y - from.y) * r };
}

/** Spreads the ends that share a side of a box evenly along it, in their `order`. */
function spread(ends: readonly End[]): void {
  const sides = new Map<string, End[]>();
  for (const e of ends) {
    const list = sides.get(e.key);
    if (list) list.push(e);
    else sides.set(e.key, [e]);
  }
  for (const list of sides.values()) {
    list.sort((a, b) => a.order - b.order);
    list.forEach((e, i) => (e.frac = (i + 1) / (list.length + 1)));
  }
}
