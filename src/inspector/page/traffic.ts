/**
 * The dashboard's "Connections" card: the totals, a small chart of throughput and open
 * connections over the last minutes, and the table of open and recently closed public
 * connections (`tr[data-conn=id]`). Fed by the `traffic` event (once a second); keeps
 * each tunnel's chart points between events.
 */
import { formatTime } from './format.js';
import { formatAge, formatBytes, formatRate } from './dashboard.js';
import type { ConnectionView, TrafficPointView, TrafficView, TunnelTrafficView } from './wire.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
/** Chart points kept per tunnel (the server keeps as many). */
const HISTORY = 300;
/** Rows the table shows at most. */
const ROWS = 60;
/** The chart's drawing size (it is stretched to the card's width). */
const W = 600;
const H = 70;

/** A connection with the tunnel it belongs to (shown when several are). */
type Row = ConnectionView & { tunnel: string };

/** The Connections card; see the module comment. */
export class TrafficPanel {
  readonly #stats: HTMLElement;
  readonly #chart: SVGSVGElement;
  readonly #rows: HTMLTableSectionElement;
  readonly #history = new Map<string, TrafficPointView[]>();
  #latest: Record<string, TunnelTrafficView> = {};

  /** `stats`: the totals' line; `chart`: the rates' SVG; `rows`: the table's body. */
  constructor(stats: HTMLElement, chart: SVGSVGElement, rows: HTMLTableSectionElement) {
    this.#stats = stats;
    this.#chart = chart;
    this.#rows = rows;
    chart.setAttribute('viewBox', `0 0 ${W} ${H}`);
    chart.setAttribute('preserveAspectRatio', 'none');
  }

  /** Takes a `traffic` event in. */
  update(event: TrafficView): void {
    if (event.full) this.#history.clear();
    for (const [name, t] of Object.entries(event.tunnels)) {
      const kept = this.#history.get(name) ?? [];
      kept.push(...t.history);
      this.#history.set(name, kept.slice(-HISTORY));
    }
    for (const name of this.#history.keys()) if (!event.tunnels[name]) this.#history.delete(name);
    this.#latest = event.tunnels;
  }

  /** Shows the traffic of tunnel `name`, or of every tunnel (`undefined`: the supervisor's view). */
  show(name: string | undefined, now: number): void {
    const names = name === undefined ? Object.keys(this.#latest) : [name];
    const shown = names.map((n) => [n, this.#latest[n]] as const).filter((e): e is [string, TunnelTrafficView] => !!e[1]);
    const totals = { opened: 0, open: 0, bytesIn: 0, bytesOut: 0 };
    for (const [, t] of shown) {
      totals.opened += t.totals.opened;
      totals.open += t.totals.open;
      totals.bytesIn += t.totals.bytesIn;
      totals.bytesOut += t.totals.bytesOut;
    }
    const points = sumPoints(shown.map(([n]) => this.#history.get(n) ?? []));
    const last = points[points.length - 1];
    this.#stats.textContent =
      `${totals.open} open \u00b7 ${totals.opened} since start \u00b7 ` +
      `in ${formatBytes(totals.bytesIn)} (${formatRate(last?.inRate ?? 0)}) \u00b7 out ${formatBytes(totals.bytesOut)} (${formatRate(last?.outRate ?? 0)})`;
    this.#drawChart(points);
    const several = name === undefined;
    const open: Row[] = shown.flatMap(([n, t]) => t.open.map((c) => ({ ...c, tunnel: n })));
    const closed: Row[] = shown.flatMap(([n, t]) => t.recent.map((c) => ({ ...c, tunnel: n })));
    open.sort((a, b) => b.openedAt - a.openedAt);
    closed.sort((a, b) => (b.closedAt ?? 0) - (a.closedAt ?? 0));
    this.#drawRows([...open, ...closed].slice(0, ROWS), several, now);
  }

  #drawChart(points: readonly TrafficPointView[]): void {
    const chart = this.#chart;
    chart.replaceChildren();
    if (points.length < 2) return;
    const t0 = points[0]!.time;
    const span = Math.max(1, points[points.length - 1]!.time - t0);
    const x = (p: TrafficPointView) => ((p.time - t0) / span) * W;
    const maxRate = Math.max(1, ...points.map((p) => Math.max(p.inRate, p.outRate)));
    const maxOpen = Math.max(1, ...points.map((p) => p.open));
    const line = (value: (p: TrafficPointView) => number, max: number, cls: string, area = false) => {
      const coords = points.map((p) => `${x(p).toFixed(1)},${(H - 2 - (value(p) / max) * (H - 6)).toFixed(1)}`);
      const el = document.createElementNS(SVG_NS, area ? 'polygon' : 'polyline');
      el.setAttribute('points', area ? `0,${H} ${coords.join(' ')} ${W},${H}` : coords.join(' '));
      el.setAttribute('class', cls);
      el.setAttribute('vector-effect', 'non-scaling-stroke');
      chart.appendChild(el);
    };
    line((p) => p.open, maxOpen, 'rate-open', true);
    line((p) => p.inRate, maxRate, 'rate-in');
    line((p) => p.outRate, maxRate, 'rate-out');
    chart.setAttribute('aria-label', `last ${Math.round(span / 1000)} s: up to ${formatRate(maxRate)}, up to ${maxOpen} open connections`);
  }

  #drawRows(rows: readonly Row[], several: boolean, now: number): void {
    const body = this.#rows;
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = 6;
      td.className = 'empty';
      td.textContent = 'no public connection yet';
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(
      ...rows.map((c) => {
        const tr = document.createElement('tr');
        tr.setAttribute('data-conn', c.id);
        tr.className = c.closedAt === undefined ? 'open' : 'closed';
        const cells = [
          (several ? `${c.tunnel} \u00b7 ` : '') + c.id.slice(0, 8),
          formatTime(c.openedAt).slice(0, 8),
          formatAge((c.closedAt ?? now) - c.openedAt),
          formatBytes(c.bytesIn),
          formatBytes(c.bytesOut),
          c.closedAt === undefined ? 'open' : (c.end ?? 'closed'),
        ];
        const names = ['id', 'opened', 'age', 'in', 'out', 'end'];
        cells.forEach((text, i) => {
          const td = document.createElement('td');
          td.textContent = text;
          td.setAttribute('data-col', names[i]!);
          if (i === 0) td.title = c.id;
          tr.append(td);
        });
        return tr;
      }),
    );
  }
}

/** The points of several tunnels added up, aligned on the most recent (each tunnel is sampled at the same times). */
function sumPoints(lists: readonly (readonly TrafficPointView[])[]): TrafficPointView[] {
  if (lists.length === 1) return [...lists[0]!];
  const length = Math.max(0, ...lists.map((l) => l.length));
  const out: TrafficPointView[] = [];
  for (let i = 0; i < length; i++) {
    const at = lists.map((l) => l[l.length - length + i]).filter((p): p is TrafficPointView => !!p);
    out.push({
      time: Math.max(...at.map((p) => p.time)),
      open: at.reduce((s, p) => s + p.open, 0),
      inRate: at.reduce((s, p) => s + p.inRate, 0),
      outRate: at.reduce((s, p) => s + p.outRate, 0),
      connRate: at.reduce((s, p) => s + p.connRate, 0),
    });
  }
  return out;
}
