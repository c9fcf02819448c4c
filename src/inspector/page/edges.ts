/**
 * The arrows' geometry, pure (no DOM): SVG path data and label positions for every
 * edge of a {@link ChartLayout}, in the order they are drawn.
 *
 * Three kinds: a curve through the gap between neighbouring columns; a lane edge that
 * leaves its source's top or bottom side, runs along its lane and enters its target's
 * same side; and a straight drop from a compound state's title (a dot) to a descendant,
 * e.g. the root's `STOP → stopped`. Edge ends sharing a side of a box are spread evenly
 * along it. An edge from a state to one of its ancestors is not drawn.
 */
import type { Box, ChartLayout, LocalEdge } from './layout.js';
import { type ChartEdge, ROOT, isInside } from './model.js';
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
  /** Where a dot marks the start (an arrow from a compound state's title). */
  readonly dot?: Point;
  /** The label drawn right after the path; edges between neighbouring columns have theirs in {@link EdgeDrawing.gapLabels}. */
  readonly label?: Label;
}

/** Everything {@link routeEdges} computes. */
export interface EdgeDrawing {
  /** The arrows, in drawing order: each container's local edges (containers parents first), then the drops to descendants. */
  readonly routes: EdgeRoute[];
  /** Labels of the edges between neighbouring columns, moved apart so that none overlaps the previous one; drawn last. */
  readonly gapLabels: Label[];
}

/** Where an edge meets a box: which box side (`key`), and how far along it (0..1). */
interface End {
  readonly key: string;
  frac: number;
}

/** Corner radius of lane edges. */
const CORNER = 6;

/** Routes every edge of a layout. */
export function routeEdges(layout: ChartLayout): EdgeDrawing {
  const boxOf = (path: string): Box => {
    const b = layout.boxes.get(path);
    if (!b) throw new Error(`no box for state ${JSON.stringify(path)}`);
    return b;
  };
  const ends: End[] = [];
  const end = (path: string, side: string): End => {
    const e = { key: `${path}:${side}`, frac: 0.5 };
    ends.push(e);
    return e;
  };
  const local: { l: LocalEdge; from: End; to: End }[] = [];
  for (const b of layout.boxes.values()) {
    for (const l of b.local) {
      const side = l.span === 1 ? undefined : (l.lane?.side ?? 'bottom');
      local.push({ l, from: end(l.edge.source, side ?? 'r'), to: end(l.edge.target, side ?? 'l') });
    }
  }
  const drops = layout.model.edges
    .filter((e) => isInside(e.target, e.source) && e.source !== e.target)
    .map((edge) => ({ edge, to: end(edge.target, 'top') }));
  spread(ends);

  const routes: EdgeRoute[] = [];
  const gapLabels: Label[] = [];
  for (const { l, from, to } of local) {
    const s = boxOf(l.edge.source);
    const d = boxOf(l.edge.target);
    const text = l.edge.labels.join('; ');
    if (l.span === 1) {
      const x0 = s.ax + s.width;
      const y0 = s.ay + Math.min(s.height, 90) * from.frac;
      const x1 = d.ax;
      const y1 = d.ay + d.height * to.frac;
      const mx = (x0 + x1) / 2;
      const gapX = boxOf(l.from).ax + boxOf(l.from).width;
      routes.push({ edge: l.edge, d: `M${x0},${y0} C${mx},${y0} ${mx},${y1} ${x1},${y1}` });
      gapLabels.push({ x: gapX + 10, y: y0 + (y1 - y0) * 0.5 - 4, text, edge: edgeKey(l.edge) });
    } else {
      // The lane's y is relative to its container but used as absolute, as the ES5 page
      // did: right only for a container at y = 0 (the root's lanes sit 10 higher than
      // meant, a nested container's would be drawn near the top of the chart).
      const lane = l.lane?.y ?? 0;
      const top = l.lane?.side === 'top';
      const sx = s.ax + s.width * from.frac;
      const dx = d.ax + d.width * to.frac;
      const sy = top ? s.ay : s.ay + s.height;
      const dy = top ? d.ay : d.ay + d.height;
      const dir = dx > sx ? 1 : -1;
      const v = top ? -1 : 1;
      const r = CORNER;
      routes.push({
        edge: l.edge,
        d: `M${sx},${sy} L${sx},${lane - v * r} Q${sx},${lane} ${sx + dir * r},${lane} L${dx - dir * r},${lane} Q${dx},${lane} ${dx},${lane - v * r} L${dx},${dy}`,
        label: { x: Math.min(sx, dx) + 10, y: lane - 4, text, edge: edgeKey(l.edge) },
      });
    }
  }
  for (const { edge, to } of drops) {
    const s = boxOf(edge.source);
    const d = boxOf(edge.target);
    const x = d.ax + d.width * to.frac;
    const top = s.ay + (s.path === ROOT ? 30 : s.head);
    const text = edge.labels.join('; ') + (edge.source === ROOT ? ' (from any state)' : '');
    routes.push({ edge, d: `M${x},${top} L${x},${d.ay}`, dot: { x, y: top }, label: { x: x + 6, y: top + 14, text, edge: edgeKey(edge) } });
  }
  return { routes, gapLabels: separate(gapLabels) };
}

/** Spreads the ends that share a side of a box evenly along it. */
function spread(ends: readonly End[]): void {
  const sides = new Map<string, End[]>();
  for (const e of ends) {
    const list = sides.get(e.key);
    if (list) list.push(e);
    else sides.set(e.key, [e]);
  }
  for (const list of sides.values()) list.forEach((e, i) => (e.frac = (i + 1) / (list.length + 1)));
}

/** Sorts labels left to right and moves each down below the previous one if they would overlap. */
export function separate(labels: readonly Label[]): Label[] {
  const sorted = [...labels].sort((a, b) => a.x - b.x || a.y - b.y);
  const out: Label[] = [];
  for (const label of sorted) {
    const prev = out[out.length - 1];
    out.push(prev && Math.abs(label.x - prev.x) < 120 && label.y - prev.y < 15 ? { ...label, y: prev.y + 15 } : label);
  }
  return out;
}
