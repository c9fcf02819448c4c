/**
 * Draws a laid-out chart as SVG: each state a `<g data-state="path">` holding its box,
 * name, notes and children's groups; then one `<g class="edges">` with every arrow
 * (`<path data-edge="source->target">`) and its label. The positions all come from
 * `layout.ts` and `edges.ts`; this module only makes elements.
 */
import { type Label, routeEdges } from './edges.js';
import { type Box, type ChartLayout, SIZE } from './layout.js';
import { ROOT } from './model.js';
import { edgeKey } from './taken.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Id of the arrowhead marker; {@link TAKEN_ARROW}: the one of a just-taken arrow. */
export const ARROW = 'arrow';
/** Id of the arrowhead marker of a just-taken arrow (see `main.ts`). */
export const TAKEN_ARROW = 'arrow-taken';

/** Makes an SVG element with attributes (in this order) and appends it to `parent`. */
function svg<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  parent: Element,
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  parent.appendChild(el);
  return el;
}

/** Appends a `<text>` element. */
function text(attrs: Record<string, string | number>, content: string, parent: Element): SVGTextElement {
  const el = svg('text', attrs, parent);
  el.textContent = content;
  return el;
}

/**
 * Replaces the content of `chart` with the drawing of `layout` and sizes it; returns the
 * `<g>` of each state by path (the page marks the active ones `data-active="true"`).
 * `title` is the root box's (default: `<machine id> (client machine)`).
 */
export function drawChart(
  chart: SVGSVGElement,
  layout: ChartLayout,
  title = `${layout.model.id} (client machine)`,
): Map<string, SVGGElement> {
  const groups = new Map<string, SVGGElement>();
  chart.replaceChildren();
  // Whole units: a fractional size would draw the chart a hair below 100%.
  chart.setAttribute('viewBox', `0 0 ${Math.ceil(layout.width)} ${Math.ceil(layout.height)}`);
  const defs = svg('defs', {}, chart);
  for (const [id, size] of [
    [ARROW, 9],
    [TAKEN_ARROW, 11],
  ] as const) {
    const marker = svg(
      'marker',
      // In user units, so that the thicker stroke of a just-taken arrow does not scale its head.
      {
        id,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerUnits: 'userSpaceOnUse',
        markerWidth: size,
        markerHeight: size,
        orient: 'auto-start-reverse',
      },
      defs,
    );
    svg('path', { d: 'M0,0 L10,5 L0,10 z', class: id === ARROW ? 'arrowhead' : 'arrowhead taken' }, marker);
  }
  drawBox(layout, layout.root, chart, groups, title);
  drawEdges(layout, svg('g', { class: 'edges' }, chart));
  return groups;
}

function drawBox(layout: ChartLayout, box: Box, parent: Element, groups: Map<string, SVGGElement>, title: string): void {
  const { model } = layout;
  const state = model.states.get(box.path);
  const isRoot = box.path === ROOT;
  const final = state?.type === 'final';
  const g = svg(
    'g',
    isRoot ? { class: 'root' } : { 'data-state': box.path, class: (box.kids.length ? 'compound' : 'atomic') + (final ? ' final' : '') },
    parent,
  );
  if (!isRoot) groups.set(box.path, g);
  svg(
    'rect',
    { x: box.ax, y: box.ay, width: box.width, height: box.height, rx: isRoot ? 10 : 8, class: isRoot ? 'root-box' : 'state-box' },
    g,
  );
  if (final) svg('rect', { x: box.ax + 3, y: box.ay + 3, width: box.width - 6, height: box.height - 6, rx: 6, class: 'final-inner' }, g);
  const name = state ? state.key + (final ? ' (final)' : '') : title;
  text({ x: box.ax + SIZE.pad, y: box.ay + 18, class: 'state-name' }, name, g);
  (model.notes.get(box.path) ?? []).forEach((note, i) => {
    text({ x: box.ax + SIZE.pad, y: box.ay + SIZE.head + 8 + i * SIZE.line, class: 'state-note' }, note, g);
  });
  for (const kid of box.kids) drawBox(layout, kid, g, groups, title);
  const initial = box.initial === undefined ? undefined : layout.boxes.get(box.initial);
  if (initial) {
    const cy = initial.ay + Math.min(initial.height / 2, 22);
    svg('circle', { cx: initial.ax - 18, cy, r: 4.5, class: 'initial-dot' }, g);
    svg('path', { d: `M${initial.ax - 13},${cy} L${initial.ax},${cy}`, class: 'edge', 'marker-end': `url(#${ARROW})` }, g);
  }
}

function drawEdges(layout: ChartLayout, layer: SVGGElement): void {
  const routes = routeEdges(layout);
  for (const route of routes) {
    if (route.dot) svg('circle', { cx: route.dot.x, cy: route.dot.y, r: 3, class: 'initial-dot' }, layer);
    svg('path', { d: route.d, class: 'edge', 'marker-end': `url(#${ARROW})`, 'data-edge': edgeKey(route.edge) }, layer);
  }
  // Labels over every arrow (their halo hides a line passing behind them).
  for (const route of routes) edgeLabel(route.label, layer);
}

function edgeLabel(label: Label, layer: SVGGElement): void {
  text({ x: label.x, y: label.y, class: 'edge-label', ...(label.edge ? { 'data-edge': label.edge } : {}) }, label.text, layer);
}
