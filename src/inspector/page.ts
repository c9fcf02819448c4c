/**
 * The inspector page: HTML, CSS and the browser script, served by our own server so
 * the page works offline (no CDN). The script (`page/main.ts` and its modules, bundled
 * at build time into `page/app.generated.ts`) fetches `/graph`, lays out and draws
 * the statechart as SVG (each state a `<g data-state="path">`, the active ones with
 * `data-active="true"`, the arrows `<path data-edge="source->target">`, a just-taken
 * one with the class `just-taken` for a few seconds), and follows `/events` for
 * snapshots and the live log, reconnecting by itself when the tunnel process restarts.
 * The chart is shown at its natural size (text at 11 px and more) in a box that scrolls,
 * with zoom buttons and a "fit" toggle; below 900 px the panels stack. With several
 * tunnels in the process, a tab strip (`#tunnels`, hidden for a single tunnel) lists
 * the supervisor and each tunnel (`[data-tunnel="name"]`: its name, `local → public`
 * and a pill, `.tunnel-pill[data-tone]`, with its state); the chart and the context
 * table show the selected one.
 */

/** The page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bore inspector</title>
<link rel="stylesheet" href="/app.css">
</head>
<body>
<header>
  <h1>bore inspector</h1>
  <span id="state" class="pill">…</span>
  <span id="conn" class="pill conn-wait">connecting to tunnel process…</span>
</header>
<main>
  <nav id="tunnels" role="tablist" aria-label="supervisor and tunnels" hidden></nav>
  <section id="chart-wrap">
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
    <div class="panel"><h2>Events and transitions</h2><ol id="log"></ol></div>
  </section>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

/** The page's styles. */
export const APP_CSS = `
:root { color-scheme: light; --fg: #1d2433; --muted: #6b7385; --line: #9aa3b5; --accent: #1f7ae0; --active: #e8f2ff; --bad: #c2362b; --ok: #1f8a4c; --taken: #d9480f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f6f7fa; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 12px; padding: 10px 18px; background: #fff; border-bottom: 1px solid #e2e5ec; }
h1 { font-size: 17px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 8px; }
.pill { padding: 2px 10px; border-radius: 999px; background: #eef0f4; font-weight: 600; }
#state { background: var(--active); color: var(--accent); }
#state[data-status="done"] { background: #eef0f4; color: var(--fg); }
#state[data-leaf="fatal"] { background: #fdecea; color: var(--bad); }
.conn-live { background: #e3f5ea; color: var(--ok); }
.conn-wait { background: #fdecea; color: var(--bad); }
.conn-ended { background: #eef0f4; color: var(--muted); }
main { padding: 14px 18px; }
#tunnels { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 12px; }
#tunnels[hidden] { display: none; }
#tunnels .tab { display: flex; flex-direction: column; align-items: flex-start; gap: 2px; min-width: 0; max-width: 100%; padding: 6px 10px; font: inherit; text-align: left; color: var(--fg); background: #fff; border: 1px solid #e2e5ec; border-radius: 8px; cursor: pointer; }
#tunnels .tab:hover { background: #f0f3f8; }
#tunnels .tab[aria-selected="true"] { border-color: var(--accent); box-shadow: inset 0 -3px 0 var(--accent); }
#tunnels .tab-head { display: flex; align-items: center; gap: 8px; }
#tunnels .tab-name { font-weight: 700; overflow-wrap: anywhere; }
#tunnels .tab-addr { font-family: ui-monospace, monospace; font-size: 12px; color: var(--muted); overflow-wrap: anywhere; }
.tunnel-pill { font-size: 12px; padding: 0 8px; }
.tunnel-pill[data-tone="ok"] { background: #e3f5ea; color: var(--ok); }
.tunnel-pill[data-tone="wait"] { background: #fff4e0; color: #a35c00; }
.tunnel-pill[data-tone="bad"] { background: #fdecea; color: var(--bad); }
.tunnel-pill[data-tone="off"] { background: #eef0f4; color: var(--muted); }
#chart-wrap { position: relative; background: #fff; border: 1px solid #e2e5ec; border-radius: 8px; }
.toolbar { position: absolute; top: 6px; right: 6px; z-index: 1; display: flex; align-items: center; gap: 4px; padding: 3px; background: rgba(255,255,255,.92); border: 1px solid #e2e5ec; border-radius: 6px; font-size: 12px; }
.toolbar button { font: inherit; min-width: 28px; padding: 2px 8px; border: 1px solid #d5d9e2; border-radius: 4px; background: #fff; color: var(--fg); cursor: pointer; }
.toolbar button:hover { background: #f0f3f8; }
.toolbar button[aria-pressed="true"] { background: var(--active); border-color: var(--accent); color: var(--accent); }
.toolbar [data-zoom-label] { min-width: 40px; text-align: center; color: var(--muted); font-variant-numeric: tabular-nums; }
#chart-box { padding: 36px 8px 8px; overflow: auto; max-height: 78vh; }
#chart-box.dragging { cursor: grabbing; user-select: none; }
#chart { display: block; margin: 0 auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--fg); }
svg .state-box { fill: #fff; stroke: var(--line); stroke-width: 1.5; }
svg .compound > .state-box { fill: #fafbfd; }
svg .root-box { fill: none; stroke: #d5d9e2; stroke-dasharray: 4 3; }
svg .state-name { font-weight: 700; font-size: 13px; }
svg .state-note { fill: var(--muted); font-size: 11px; }
svg [data-active="true"] > .state-box { fill: var(--active); stroke: var(--accent); stroke-width: 3; }
svg [data-active="true"] > .state-name { fill: var(--accent); }
svg .final > .state-box { stroke-dasharray: none; }
svg .final-inner { fill: none; stroke: var(--line); }
svg .edge { fill: none; stroke: #7d8699; stroke-width: 1.3; }
svg .edge-label { font-size: 11px; fill: #3d4557; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
svg .initial-dot { fill: var(--fg); }
svg .arrowhead { fill: #7d8699; }
svg .arrowhead.taken { fill: var(--taken); }
svg .edge.just-taken { stroke: var(--taken); stroke-width: 3; animation: taken-edge 4s ease-in forwards; }
svg .edge-label.just-taken { fill: var(--taken); font-weight: 700; animation: taken-label 4s ease-in forwards; }
@keyframes taken-edge { 0%, 50% { stroke: var(--taken); stroke-width: 3; } 100% { stroke: #7d8699; stroke-width: 1.3; } }
@keyframes taken-label { 0%, 50% { fill: var(--taken); } 100% { fill: #3d4557; } }
@media (prefers-reduced-motion: reduce) { svg .just-taken { animation: none; } }
.panels { display: grid; grid-template-columns: minmax(280px, 1fr) 2fr; gap: 14px; margin-top: 14px; }
.panel { background: #fff; border: 1px solid #e2e5ec; border-radius: 8px; padding: 12px 14px; min-height: 120px; min-width: 0; }
#context { border-collapse: collapse; width: 100%; }
#context th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 12px 2px 0; white-space: nowrap; vertical-align: top; }
#context td { font-family: ui-monospace, monospace; font-size: 12.5px; word-break: break-word; }
#context .err { color: var(--bad); }
#log { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12.5px; }
#log li { padding: 1px 0; border-bottom: 1px solid #f0f1f5; overflow-wrap: anywhere; }
#log .t { color: var(--muted); margin-right: 8px; }
#log .transition { color: var(--accent); font-weight: 600; }
#log .restart { color: var(--bad); font-weight: 600; }
@media (max-width: 900px) { .panels { grid-template-columns: minmax(0, 1fr); } }
@media (max-width: 560px) {
  header { padding: 8px 10px; } main { padding: 10px 8px; } h1 { font-size: 15px; }
  #context th { white-space: normal; padding-right: 8px; } #log .t { display: block; margin: 0; }
}
`;

/** The page's script: `page/*.ts` bundled by `scripts/bundle.ts` (ES2017, no dependencies). */
export { APP_JS } from './page/app.generated.js';
