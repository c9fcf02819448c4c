/**
 * The inspector page's script (bundled into `/app.js` by `scripts/bundle.ts`): fetches
 * `/graph` and draws the statechart (`model.ts` → `layout.ts` → `edges.ts` →
 * `render.ts`), then follows `/events`: each snapshot marks the active states and fills
 * the context table, log entries go to the live log. When the tunnel process restarts
 * (a new `bootId` in `hello`) the chart is fetched again and the log starts over; when
 * the stream closes the page reconnects by itself.
 */
import type { MachineGraph } from '../graph.js';
import { contextRows, formatTime, logText, stateTitle } from './format.js';
import { layoutChart } from './layout.js';
import { chartModel } from './model.js';
import { drawChart } from './render.js';
import type { HelloView, LogEntryView, SnapshotView } from './wire.js';

/** Most log lines kept on the page. */
const LOG_LINES = 200;
/** How often a pending retry's countdown is refreshed (ms). */
const COUNTDOWN_MS = 250;

let groups = new Map<string, SVGGElement>();
let snapshot: SnapshotView | undefined;
let bootId: string | undefined;
let source: EventSource | undefined;
/** The log's lines by `seq`: a repeated event updates its line. */
let logItems = new Map<number, HTMLLIElement>();

function element<T extends HTMLElement | SVGElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no #${id}`);
  return el;
}

function render(graph: MachineGraph): void {
  groups = drawChart(element('chart', SVGSVGElement), layoutChart(chartModel(graph)));
  if (snapshot) showSnapshot(snapshot);
}

function showSnapshot(s: SnapshotView): void {
  snapshot = s;
  const active = new Set(s.active);
  for (const [path, g] of groups) {
    if (active.has(path)) g.setAttribute('data-active', 'true');
    else g.removeAttribute('data-active');
  }
  element('state', HTMLElement).textContent = stateTitle(s);
  renderContext();
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

function setConn(live: boolean, text: string): void {
  const pill = element('conn', HTMLElement);
  pill.className = `pill ${live ? 'conn-live' : 'conn-wait'}`;
  pill.textContent = text;
}

async function loadGraph(): Promise<void> {
  const response = await fetch('/graph', { cache: 'no-store' });
  render((await response.json()) as MachineGraph);
}

function onHello(hello: HelloView): void {
  setConn(true, 'live');
  if (bootId && hello.bootId !== bootId) {
    note('tunnel process restarted');
    void loadGraph();
  }
  if (hello.bootId !== bootId) {
    bootId = hello.bootId;
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
  events.onerror = () => {
    setConn(false, 'tunnel process unreachable, reconnecting\u2026');
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}

setInterval(() => {
  if (snapshot?.context.nextRetryAt) renderContext();
}, COUNTDOWN_MS);
loadGraph().then(connect, () => {
  setConn(false, 'cannot load the chart');
  setTimeout(() => location.reload(), 2000);
});
