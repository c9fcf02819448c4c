/**
 * The inspector page: HTML, CSS and the browser script, served by our own server so
 * the page works offline (no CDN). The script fetches `/graph`, lays out and draws
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

/** The page's script (plain ES2017, no dependencies). */
export const APP_JS = String.raw`(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var LINE = 15, PAD = 14, HEAD = 26, ROW_GAP = 30, MIN_GAP = 70, LANE = 18, CHAR = 6.6;

  var graph = null, byPath = {}, kids = {}, boxes = {}, groups = {};
  var snapshot = null, bootId = null, source = null, logItems = {};

  function $(id) { return document.getElementById(id); }
  function svg(name, attrs, parent) {
    var e = document.createElementNS(SVGNS, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function textW(s, bold) { return s.length * (bold ? CHAR + 0.8 : CHAR); }
  function actionName(a) { return a === 'xstate.assign' ? 'assign' : a; }
  function hiddenAction(a) { return /^xstate\.(raise|cancel)/.test(a); }
  function parentOf(p) { return byPath[p] ? byPath[p].parent : null; }
  function isAncestor(a, p) { return a === '' || p.indexOf(a + '.') === 0; }
  /** The child of container c that contains (or is) state p. */
  function kidOf(c, p) {
    while (p !== null && p !== undefined && parentOf(p) !== c) p = parentOf(p);
    return p === null || p === undefined ? null : p;
  }
  function trigger(t) {
    var s = t.kind === 'on' ? t.trigger : t.kind === 'after' ? 'after ' + t.trigger : t.kind + ': ' + t.trigger;
    if (t.guard) s += ' [' + t.guard + ']';
    var acts = t.actions.filter(function (a) { return !hiddenAction(a); }).map(actionName);
    if (acts.length) s += ' / ' + acts.join(', ');
    return s;
  }

  // ---- model --------------------------------------------------------------------
  function index(g) {
    graph = g; byPath = {}; kids = { '': [] };
    g.states.forEach(function (s) { byPath[s.path] = s; kids[s.path] = []; s.notes = []; });
    g.states.forEach(function (s) { kids[s.parent].push(s.path); });
    g.states.forEach(function (s) {
      if (s.invoke.length) s.notes.push('invoke: ' + s.invoke.join(', '));
      var entry = s.entry.filter(function (a) { return !hiddenAction(a); }).map(actionName);
      if (entry.length) s.notes.push('entry / ' + entry.join(', '));
      var exit = s.exit.filter(function (a) { return !hiddenAction(a); }).map(actionName);
      if (exit.length) s.notes.push('exit / ' + exit.join(', '));
    });
    g.rootNotes = (g.invoke || []).length ? ['invoke: ' + g.invoke.join(', ')] : [];
    g.edges = [];
    g.transitions.forEach(function (t) {
      var label = trigger(t);
      var owner = t.source === '' ? null : byPath[t.source];
      if (t.targets.length === 0) { (owner ? owner.notes : g.rootNotes).push('\u2022 ' + label); return; }
      t.targets.forEach(function (target) {
        if (target === t.source) { (owner ? owner.notes : g.rootNotes).push('\u21bb ' + label); return; }
        var e = null;
        g.edges.forEach(function (x) { if (x.source === t.source && x.target === target) e = x; });
        if (!e) { e = { source: t.source, target: target, labels: [] }; g.edges.push(e); }
        e.labels.push(label);
      });
    });
  }

  // ---- layout: layered columns inside each compound state -----------------------
  function measure(path) {
    var s = path === '' ? null : byPath[path];
    var notes = s ? s.notes : graph.rootNotes;
    var title = s ? s.key : graph.id;
    var head = HEAD + notes.length * LINE;
    var w = Math.max(120, textW(title, true) + 2 * PAD);
    notes.forEach(function (n) { w = Math.max(w, textW(n) + 2 * PAD); });
    var box = { path: path, w: w, h: head + 10, head: head, kids: [] };
    boxes[path] = box;
    var children = kids[path] || [];
    if (!children.length) return box;

    var init = s ? s.initial : graph.initial;
    var local = graph.edges.map(function (e) {
      var a = kidOf(path, e.source), b = kidOf(path, e.target);
      return a && b && a !== b && isAncestor(path, e.source) && isAncestor(path, e.target) ? { e: e, a: a, b: b } : null;
    }).filter(Boolean);
    // ranks: longest path from the initial child, ignoring back edges
    var rank = {}, state = {}, order = [];
    function dfs(p) {
      state[p] = 1; order.push(p);
      local.forEach(function (l) { if (l.a === p && state[l.b] !== 1 && state[l.b] !== 2) dfs(l.b); else if (l.a === p && state[l.b] === 1) l.back = true; });
      state[p] = 2;
    }
    if (init) dfs(init);
    children.forEach(function (c) { if (!state[c] && local.some(function (l) { return l.b === c && !l.back && state[l.a]; }) === false && local.some(function (l) { return l.a === c; })) dfs(c); });
    var changed = true, guard = 0;
    children.forEach(function (c) { rank[c] = 0; });
    while (changed && guard++ < 100) {
      changed = false;
      local.forEach(function (l) { if (!l.back && state[l.a] && rank[l.b] < rank[l.a] + 1) { rank[l.b] = rank[l.a] + 1; changed = true; } });
    }
    var maxRank = 0;
    children.forEach(function (c) { if (state[c]) maxRank = Math.max(maxRank, rank[c]); });
    var unreached = children.filter(function (c) { return !state[c]; });
    unreached.forEach(function (c) { rank[c] = unreached.length && order.length ? maxRank + 1 : 0; });

    var cols = [];
    children.map(function (c) { return { c: c, i: order.indexOf(c) < 0 ? 999 : order.indexOf(c) }; })
      .sort(function (x, y) { return x.i - y.i; })
      .forEach(function (x) { (cols[rank[x.c]] = cols[rank[x.c]] || []).push(x.c); });
    cols = cols.filter(Boolean);
    children.forEach(measure);

    // gaps between columns fit the labels of the edges that cross them
    var colOf = {};
    cols.forEach(function (col, i) { col.forEach(function (c) { colOf[c] = i; }); });
    var gaps = cols.map(function () { return MIN_GAP; });
    local.forEach(function (l) {
      l.span = colOf[l.b] - colOf[l.a];
      if (l.span === 1) l.e.labels.forEach(function (t) { gaps[colOf[l.a]] = Math.max(gaps[colOf[l.a]], textW(t) + 36); });
    });
    var areaH = 0;
    cols.forEach(function (col) {
      var h = -ROW_GAP;
      col.forEach(function (c) { h += boxes[c].h + ROW_GAP; });
      areaH = Math.max(areaH, h);
    });
    // long, same-column and backward edges run in lanes above or below the columns
    var above = [], below = [];
    local.forEach(function (l) {
      if (l.span === 1) return;
      var b = boxes[l.b], colH = -ROW_GAP, y = 0, mid;
      cols[colOf[l.b]].forEach(function (c) { colH += boxes[c].h + ROW_GAP; });
      cols[colOf[l.b]].some(function (c) { if (c === l.b) return true; y += boxes[c].h + ROW_GAP; return false; });
      mid = (areaH - colH) / 2 + y + b.h / 2;
      (l.span > 1 && mid < areaH / 2 ? above : below).push(l);
    });
    var top = box.head + 8 + (above.length ? above.length * LANE + 12 : 0);
    var x = PAD + 14;
    cols.forEach(function (col, i) {
      var colW = 0, colH = -ROW_GAP;
      col.forEach(function (c) { colW = Math.max(colW, boxes[c].w); colH += boxes[c].h + ROW_GAP; });
      var y = top + (areaH - colH) / 2;
      col.forEach(function (c) {
        var k = boxes[c];
        k.x = x + (colW - k.w) / 2; k.y = y; y += k.h + ROW_GAP;
        box.kids.push(k);
      });
      x += colW + (i < cols.length - 1 ? gaps[i] : 0);
    });
    above.forEach(function (l, i) { l.lane = top - 12 - i * LANE; l.side = 'top'; });
    below.forEach(function (l, i) { l.lane = top + areaH + 16 + i * LANE; l.side = 'bottom'; });
    box.local = local;
    box.init = init;
    // labels of arrows from this state's border down to a descendant (e.g. STOP) may stick out on the right
    var extra = 0;
    graph.edges.forEach(function (e) {
      var k = e.source === path && e.target !== path && isAncestor(path, e.target) ? boxes[kidOf(path, e.target)] : null;
      if (k) extra = Math.max(extra, k.x + k.w / 2 + 6 + textW(e.labels.join('; ') + ' (from any state)') - x + 10);
    });
    box.w = Math.max(box.w, x + PAD + extra);
    box.h = top + areaH + (below.length ? below.length * LANE + 20 : 0) + PAD;
    return box;
  }

  /** Turns relative positions into absolute ones. */
  function place(box, ox, oy) {
    box.ax = ox + (box.x || 0); box.ay = oy + (box.y || 0);
    box.kids.forEach(function (k) { place(k, box.ax, box.ay); });
  }

  // ---- drawing --------------------------------------------------------------------
  function drawBox(box, parentG) {
    var s = byPath[box.path];
    var isRoot = box.path === '';
    var g = svg('g', isRoot ? { 'class': 'root' } : { 'data-state': box.path, 'class': (box.kids.length ? 'compound' : 'atomic') + (s.type === 'final' ? ' final' : '') }, parentG);
    if (!isRoot) groups[box.path] = g;
    svg('rect', { x: box.ax, y: box.ay, width: box.w, height: box.h, rx: isRoot ? 10 : 8, 'class': isRoot ? 'root-box' : 'state-box' }, g);
    if (s && s.type === 'final') svg('rect', { x: box.ax + 3, y: box.ay + 3, width: box.w - 6, height: box.h - 6, rx: 6, 'class': 'final-inner' }, g);
    var name = svg('text', { x: box.ax + PAD, y: box.ay + 18, 'class': 'state-name' }, g);
    name.textContent = isRoot ? graph.id + ' (client machine)' : s.key + (s.type === 'final' ? ' (final)' : '');
    (s ? s.notes : graph.rootNotes).forEach(function (n, i) {
      var t = svg('text', { x: box.ax + PAD, y: box.ay + HEAD + 8 + i * LINE, 'class': 'state-note' }, g);
      t.textContent = n;
    });
    box.kids.forEach(function (k) { drawBox(k, g); });
    if (box.init && boxes[box.init]) {
      var ib = boxes[box.init], cy = ib.ay + Math.min(ib.h / 2, 22);
      svg('circle', { cx: ib.ax - 18, cy: cy, r: 4.5, 'class': 'initial-dot' }, g);
      svg('path', { d: 'M' + (ib.ax - 13) + ',' + cy + ' L' + ib.ax + ',' + cy, 'class': 'edge', 'marker-end': 'url(#arrow)' }, g);
    }
  }

  function ports(list) {
    // spread the ends of edges that share a side of a box
    var sides = {};
    list.forEach(function (p) { (sides[p.key] = sides[p.key] || []).push(p); });
    Object.keys(sides).forEach(function (k) {
      var ps = sides[k];
      ps.forEach(function (p, i) { p.frac = (i + 1) / (ps.length + 1); });
    });
  }

  function drawEdges(layer) {
    var pending = [];
    Object.keys(boxes).forEach(function (c) {
      var box = boxes[c];
      (box.local || []).forEach(function (l) { pending.push(l); });
    });
    var ends = [];
    pending.forEach(function (l) {
      var src = boxes[l.e.source], dst = boxes[l.e.target];
      if (l.span === 1) {
        l.p0 = { key: l.e.source + ':r', frac: 0.5 }; l.p1 = { key: l.e.target + ':l', frac: 0.5 };
      } else {
        l.p0 = { key: l.e.source + ':' + l.side, frac: 0.5 }; l.p1 = { key: l.e.target + ':' + l.side, frac: 0.5 };
      }
      l.src = src; l.dst = dst;
      ends.push(l.p0, l.p1);
    });
    // edges from a compound state to one of its descendants (e.g. the root's STOP)
    graph.edges.forEach(function (e) {
      if (!isAncestor(e.source, e.target) || e.source === e.target) return;
      var l = { e: e, ancestor: true, src: boxes[e.source], dst: boxes[e.target], p1: { key: e.target + ':top', frac: 0.5 } };
      ends.push(l.p1); pending.push(l);
    });
    ports(ends);
    var labels = [];
    pending.forEach(function (l) {
      var s = l.src, d = l.dst, path, lx, ly, text = l.e.labels.join('; ') + (l.ancestor && l.e.source === '' ? ' (from any state)' : '');
      if (l.ancestor) {
        var ex = d.ax + d.w * l.p1.frac, top = s.ay + (s.path === '' ? 30 : s.head);
        path = 'M' + ex + ',' + top + ' L' + ex + ',' + d.ay;
        svg('circle', { cx: ex, cy: top, r: 3, 'class': 'initial-dot' }, layer);
        lx = ex + 6; ly = top + 14;
      } else if (l.span === 1) {
        var x0 = s.ax + s.w, y0 = s.ay + Math.min(s.h, 90) * l.p0.frac, gapX = boxes[l.a].ax + boxes[l.a].w;
        var x1 = d.ax, y1 = d.ay + d.h * l.p1.frac, mx = (x0 + x1) / 2;
        path = 'M' + x0 + ',' + y0 + ' C' + mx + ',' + y0 + ' ' + mx + ',' + y1 + ' ' + x1 + ',' + y1;
        lx = gapX + 10; ly = y0 + (y1 - y0) * 0.5 - 4;
        labels.push({ x: lx, y: ly, text: text, l: l });
        lx = null;
      } else {
        var topSide = l.side === 'top';
        var sx = s.ax + s.w * l.p0.frac, dx = d.ax + d.w * l.p1.frac;
        var sy = topSide ? s.ay : s.ay + s.h, dy = topSide ? d.ay : d.ay + d.h, r = 6;
        var dir = dx > sx ? 1 : -1, v = topSide ? -1 : 1;
        path = 'M' + sx + ',' + sy + ' L' + sx + ',' + (l.lane - v * r) + ' Q' + sx + ',' + l.lane + ' ' + (sx + dir * r) + ',' + l.lane +
          ' L' + (dx - dir * r) + ',' + l.lane + ' Q' + dx + ',' + l.lane + ' ' + dx + ',' + (l.lane - v * r) + ' L' + dx + ',' + dy;
        lx = Math.min(sx, dx) + 10; ly = l.lane - 4;
      }
      svg('path', { d: path, 'class': 'edge', 'marker-end': 'url(#arrow)', 'data-edge': l.e.source + '->' + l.e.target }, layer);
      if (lx !== null) {
        var t = svg('text', { x: lx, y: ly, 'class': 'edge-label' }, layer);
        t.textContent = text;
      }
    });
    // labels of adjacent-column edges: keep them from overlapping
    labels.sort(function (a, b) { return a.x - b.x || a.y - b.y; });
    for (var i = 1; i < labels.length; i++) {
      var prev = labels[i - 1];
      if (Math.abs(labels[i].x - prev.x) < 120 && labels[i].y - prev.y < 15) labels[i].y = prev.y + 15;
    }
    labels.forEach(function (lb) {
      var t = svg('text', { x: lb.x, y: lb.y, 'class': 'edge-label' }, layer);
      t.textContent = lb.text;
    });
  }

  function render(g) {
    index(g);
    boxes = {}; groups = {};
    var root = measure('');
    root.x = 10; root.y = 10;
    place(root, 0, 0);
    var chart = $('chart');
    while (chart.firstChild) chart.removeChild(chart.firstChild);
    chart.style.maxWidth = (root.w + 20) + 'px';
    chart.setAttribute('viewBox', '0 0 ' + (root.w + 20) + ' ' + (root.h + 20));
    var defs = svg('defs', {}, chart);
    var m = svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    svg('path', { d: 'M0,0 L10,5 L0,10 z', 'class': 'arrowhead' }, m);
    drawBox(root, chart);
    drawEdges(svg('g', { 'class': 'edges' }, chart));
    if (snapshot) showSnapshot(snapshot);
  }

  // ---- live data ------------------------------------------------------------------
  function fmtTime(ms) {
    var d = new Date(ms);
    function p(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
    return p(d.getHours(), 2) + ':' + p(d.getMinutes(), 2) + ':' + p(d.getSeconds(), 2) + '.' + p(d.getMilliseconds(), 3);
  }
  function stateText(active) { return active.length ? active[active.length - 1] : '?'; }

  function showSnapshot(s) {
    snapshot = s;
    var active = {};
    s.active.forEach(function (p) { active[p] = true; });
    Object.keys(groups).forEach(function (p) {
      if (active[p]) groups[p].setAttribute('data-active', 'true'); else groups[p].removeAttribute('data-active');
    });
    $('state').textContent = stateText(s.active) + (s.status === 'done' ? ' (done)' : '');
    renderContext();
  }

  function renderContext() {
    var s = snapshot;
    if (!s) return;
    var c = s.context, st = c.settings || {}, rows = [];
    var err = c.lastError;
    rows.push(['state', JSON.stringify(s.value)]);
    rows.push(['attempt', c.attempt]);
    rows.push(['public port', c.publicPort == null ? '\u2014' : st.to + ':' + c.publicPort]);
    rows.push(['active connections', c.activeConnections]);
    rows.push(['last error', err ? err.message + ' (' + err.code + ', ' + err['class'] + ')' : '\u2014', err ? 'err' : '']);
    var retry = '\u2014';
    if (c.nextRetryAt) {
      var left = Math.max(0, c.nextRetryAt - Date.now()) / 1000;
      retry = fmtTime(c.nextRetryAt) + ' (in ' + left.toFixed(1) + 's, delay ' + ((c.retryDelayMs || 0) / 1000).toFixed(1) + 's)';
    }
    rows.push(['next retry', retry]);
    rows.push(['failures', c.failures]);
    rows.push(['reconnects', c.reconnects]);
    rows.push(['control connection', s.active.indexOf('authenticating') >= 0 || s.active.indexOf('listening') >= 0 ? 'open' : 'closed']);
    rows.push(['server', st.to + ':' + st.controlPort]);
    rows.push(['local service', st.localHost + ':' + st.localPort]);
    var table = $('context');
    while (table.firstChild) table.removeChild(table.firstChild);
    rows.forEach(function (r) {
      var tr = document.createElement('tr'), th = document.createElement('th'), td = document.createElement('td');
      th.textContent = r[0]; td.textContent = r[1] === undefined ? '\u2014' : String(r[1]);
      if (r[2]) td.className = r[2];
      tr.appendChild(th); tr.appendChild(td); table.appendChild(tr);
    });
  }

  function addLog(entries) {
    var list = $('log');
    entries.forEach(function (e) {
      var li = logItems[e.seq];
      if (!li) {
        li = document.createElement('li');
        logItems[e.seq] = li;
        list.insertBefore(li, list.firstChild);
        while (list.childNodes.length > 200) {
          var last = list.lastChild;
          Object.keys(logItems).forEach(function (k) { if (logItems[k] === last) delete logItems[k]; });
          list.removeChild(last);
        }
      }
      var text = e.kind === 'transition'
        ? (e.from || '(start)') + ' \u2192 ' + e.to + '   (' + e.event + ')'
        : e.event + (e.count > 1 ? '  \u00d7' + e.count : '');
      li.className = e.kind;
      li.innerHTML = '';
      var t = document.createElement('span'); t.className = 't'; t.textContent = fmtTime(e.time);
      li.appendChild(t); li.appendChild(document.createTextNode(text));
    });
  }

  function note(text) {
    var li = document.createElement('li');
    li.className = 'restart';
    li.textContent = fmtTime(Date.now()) + '  ' + text;
    $('log').insertBefore(li, $('log').firstChild);
  }

  function setConn(live, text) {
    var c = $('conn');
    c.className = 'pill ' + (live ? 'conn-live' : 'conn-wait');
    c.textContent = text;
  }

  function loadGraph() {
    return fetch('/graph', { cache: 'no-store' }).then(function (r) { return r.json(); }).then(render);
  }

  function connect() {
    if (source) source.close();
    source = new EventSource('/events');
    source.addEventListener('hello', function (m) {
      var hello = JSON.parse(m.data);
      setConn(true, 'live');
      if (bootId && hello.bootId !== bootId) {
        note('tunnel process restarted');
        loadGraph();
      }
      if (hello.bootId !== bootId) {
        bootId = hello.bootId;
        logItems = {};
        var list = $('log');
        Array.prototype.slice.call(list.childNodes).forEach(function (n) { if (n.className !== 'restart') list.removeChild(n); });
        addLog(hello.log);
      }
    });
    source.addEventListener('snapshot', function (m) { showSnapshot(JSON.parse(m.data)); });
    source.addEventListener('log', function (m) { addLog(JSON.parse(m.data)); });
    source.onerror = function () {
      setConn(false, 'tunnel process unreachable, reconnecting\u2026');
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
    };
  }

  setInterval(function () { if (snapshot && snapshot.context.nextRetryAt) renderContext(); }, 250);
  loadGraph().then(connect, function () { setConn(false, 'cannot load the chart'); setTimeout(function () { location.reload(); }, 2000); });
})();
`;
