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
 *
 * With several tunnels (`/graph` has a `child` chart; the root is their supervisor) the
 * tab strip lists the supervisor and every tunnel with a pill of its state
 * (`tunnels.ts`); the chart and the context table show the selected one (kept in the
 * address's `#tunnel=name`), and its arrows light up as they are taken.
 *
 * Above the chart, the dashboard: the selected tunnel's header (`local → public`, its
 * state in a sentence and the buttons of `controls.ts`, kept up to date with each
 * snapshot and the countdown) and its connections (`traffic.ts`, redrawn with each
 * `traffic` event, once a second); the log's lines are made by `log.ts`.
 *
 * What the page keeps between events is one {@link PageState} (`state.ts`), `state` below.
 */
import { type ContextRow, contextRows, stateTitle } from './format.js';
import { localAddress, publicAddress, stateSentence } from './dashboard.js';
import { addLog as addLines, note as addNote } from './log.js';
import { wireControls } from './controls.js';
import { TrafficPanel } from './traffic.js';
import { layoutChart } from './layout.js';
import { chartModel } from './model.js';
import { ARROW, TAKEN_ARROW, drawChart } from './render.js';
import { takenEdges } from './taken.js';
import { type TunnelItem, aggregateTone, supervisorRows, tunnelItems } from './tunnels.js';
import type { ChildSnapshotView, GraphView, HelloView, LogEntryView, SnapshotView, TrafficView } from './wire.js';
import { type PageState, forgetProcess, initialState } from './state.js';
import { ChartZoom } from './zoom.js';

/** How often a pending retry's countdown is refreshed (ms). */
const COUNTDOWN_MS = 250;
/** How long a just-taken arrow stays highlighted (ms); the style fades it out over this time. */
const TAKEN_MS = 4000;
/** How long the page waits before it tries the event stream again (ms). */
const RECONNECT_MS = 1000;

/** The page's state: see {@link PageState}. */
const state: PageState = initialState(location.hash);

function element<T extends HTMLElement | SVGElement>(id: string, type: new () => T): T {
  const el = document.getElementById(id);
  if (!(el instanceof type)) throw new Error(`the page has no #${id}`);
  return el;
}

const zoom = new ChartZoom(element('chart-box', HTMLElement), element('chart', SVGSVGElement), element('zoom', HTMLElement));
const traffic = new TrafficPanel(
  element('traffic-stats', HTMLElement),
  element('rates', SVGSVGElement),
  element('connections', HTMLElement) as HTMLTableSectionElement,
);

function render(g: GraphView): void {
  state.graph = g;
  element('tunnels', HTMLElement).hidden = !g.child;
  if (!g.child) state.selected = '';
  drawSelected();
}

/** Draws the chart of the selected machine and shows its state. */
function drawSelected(): void {
  if (!state.graph) return;
  const chart = state.selected && state.graph.child ? state.graph.child : state.graph;
  state.model = chartModel(chart);
  const layout = layoutChart(state.model);
  const title = !state.graph.child
    ? undefined
    : state.selected
      ? `${state.selected}: ${chart.id} (client machine)`
      : `${chart.id} (supervisor machine)`;
  state.groups = drawChart(element('chart', SVGSVGElement), layout, title);
  zoom.setSize(Math.ceil(layout.width), Math.ceil(layout.height));
  clearTaken();
  state.shown = undefined;
  if (state.snapshot) showSnapshot(state.snapshot, false);
}

/** The tunnels of the latest snapshot, when the root is a supervisor. */
function tunnels(): TunnelItem[] {
  return state.graph?.child && state.snapshot ? tunnelItems(state.snapshot, state.seen) : [];
}

/** What the chart shows: the root's snapshot, or the selected tunnel's. */
function selectedView(): ChildSnapshotView | undefined {
  if (!state.selected) return state.snapshot;
  return tunnels().find((t) => t.name === state.selected)?.view;
}

/** Shows a snapshot; `fresh`: just pushed (else drawn again: its steps were shown already). */
function showSnapshot(s: SnapshotView, fresh = true): void {
  state.snapshot = s;
  for (const [name, child] of Object.entries(s.children ?? {})) state.seen.set(name, child);
  if (state.graph?.child) renderTunnels();
  const view = selectedView();
  if (!view) {
    // The selected tunnel is gone (removed from the set): back to the supervisor.
    select('');
    return;
  }
  const before = state.shown;
  state.shown = view;
  const active = new Set(view.active);
  for (const [path, g] of state.groups) {
    if (active.has(path)) g.setAttribute('data-active', 'true');
    else g.removeAttribute('data-active');
  }
  // (A tunnel that gave up is shown from the supervisor's view of it: never with steps.)
  const steps = fresh ? view.steps : undefined;
  if (state.model && (steps?.length || before)) {
    // The hub's steps tell every change, even those faster than snapshots; else compare with the previous snapshot.
    const changes = steps?.length ? steps : [{ from: before?.active ?? [], to: view.active, event: undefined }];
    const taken = new Set(changes.flatMap((step) => takenEdges(state.model?.edges ?? [], step.from, step.to, step.event)));
    if (taken.size) markTaken([...taken]);
  }
  const was = new Set(before?.active);
  zoom.reveal(view.active.filter((p) => !was.has(p)).flatMap((p) => state.groups.get(p) ?? []));
  renderSummary();
  renderContext();
}

/**
 * The header of the selected tunnel: `local → public`, the sentence of its state, and
 * which buttons apply; with the supervisor selected, the set's state (stop: every tunnel).
 */
function renderSummary(): void {
  const s = state.snapshot;
  if (!s) return;
  const view = selectedView();
  const sentence = element('state', HTMLElement);
  const supervisor = !!state.graph?.child && !state.selected;
  let text: string;
  let tone: string;
  if (supervisor || !view) {
    const items = tunnels();
    const aggregate = s.context.aggregate ?? s.status;
    text = `${stateTitle(s)}: ${items.length} tunnel${items.length === 1 ? '' : 's'}, ${aggregate}`;
    tone = aggregateTone(aggregate);
    setText(document, '#addr-local', 'every tunnel of this process');
    setText(document, '#addr-public', items.map((t) => publicAddress(t.view.context) ?? '\u2026').join(', ') || '\u2014');
  } else {
    ({ text, tone } = stateSentence(view, Date.now()));
    setText(document, '#addr-local', localAddress(view.context));
    setText(document, '#addr-public', publicAddress(view.context) ?? 'waiting for the server to open the port\u2026');
  }
  if (sentence.textContent !== text) sentence.textContent = text;
  sentence.setAttribute('data-tone', tone);
  sentence.setAttribute('data-status', (supervisor ? s.status : view?.status) ?? s.status);
  const running = (supervisor ? s.status : view?.status) === 'active';
  element('copy', HTMLButtonElement).disabled = supervisor || !view || !publicAddress(view.context);
  element('reconnect', HTMLButtonElement).disabled = supervisor || !running || view?.active[0] !== 'backoff';
  element('stop', HTMLButtonElement).disabled = !running;
  element('stop', HTMLButtonElement).textContent = supervisor ? 'stop all' : 'stop';
}

/** Shows the selected tunnel's connections (every tunnel's with the supervisor selected): once a second, and on selection. */
function showTraffic(): void {
  traffic.show(state.graph?.child && !state.selected ? undefined : state.selected, Date.now());
}

/** Brings the tab strip up to date: the supervisor's tab, then one per tunnel. */
function renderTunnels(): void {
  const strip = element('tunnels', HTMLElement);
  const items = tunnels();
  const aggregate = state.snapshot?.context.aggregate ?? state.snapshot?.status ?? '?';
  const entries = [
    {
      name: '',
      title: 'supervisor',
      address: `${items.length} tunnel${items.length === 1 ? '' : 's'}`,
      state: aggregate,
      tone: aggregateTone(aggregate),
    },
    ...items.map((t) => ({ name: t.name, title: t.name, address: t.address, state: t.state, tone: t.tone })),
  ];
  const names = new Set(entries.map((e) => e.name));
  for (const [name, tab] of state.tabs) {
    if (names.has(name)) continue;
    tab.remove();
    state.tabs.delete(name);
  }
  for (const e of entries) {
    let tab = state.tabs.get(e.name);
    if (!tab) {
      tab = document.createElement('button');
      tab.type = 'button';
      tab.className = 'tab';
      tab.setAttribute('role', 'tab');
      tab.setAttribute('data-tunnel', e.name);
      const head = document.createElement('span');
      head.className = 'tab-head';
      const name = document.createElement('span');
      name.className = 'tab-name';
      const pill = document.createElement('span');
      pill.className = 'pill tunnel-pill';
      head.append(name, pill);
      const address = document.createElement('span');
      address.className = 'tab-addr';
      tab.append(head, address);
      state.tabs.set(e.name, tab);
    }
    // In order: an existing tab moves only when the order changed.
    if (strip.lastChild !== tab) strip.appendChild(tab);
    setText(tab, '.tab-name', e.title);
    setText(tab, '.tab-addr', e.address);
    const pill = tab.querySelector('.tunnel-pill');
    if (pill) {
      pill.textContent = e.state;
      pill.setAttribute('data-tone', e.tone);
    }
    tab.setAttribute('aria-selected', String(e.name === state.selected));
  }
}

function setText(parent: ParentNode, selector: string, text: string): void {
  const el = parent.querySelector(selector);
  if (el && el.textContent !== text) el.textContent = text;
}

/** Shows the chart and context of `name` (`''`: the supervisor). */
function select(name: string): void {
  if (name === state.selected && state.shown) return;
  state.selected = name;
  history.replaceState(null, '', name ? `#tunnel=${encodeURIComponent(name)}` : location.pathname);
  for (const [n, tab] of state.tabs) tab.setAttribute('aria-selected', String(n === name));
  // Another chart: start from its top left (then the active states are scrolled into view).
  element('chart-box', HTMLElement).scrollTo(0, 0);
  drawSelected();
  showTraffic();
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
  state.takenTimer = setTimeout(clearTaken, TAKEN_MS);
}

function clearTaken(): void {
  clearTimeout(state.takenTimer);
  const chart = element('chart', SVGSVGElement);
  for (const el of Array.from(chart.querySelectorAll('.just-taken'))) {
    el.classList.remove('just-taken');
    if (el.hasAttribute('marker-end')) el.setAttribute('marker-end', `url(#${ARROW})`);
  }
  // Restart the fade even when the same arrow is taken again: the style sees a new element state.
  void chart.getBoundingClientRect();
}

function renderContext(): void {
  if (!state.snapshot) return;
  const view = selectedView();
  let rows: ContextRow[];
  if (!state.graph?.child) rows = contextRows(state.snapshot, Date.now());
  else if (!state.selected) rows = supervisorRows(state.snapshot);
  else rows = view ? contextRows(view, Date.now()) : [];
  element('context-title', HTMLElement).textContent = state.graph?.child ? `Context \u00b7 ${state.selected || 'supervisor'}` : 'Context';
  const table = element('context', HTMLTableElement);
  table.replaceChildren();
  for (const row of rows) {
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
  addLines(element('log', HTMLOListElement), state.logItems, entries);
}

function note(text: string): void {
  addNote(element('log', HTMLOListElement), text);
}

function setConn(status: 'live' | 'wait' | 'ended', text: string): void {
  const pill = element('conn', HTMLElement);
  pill.className = `pill conn-${status}`;
  pill.textContent = text;
}

async function loadGraph(): Promise<void> {
  const response = await fetch('/graph', { cache: 'no-store' });
  render((await response.json()) as GraphView);
}

function onHello(hello: HelloView): void {
  setConn('live', 'live');
  state.ended = false;
  if (state.bootId && hello.bootId !== state.bootId) {
    note('tunnel process restarted');
    void loadGraph();
  }
  if (hello.bootId !== state.bootId) {
    forgetProcess(state, hello.bootId);
    clearTaken();
    const list = element('log', HTMLOListElement);
    for (const n of Array.from(list.childNodes)) if (!(n instanceof Element && n.className === 'restart')) list.removeChild(n);
    addLog(hello.log);
  }
}

function connect(): void {
  state.source?.close();
  const events = new EventSource('/events');
  state.source = events;
  const on = <T>(type: string, handle: (data: T) => void) =>
    events.addEventListener(type, (m: MessageEvent<string>) => handle(JSON.parse(m.data) as T));
  on<HelloView>('hello', onHello);
  on<SnapshotView>('snapshot', showSnapshot);
  on<LogEntryView[]>('log', addLog);
  on<TrafficView>('traffic', (t) => {
    traffic.update(t);
    showTraffic();
  });
  on<unknown>('end', () => {
    // The process is stopping: its last state stays on screen; a new process on this port is picked up.
    state.ended = true;
    setConn('ended', 'tunnel process ended');
    note('tunnel process ended');
    events.close();
    setTimeout(connect, RECONNECT_MS);
  });
  events.onerror = () => {
    if (!state.ended) setConn('wait', 'tunnel process unreachable, reconnecting\u2026');
    if (events.readyState === EventSource.CLOSED) setTimeout(connect, RECONNECT_MS);
  };
}

setInterval(() => {
  if (!state.snapshot || !selectedView()?.context.nextRetryAt) return;
  renderContext();
  renderSummary();
}, COUNTDOWN_MS);
wireControls({
  copy: element('copy', HTMLButtonElement),
  reconnect: element('reconnect', HTMLButtonElement),
  stop: element('stop', HTMLButtonElement),
  message: element('control-msg', HTMLElement),
  address: () => {
    const view = selectedView();
    return view && (!state.graph?.child || state.selected) ? publicAddress(view.context) : undefined;
  },
  target: () => state.selected,
});
const routine = element('show-routine', HTMLInputElement);
const showRoutine = () => element('log', HTMLOListElement).classList.toggle('show-routine', routine.checked);
routine.addEventListener('change', showRoutine);
showRoutine();
element('tunnels', HTMLElement).addEventListener('click', (e) => {
  const tab = e.target instanceof Element ? e.target.closest('[data-tunnel]') : null;
  if (tab) select(tab.getAttribute('data-tunnel') ?? '');
});
loadGraph().then(connect, () => {
  setConn('wait', 'cannot load the chart');
  setTimeout(() => location.reload(), 2000);
});
