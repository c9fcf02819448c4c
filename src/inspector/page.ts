/**
 * The inspector page: HTML, CSS and the browser script, served by our own server so
 * the page works offline (no CDN). The script (`page/main.ts` and its modules, bundled
 * at build time into `page/app.generated.ts`) fetches `/graph`, lays out and draws
 * the statechart as SVG (each state a `<g data-state="path">`, the active ones with
 * `data-active="true"`, the arrows `<path data-edge="source->target">`, a just-taken
 * one with the class `just-taken` for a few seconds), and follows `/events` for
 * snapshots and the live log, reconnecting by itself when the tunnel process restarts.
 * The page is a dashboard of the tunnel: a header with `local → public` (a copy button),
 * the state in a sentence (`#state[data-tone]`) and the buttons "reconnect now" and
 * "stop" (`POST /control` with the per-run token the server puts in
 * `<meta name="bore-token">`, {@link TOKEN_PLACEHOLDER} here); then "Connections"
 * (totals, a chart of throughput and open connections, and the table `#connections` of
 * open and recently closed public connections, `tr[data-conn=id]`), fed by the
 * `traffic` event; then the statechart, the context and the log (routine events,
 * `li.routine`, hidden unless `#show-routine` is checked). Light or dark after
 * `prefers-color-scheme`.
 * The chart is shown at its natural size (text at 11 px and more) in a box that scrolls,
 * with zoom buttons and a "fit" toggle; below 900 px the panels stack. With several
 * tunnels in the process, a tab strip (`#tunnels`, hidden for a single tunnel) lists
 * the supervisor and each tunnel (`[data-tunnel="name"]`: its name, `local → public`
 * and a pill, `.tunnel-pill[data-tone]`, with its state); the chart and the context
 * table show the selected one.
 */

/** What the server replaces, in {@link PAGE_HTML}, with its per-run token of the page's controls. */
export const TOKEN_PLACEHOLDER = '%BORE_TOKEN%';

/** The page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="bore-token" content="${TOKEN_PLACEHOLDER}">
<title>bore inspector</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header class="top">
  <h1>bore</h1>
  <span id="conn" class="pill conn-wait">connecting to tunnel process…</span>
</header>
<main>
  <nav id="tunnels" role="tablist" aria-label="supervisor and tunnels" hidden></nav>
  <section id="summary" class="card" aria-live="polite">
    <div class="addr">
      <span id="addr-local" class="mono">…</span>
      <span class="arrow" aria-hidden="true">\u2192</span>
      <span id="addr-public" class="mono">…</span>
      <button type="button" id="copy" class="small" title="copy the public address">copy</button>
    </div>
    <div class="status-line">
      <span id="state" class="sentence" data-tone="wait">…</span>
      <span class="controls">
        <button type="button" id="reconnect" title="skip the wait before the next attempt" disabled>reconnect now</button>
        <button type="button" id="stop" class="danger" title="stop the tunnel: its public port closes" disabled>stop</button>
      </span>
      <span id="control-msg" class="control-msg" role="status"></span>
    </div>
  </section>
  <section id="traffic" class="card">
    <div class="card-head"><h2>Connections</h2><span id="traffic-stats" class="muted">\u2026</span></div>
    <div class="rates-wrap">
      <svg id="rates" role="img" aria-label="throughput and open connections"></svg>
      <div class="legend"><span class="key key-in">in</span><span class="key key-out">out</span><span class="key key-open">open connections</span><span class="muted">last minutes, sampled each second</span></div>
    </div>
    <div class="table-wrap">
      <table class="conns">
        <thead><tr><th>id</th><th>opened</th><th>age</th><th>in</th><th>out</th><th>ended</th></tr></thead>
        <tbody id="connections"></tbody>
      </table>
    </div>
  </section>
  <section id="chart-wrap">
    <h2 class="chart-title">Statechart</h2>
    <div id="zoom" class="toolbar" role="toolbar" aria-label="chart zoom">
      <button type="button" data-zoom="out" title="zoom out (or ctrl + wheel)" aria-label="zoom out">\u2212</button>
      <span data-zoom-label aria-live="polite">100%</span>
      <button type="button" data-zoom="in" title="zoom in (or ctrl + wheel)" aria-label="zoom in">+</button>
      <button type="button" data-zoom="reset" title="natural size: text at 11 px and more">1:1</button>
      <button type="button" data-zoom="fit" aria-pressed="false" title="fit the whole chart to the width">fit</button>
    </div>
    <div id="chart-box"><svg id="chart" role="img" aria-label="client statechart"></svg></div>
  </section>
  <section class="panels">
    <div class="panel"><h2 id="context-title">Context</h2><table id="context"></table></div>
    <div class="panel">
      <div class="card-head"><h2>Events and transitions</h2>
        <label class="muted"><input type="checkbox" id="show-routine"> heartbeats, connections, pool</label></div>
      <ol id="log"></ol>
    </div>
  </section>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

/** The page's styles (light, or dark after `prefers-color-scheme`). */
export const APP_CSS = `
:root { color-scheme: light dark; --fg: #1d2433; --muted: #5f6778; --line: #9aa3b5; --accent: #1f6fd0; --active: #e8f2ff;
  --bad: #c2362b; --bad-bg: #fdecea; --ok: #1b7f45; --ok-bg: #e3f5ea; --wait: #9a5800; --wait-bg: #fff4e0; --off-bg: #eef0f4;
  --taken: #d9480f; --bg: #f6f7fa; --card: #fff; --card2: #fafbfd; --border: #e2e5ec; --border2: #d5d9e2; --edge: #7d8699;
  --label: #3d4557; --hover: #f0f3f8; --in: #1f6fd0; --out: #b8479c; --open: rgba(27,127,69,.18); }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e4e8f0; --muted: #9aa3b5; --line: #6b7385; --accent: #6cb0ff; --active: #17304f;
    --bad: #ff8a80; --bad-bg: #42201d; --ok: #6fdc9a; --ok-bg: #173626; --wait: #ffc266; --wait-bg: #3d2e12; --off-bg: #2a2f3a;
    --taken: #ff9a5c; --bg: #12151b; --card: #1b1f27; --card2: #20252f; --border: #2e3440; --border2: #3a4150; --edge: #8d96a8;
    --label: #c5ccd9; --hover: #252b36; --in: #6cb0ff; --out: #e88bd3; --open: rgba(111,220,154,.16); }
}
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; padding: 8px 18px; background: var(--card); border-bottom: 1px solid var(--border); }
h1 { font-size: 16px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 8px; }
.muted { color: var(--muted); }
.mono { font-family: ui-monospace, monospace; }
.pill { padding: 2px 10px; border-radius: 999px; background: var(--off-bg); font-weight: 600; }
.conn-live { background: var(--ok-bg); color: var(--ok); }
.conn-wait { background: var(--bad-bg); color: var(--bad); }
.conn-ended { background: var(--off-bg); color: var(--muted); }
main { padding: 14px 18px; }
button { font: inherit; padding: 4px 12px; border: 1px solid var(--border2); border-radius: 6px; background: var(--card); color: var(--fg); cursor: pointer; }
button:hover:not(:disabled) { background: var(--hover); }
button:disabled { opacity: .45; cursor: default; }
button.small { padding: 1px 8px; font-size: 12px; }
button.danger:not(:disabled) { color: var(--bad); border-color: var(--bad); }
.card, .panel, #chart-wrap { background: var(--card); border: 1px solid var(--border); border-radius: 8px; }
.card { padding: 12px 16px; margin-bottom: 14px; min-width: 0; }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; justify-content: space-between; gap: 4px 12px; }
.card-head h2 { margin-bottom: 6px; }
#summary .addr { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 10px; font-size: 20px; font-weight: 600; }
#summary .addr .mono { overflow-wrap: anywhere; }
#summary .arrow { color: var(--muted); }
.status-line { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; margin-top: 8px; }
.sentence { padding: 3px 12px; border-radius: 999px; font-weight: 600; background: var(--off-bg); overflow-wrap: anywhere; }
.sentence[data-tone="ok"] { background: var(--ok-bg); color: var(--ok); }
.sentence[data-tone="wait"] { background: var(--wait-bg); color: var(--wait); }
.sentence[data-tone="bad"] { background: var(--bad-bg); color: var(--bad); }
.sentence[data-tone="off"] { color: var(--muted); }
.controls { display: flex; gap: 8px; }
.control-msg { color: var(--muted); font-size: 13px; }
.control-msg.bad { color: var(--bad); }
.rates-wrap { margin: 4px 0 10px; }
#rates { display: block; width: 100%; height: 70px; background: var(--card2); border: 1px solid var(--border); border-radius: 6px; }
#rates .rate-in { fill: none; stroke: var(--in); stroke-width: 2; }
#rates .rate-out { fill: none; stroke: var(--out); stroke-width: 2; }
#rates .rate-open { fill: var(--open); stroke: none; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin-top: 4px; }
.key::before { content: ""; display: inline-block; width: 14px; height: 3px; margin: 0 5px 3px 0; vertical-align: middle; }
.key-in::before { background: var(--in); } .key-out::before { background: var(--out); } .key-open::before { height: 10px; background: var(--open); }
.table-wrap { max-height: 260px; overflow: auto; }
table.conns { border-collapse: collapse; width: 100%; font-size: 13px; font-variant-numeric: tabular-nums; }
table.conns th { position: sticky; top: 0; background: var(--card); text-align: left; color: var(--muted); font-weight: 500; padding: 2px 10px 4px 0; border-bottom: 1px solid var(--border); }
table.conns td { padding: 2px 10px 2px 0; border-bottom: 1px solid var(--border); white-space: nowrap; }
table.conns td[data-col="id"] { font-family: ui-monospace, monospace; }
table.conns tr.closed { color: var(--muted); }
table.conns tr.open td[data-col="end"] { color: var(--ok); font-weight: 600; }
table.conns td.empty { color: var(--muted); font-style: italic; }
#tunnels { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
#tunnels[hidden] { display: none; }
#tunnels .tab { display: flex; flex-direction: column; align-items: flex-start; gap: 2px; min-width: 0; max-width: 100%; padding: 6px 10px; font: inherit; text-align: left; color: var(--fg); background: var(--card); border: 1px solid var(--border); border-radius: 8px; cursor: pointer; }
#tunnels .tab:hover { background: var(--hover); }
#tunnels .tab[aria-selected="true"] { border-color: var(--accent); box-shadow: inset 0 -3px 0 var(--accent); }
#tunnels .tab-head { display: flex; align-items: center; gap: 8px; }
#tunnels .tab-name { font-weight: 700; overflow-wrap: anywhere; }
#tunnels .tab-addr { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
.tunnel-pill { font-size: 12px; padding: 0 8px; }
.tunnel-pill[data-tone="ok"] { background: var(--ok-bg); color: var(--ok); }
.tunnel-pill[data-tone="wait"] { background: var(--wait-bg); color: var(--wait); }
.tunnel-pill[data-tone="bad"] { background: var(--bad-bg); color: var(--bad); }
.tunnel-pill[data-tone="off"] { background: var(--off-bg); color: var(--muted); }
#chart-wrap { position: relative; }
.chart-title { position: absolute; top: 12px; left: 16px; margin: 0; }
.toolbar { position: absolute; top: 6px; right: 6px; z-index: 1; display: flex; align-items: center; gap: 4px; padding: 3px; background: var(--card); border: 1px solid var(--border); border-radius: 6px; font-size: 12px; }
.toolbar button { min-width: 28px; padding: 2px 8px; border-radius: 4px; }
.toolbar button[aria-pressed="true"] { background: var(--active); border-color: var(--accent); color: var(--accent); }
.toolbar [data-zoom-label] { min-width: 40px; text-align: center; color: var(--muted); font-variant-numeric: tabular-nums; }
#chart-box { padding: 40px 8px 8px; overflow: auto; max-height: 78vh; }
#chart-box.dragging { cursor: grabbing; user-select: none; }
#chart { display: block; margin: 0 auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg .state-box { fill: var(--card); stroke: var(--line); stroke-width: 1.5; }
svg .compound > .state-box { fill: var(--card2); }
svg .root-box { fill: none; stroke: var(--border2); stroke-dasharray: 4 3; }
svg .state-name { font-weight: 700; font-size: 13px; }
svg .state-note { fill: var(--muted); font-size: 11px; }
svg [data-active="true"] > .state-box { fill: var(--active); stroke: var(--accent); stroke-width: 3; }
svg [data-active="true"] > .state-name { fill: var(--accent); }
svg .final > .state-box { stroke-dasharray: none; }
svg .final-inner { fill: none; stroke: var(--line); }
svg .edge { fill: none; stroke: var(--edge); stroke-width: 1.3; }
svg .edge-label { font-size: 11px; fill: var(--label); paint-order: stroke; stroke: var(--card); stroke-width: 3px; }
svg .initial-dot { fill: var(--fg); }
svg .arrowhead { fill: var(--edge); }
svg .arrowhead.taken { fill: var(--taken); }
svg .edge.just-taken { stroke: var(--taken); stroke-width: 3; animation: taken-edge 4s ease-in forwards; }
svg .edge-label.just-taken { fill: var(--taken); font-weight: 700; animation: taken-label 4s ease-in forwards; }
@keyframes taken-edge { 0%, 50% { stroke: var(--taken); stroke-width: 3; } 100% { stroke: var(--edge); stroke-width: 1.3; } }
@keyframes taken-label { 0%, 50% { fill: var(--taken); } 100% { fill: var(--label); } }
@media (prefers-reduced-motion: reduce) { svg .just-taken { animation: none; } }
.panels { display: grid; grid-template-columns: minmax(280px, 1fr) 2fr; gap: 14px; margin-top: 14px; }
.panel { padding: 12px 14px; min-height: 120px; min-width: 0; }
#context { border-collapse: collapse; width: 100%; }
#context th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 12px 2px 0; white-space: nowrap; vertical-align: top; }
#context td { font-family: ui-monospace, monospace; font-size: 12.5px; word-break: break-word; }
#context .err { color: var(--bad); }
#log { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12.5px; }
#log li { padding: 1px 0; border-bottom: 1px solid var(--border); overflow-wrap: anywhere; }
#log li.routine { display: none; color: var(--muted); }
#log.show-routine li.routine { display: list-item; }
#log .t { color: var(--muted); margin-right: 8px; }
#log .transition { color: var(--accent); font-weight: 600; }
#log .restart { color: var(--bad); font-weight: 600; }
@media (max-width: 900px) { .panels { grid-template-columns: minmax(0, 1fr); } }
@media (max-width: 560px) {
  header.top { padding: 8px 10px; } main { padding: 10px 8px; } h1 { font-size: 15px; }
  #summary .addr { font-size: 16px; }
  table.conns th:nth-child(2), table.conns td:nth-child(2) { display: none; }
  #context th { white-space: normal; padding-right: 8px; } #log .t { display: block; margin: 0; }
}
`;

/** The page's script: `page/*.ts` bundled by `scripts/bundle.ts` (ES2017, no dependencies). */
export { APP_JS } from './page/app.generated.js';
