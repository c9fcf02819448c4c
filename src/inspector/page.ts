/**
 * The inspector page: HTML, CSS and the browser script, served by our own server so
 * the page works offline (no CDN). The script (`page/main.ts` and its modules, bundled
 * at build time into `page/app.generated.ts`) fetches `/graph`, lays out and draws
 * the statechart as SVG (each state a `<g data-state="path">`, the active ones with
 * `data-active="true"`), and follows `/events` for snapshots and the live log,
 * reconnecting by itself when the tunnel process restarts.
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
  <section id="chart-box"><svg id="chart" role="img" aria-label="client statechart"></svg></section>
  <section class="panels">
    <div class="panel"><h2>Context</h2><table id="context"></table></div>
    <div class="panel"><h2>Events and transitions</h2><ol id="log"></ol></div>
  </section>
</main>
<script src="/app.js"></script>
</body>
</html>
`;

/** The page's styles. */
export const APP_CSS = `
:root { color-scheme: light; --fg: #1d2433; --muted: #6b7385; --line: #9aa3b5; --accent: #1f7ae0; --active: #e8f2ff; --bad: #c2362b; --ok: #1f8a4c; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #f6f7fa; }
header { display: flex; align-items: center; gap: 12px; padding: 10px 18px; background: #fff; border-bottom: 1px solid #e2e5ec; }
h1 { font-size: 17px; margin: 0 8px 0 0; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 0 0 8px; }
.pill { padding: 2px 10px; border-radius: 999px; background: #eef0f4; font-weight: 600; }
#state { background: var(--active); color: var(--accent); }
.conn-live { background: #e3f5ea; color: var(--ok); }
.conn-wait { background: #fdecea; color: var(--bad); }
main { padding: 14px 18px; }
#chart-box { background: #fff; border: 1px solid #e2e5ec; border-radius: 8px; padding: 8px; overflow-x: auto; }
#chart { display: block; width: 100%; height: auto; margin: 0 auto; }
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
.panels { display: grid; grid-template-columns: minmax(280px, 1fr) 2fr; gap: 14px; margin-top: 14px; }
.panel { background: #fff; border: 1px solid #e2e5ec; border-radius: 8px; padding: 12px 14px; min-height: 120px; }
#context { border-collapse: collapse; width: 100%; }
#context th { text-align: left; color: var(--muted); font-weight: 500; padding: 2px 12px 2px 0; white-space: nowrap; vertical-align: top; }
#context td { font-family: ui-monospace, monospace; font-size: 12.5px; word-break: break-word; }
#context .err { color: var(--bad); }
#log { list-style: none; margin: 0; padding: 0; max-height: 320px; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12.5px; }
#log li { padding: 1px 0; border-bottom: 1px solid #f0f1f5; }
#log .t { color: var(--muted); margin-right: 8px; }
#log .transition { color: var(--accent); font-weight: 600; }
#log .restart { color: var(--bad); font-weight: 600; }
`;

/** The page's script: `page/*.ts` bundled by `scripts/bundle.ts` (ES2017, no dependencies). */
export { APP_JS } from './page/app.generated.js';
