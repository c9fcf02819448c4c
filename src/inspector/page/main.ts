/**
 * The inspector page's script (bundled into `/app.js` by `scripts/bundle.ts`): fetches
 * `/graph` and draws the statechart (`model.ts` → `layout.ts` → `edges.ts` →
 * `render.ts`, shown at the zoom of `zoom.ts`), then follows `/events`: each snapshot
 * marks the active states, highlights for a few seconds the arrows just taken
 * (`taken.ts`) and fills the context table; log entries go to the live log. When the
 * tunnel process stops, its last snapshot and an `end` event arrive: the page keeps
 * the final state and says the process ended. When the tunnel process restarts (a new
 * `bootId` in `hello`) the chart is fetched again and the log starts over; when the
 * stream closes the page reconnects by itself.
 */
import type { MachineGraph } from '../graph.js';
import { contextRows, formatTime, logText, stateTitle } from './format.js';
import { layoutChart } from './layout.js';
import { type ChartModel, chartModel } from './model.js';
import { ARROW, TAKEN_ARROW, drawChart } from './render.js';
import { takenEdges } from './taken.js';
import type { HelloView, LogEntryView, SnapshotView } from './wire.js';
import { ChartZoom } from './zoom.js';

/** Most log lines kept on the page. */
const LOG_LINES = 200;
/** How often a pending retry's countdown is refreshed (ms). */
const COUNTDOWN_MS = 250;
/** How long a just-taken arrow stays highlighted (ms); the style fades it out over this time. */
const TAKEN_MS = 4000;
/** How long the page waits before it tries the event stream again (ms). */
const RECONNECT_MS = 1000;

let groups = new Map<string, SVGGElement>();
let model: ChartModel | undefined;
let snapshot: SnapshotView | undefined;
/** Whether the tunnel process said it was stopping (its `end` event); until a new one says `hello`. */
let ended = false;
let takenTimer: ReturnType<typeof setTimeout> | undefined;
let bootId: string | undefined;
let source: EventSource | undefined;
/** The log's lines by `seq`: a repeated event updates its line. */
let logItems = new Map<number, HTMLLIElement>();

function element<T extends HTMLElement | SVGElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no #${id}`);
  return el;
}

const zoom = new ChartZoom(element('chart-box', HTMLElement), element('chart', SVGSVGElement), element('zoom', HTMLElement));

function render(graph: MachineGraph): void {
  model = chartModel(graph);
  const layout = layoutChart(model);
  groups = drawChart(element('chart', SVGSVGElement), layout);
  zoom.setSize(Math.ceil(layout.width), Math.ceil(layout.height));
  if (snapshot) showSnapshot(snapshot);
}

function showSnapshot(s: SnapshotView): void {
  const before = snapshot;
  snapshot = s;
  const active = new Set(s.active);
  for (const [path, g] of groups) {
    if (active.has(path)) g.setAttribute('data-active', 'true');
    else g.removeAttribute('data-active');
  }
  if (model && (s.steps?.length || before)) {
    // The hub's steps tell every change, even those faster than snapshots; else compare with the previous snapshot.
    const steps = s.steps?.length ? s.steps : [{ from: before?.active ?? [], to: s.active, event: undefined }];
    const taken = new Set(steps.flatMap((step) => takenEdges(model?.edges ?? [], step.from, step.to, step.event)));
    if (taken.size) markTaken([...taken]);
  }
  const was = new Set(before?.active);
  zoom.reveal(s.active.filter((p) => !was.has(p)).flatMap((p) => groups.get(p) ?? []));
  const pill = element('state', HTMLElement);
  pill.textContent = stateTitle(s);
  pill.setAttribute('data-status', s.status);
  pill.setAttribute('data-leaf', s.active[s.active.length - 1] ?? '');
  renderContext();
}

/** Highlights the arrows (and their labels) of `keys` for {@link TAKEN_MS}, and no other. */
function markTaken(keys: readonly string[]): void {
  clearTaken();
  const chart = element('chart', SVGSVGElement);
  for (const key of keys) {
    for (const el of Array.from(chart.querySelectorAll(`[data-edge="${CSS.escape(key)}"]`))) {
      el.classList.add('just-taken');
      if (el.hasAttribute('marker-end')) el.setAttribute('marker-end', `url(#${TAKEN_ARROW})`);
    }
  }
  takenTimer = setTimeout(clearTaken, TAKEN_MS);
}

function clearTaken(): void {
  clearTimeout(takenTimer);
  const chart = element('chart', SVGSVGElement);
  for (const el of Array.from(chart.querySelectorAll('.just-taken'))) {
    el.classList.remove('just-taken');
    if (el.hasAttribute('marker-end')) el.setAttribute('marker-end', `url(#${ARROW})`);
  }
  // Restart the fade even when the same arrow is taken again: the style sees a new element state.
  void chart.getBoundingClientRect();
}

function renderContext(): void {
  if (!snapshot) return;
  const table = element('context', HTMLTableElement);
  table.replaceChildren();
  for (const row of contextRows(snapshot, Date.now())) {
    const tr = document.createElement('tr');
    const th = document.createElement('th');
    const td = document.createElement('td');
    th.textContent = row.label;
    td.textContent = row.value;
    if (row.className) td.className = row.className;
    tr.append(th, td);
    table.appendChild(tr);
  }
}

function addLog(entries: readonly LogEntryView[]): void {
  const list = element('log', HTMLOListElement);
  for (const e of entries) {
    let li = logItems.get(e.seq);
    if (!li) {
      li = document.createElement('li');
      logItems.set(e.seq, li);
      list.insertBefore(li, list.firstChild);
      while (list.childNodes.length > LOG_LINES && list.lastChild) {
        const last = list.lastChild;
        for (const [seq, item] of logItems) if (item === last) logItems.delete(seq);
        list.removeChild(last);
      }
    }
    li.className = e.kind;
    const time = document.createElement('span');
    time.className = 't';
    time.textContent = formatTime(e.time);
    li.replaceChildren(time, document.createTextNode(logText(e)));
  }
}

/** A line of the page's own (a restart), kept when the log starts over. */
function note(text: string): void {
  const list = element('log', HTMLOListElement);
  const li = document.createElement('li');
  li.className = 'restart';
  li.textContent = `${formatTime(Date.now())}  ${text}`;
  list.insertBefore(li, list.firstChild);
}

function setConn(state: 'live' | 'wait' | 'ended', text: string): void {
  const pill = element('conn', HTMLElement);
  pill.className = `pill conn-${state}`;
  pill.textContent = text;
}

async function loadGraph(): Promise<void> {
  const response = await fetch('/graph', { cache: 'no-store' });
  render((await response.json()) as MachineGraph);
}

function onHello(hello: HelloView): void {
  setConn('live', 'live');
  ended = false;
  if (bootId && hello.bootId !== bootId) {
    note('tunnel process restarted');
    void loadGraph();
  }
  if (hello.bootId !== bootId) {
    bootId = hello.bootId;
    snapshot = undefined; // no arrow leads from the old process's state to the new one's
    clearTaken();
    logItems = new Map();
    const list = element('log', HTMLOListElement);
    for (const n of Array.from(list.childNodes)) if (!(n instanceof Element && n.className === 'restart')) list.removeChild(n);
    addLog(hello.log);
  }
}

function connect(): void {
  source?.close();
  const events = new EventSource('/events');
  source = events;
  const on = <T>(type: string, handle: (data: T) => void) =>
    events.addEventListener(type, (m: MessageEvent<string>) => handle(JSON.parse(m.data) as T));
  on<HelloView>('hello', onHello);
  on<SnapshotView>('snapshot', showSnapshot);
  on<LogEntryView[]>('log', addLog);
  on<unknown>('end', () => {
    // The process is stopping: its last state stays on screen; a new process on this port is picked up.
    ended = true;
    setConn('ended', 'tunnel process ended');
    note('tunnel process ended');
    events.close();
    setTimeout(connect, RECONNECT_MS);
  });
  events.onerror = () => {
    if (!ended) setConn('wait', 'tunnel process unreachable, reconnecting\u2026');
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_MS);
  };
}

setInterval(() => {
  if (snapshot?.context.nextRetryAt) renderContext();
}, COUNTDOWN_MS);
loadGraph().then(connect, () => {
  setConn('wait', 'cannot load the chart');
  setTimeout(() => location.reload(), 2000);
});
