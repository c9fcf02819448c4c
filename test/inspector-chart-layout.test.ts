/**
 * The chart's geometry (`src/inspector/page/layout.ts` and `edges.ts`), pure, in Node:
 * on the real client and supervisor machines and on a made-up machine with every kind
 * of edge, the chart reads top to bottom, fits a 1280 px window at 100%, and no arrow
 * or label crosses a box it does not belong to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AnyStateMachine, createMachine } from 'xstate';
import { clientMachine } from '../machines/client.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { machineGraph } from '../src/inspector/graph.js';
import { type EdgeRoute, leastCrossing, routeEdges } from '../src/inspector/page/edges.js';
import { type Box, type ChartLayout, type LocalEdge, layoutChart, rankRows, textWidth } from '../src/inspector/page/layout.js';
import { type ChartModel, ROOT, chartModel } from '../src/inspector/page/model.js';

const layoutOf = (machine: AnyStateMachine): ChartLayout => layoutChart(chartModel(machineGraph(machine)));
const name = (l: LocalEdge) => `${l.edge.source}->${l.edge.target}`;
const boxOf = (layout: ChartLayout, path: string): Box => layout.boxes.get(path)!;

/** A machine with every kind of edge: long ones down, back ones up, sideways, out of and into nested states, a drop. */
const tangled = createMachine({
  id: 'tangled',
  initial: 'a',
  on: { RESET: '.z' },
  states: {
    a: { on: { NEXT: 'b', SKIP: 'd', FAIL: 'f', SIDE: 'e' } },
    b: {
      initial: 'b1',
      on: { FAIL: 'f' },
      states: { b1: { on: { GO: 'b2', LONG: 'b3' } }, b2: { on: { GO: 'b3', BACK: 'b1' } }, b3: { after: { 1000: '#tangled.d' } } },
    },
    c: { on: { UP: 'a', FAIL: 'f' } },
    d: { on: { NEXT: 'c', FAIL: 'f', TOP: 'a' } },
    e: { on: { OVER: 'd' } },
    f: { on: { RETRY: 'a', INNER: 'b.b2' } },
    z: { type: 'final' },
  },
});

/** Every state that is `path` or holds it (the root last). */
function ancestry(model: ChartModel, path: string): string[] {
  const out: string[] = [];
  for (let p: string | undefined = path; p !== undefined; p = p === ROOT ? undefined : (model.states.get(p)?.parent ?? ROOT)) out.push(p);
  return out;
}

/** Whether the axis-parallel segment a-b enters the inside of box `k` (its border excluded). */
function enters(a: { x: number; y: number }, b: { x: number; y: number }, k: Box): boolean {
  const [x0, x1] = [Math.min(a.x, b.x), Math.max(a.x, b.x)];
  const [y0, y1] = [Math.min(a.y, b.y), Math.max(a.y, b.y)];
  return x1 > k.ax + 0.5 && x0 < k.ax + k.width - 0.5 && y1 > k.ay + 0.5 && y0 < k.ay + k.height - 0.5;
}

/** A label's estimated rectangle (11 px text from its baseline). */
const labelRect = (r: EdgeRoute) => ({ ax: r.label.x, ay: r.label.y - 9, width: textWidth(r.label.text) * (11 / 12), height: 12 });

/** The faults of a drawing: arrows through boxes, labels on boxes or on each other, parts outside the drawing. */
function faults(layout: ChartLayout): string[] {
  const { model } = layout;
  const out: string[] = [];
  const routes = routeEdges(layout);
  for (const r of routes) {
    const key = `${r.edge.source}->${r.edge.target}`;
    const own = new Set([...ancestry(model, r.edge.source), ...ancestry(model, r.edge.target)]);
    for (let i = 1; i < r.points.length; i++) {
      const [a, b] = [r.points[i - 1]!, r.points[i]!];
      if (a.x !== b.x && a.y !== b.y) out.push(`${key}: a slanted run ${JSON.stringify([a, b])}`);
      for (const k of layout.boxes.values()) if (!own.has(k.path) && enters(a, b, k)) out.push(`${key} crosses ${k.path}`);
      if (Math.max(a.x, b.x) > layout.width || Math.max(a.y, b.y) > layout.height) out.push(`${key} leaves the drawing`);
    }
    // A label stands in its container's channels: over no box but that container and those holding it.
    const shared = ancestry(model, r.edge.source).filter((p) => ancestry(model, r.edge.target).includes(p));
    const container = shared.includes(r.edge.source) ? r.edge.source : shared[0]!;
    const holders = new Set(ancestry(model, container));
    const rect = labelRect(r);
    for (const k of layout.boxes.values())
      if (!holders.has(k.path) && enters({ x: rect.ax, y: rect.ay }, { x: rect.ax + rect.width, y: rect.ay + rect.height }, k))
        out.push(`the label of ${key} is on ${k.path}`);
    const box = boxOf(layout, container);
    if (rect.ax + rect.width > box.ax + box.width) out.push(`the label of ${key} sticks out of ${JSON.stringify(container)}`);
  }
  routes.forEach((r, i) => {
    for (const s of routes.slice(i + 1)) {
      const [a, b] = [labelRect(r), labelRect(s)];
      if (a.ax < b.ax + b.width && b.ax < a.ax + a.width && a.ay < b.ay + b.height && b.ay < a.ay + a.height)
        out.push(`labels overlap: ${r.label.text} / ${s.label.text}`);
    }
  });
  return out;
}

test('client machine: rows follow the lifecycle; only the retry and the return to the first server close a cycle', () => {
  const layout = layoutOf(clientMachine);
  assert.deepEqual(boxOf(layout, '').rows, [
    ['connecting', 'stopped'],
    ['securing'],
    ['authenticating'],
    ['listening'],
    ['returning', 'failed'],
    ['backoff', 'fatal'],
  ]);
  // The parallel regions stand side by side, with no initial arrow between them.
  assert.deepEqual(boxOf(layout, 'listening').rows, [['listening.heartbeat', 'listening.pool']]);
  assert.equal(boxOf(layout, '').initial, 'connecting');
  assert.equal(boxOf(layout, 'listening').initial, undefined);
  assert.equal(boxOf(layout, 'listening.heartbeat').initial, 'listening.heartbeat.alive');
  assert.deepEqual(boxOf(layout, 'listening.pool').rows, [
    ['listening.pool.asking'],
    ['listening.pool.standard', 'listening.pool.off'],
    ['listening.pool.open'],
  ]);
  const root = boxOf(layout, '');
  const { back } = rankRows(layout.model.children.get('')!, 'connecting', root.local);
  assert.deepEqual(root.local.filter((_, i) => back[i]).map(name), ['returning->connecting', 'backoff->connecting']);
  // The heartbeat timeout leaves from `alive` but is laid out between the root's children.
  assert.deepEqual(
    root.local.filter((l) => l.edge.source === 'listening.heartbeat.alive').map((l) => [l.from, l.to, l.kind]),
    [['listening', 'failed', 'next']],
  );
  assert.deepEqual(boxOf(layout, 'listening').local, [], 'nothing is drawn inside listening');
});

test('client machine: edges to the next row go straight through the channel; the others share a lane per target, beside the rows', () => {
  const layout = layoutOf(clientMachine);
  const root = boxOf(layout, '');
  assert.deepEqual(root.local.filter((l) => l.kind === 'next').map(name), [
    'connecting->securing',
    'securing->authenticating',
    'authenticating->listening',
    'listening->failed',
    'listening->returning',
    'listening.heartbeat.alive->failed',
    'failed->fatal',
    'failed->backoff',
  ]);
  const lanes = (side: string) =>
    root.lanes.filter((l) => l.side === side).map((lane) => [lane.target, root.local.filter((l) => l.lane === lane).map(name)]);
  // Every failure goes through `failed`: one lane on the right; the step past `securing`
  // without TLS has its own; the two edges back to `connecting` share one on the left.
  assert.deepEqual(lanes('right'), [
    ['authenticating', ['connecting->authenticating']],
    ['failed', ['connecting->failed', 'securing->failed', 'authenticating->failed']],
  ]);
  assert.deepEqual(lanes('left'), [['connecting', ['returning->connecting', 'backoff->connecting']]]);
  for (const box of layout.boxes.values()) {
    if (!box.kids.length) continue;
    const left = Math.min(...box.kids.map((k) => k.x));
    const right = Math.max(...box.kids.map((k) => k.x + k.width));
    for (const lane of box.lanes) {
      const where = `${JSON.stringify(box.path)}: the lane to ${lane.target} at ${lane.x}`;
      if (lane.side === 'left') assert.ok(lane.x > 0 && lane.x < left - 18, `${where} is not left of the rows and the initial dot`);
      else assert.ok(lane.x > right && lane.x < box.width, `${where} is not right of the rows, inside the box`);
    }
    const xs = box.lanes.map((l) => l.x);
    assert.equal(new Set(xs).size, xs.length, `${JSON.stringify(box.path)}: two lanes at one x`);
  }
});

test('client machine: boxes stand in rows, inside their parent, none overlapping, a channel between rows', () => {
  const layout = layoutOf(clientMachine);
  assert.deepEqual([layout.root.ax, layout.root.ay], [10, 10]);
  assert.deepEqual([layout.width, layout.height], [layout.root.width + 20, layout.root.height + 20]);
  for (const box of layout.boxes.values()) {
    for (const k of box.kids) {
      assert.equal(k.ax, box.ax + k.x);
      assert.equal(k.ay, box.ay + k.y);
      assert.ok(
        k.x > 0 && k.y >= box.head && k.x + k.width < box.width && k.y + k.height < box.height,
        `${k.path} sticks out of ${JSON.stringify(box.path)}`,
      );
    }
    let bottom = -Infinity;
    for (const row of box.rows) {
      const kids = row.map((p) => boxOf(layout, p));
      const top = Math.min(...kids.map((k) => k.y));
      assert.ok(top > bottom, `row ${row.join()} overlaps the one above`);
      const channel = box.channels.find((c) => c.y >= bottom && c.y + c.height <= top);
      assert.ok(channel, `no channel above row ${row.join()} in ${JSON.stringify(box.path)}`);
      bottom = Math.max(...kids.map((k) => k.y + k.height));
      for (let i = 1; i < kids.length; i++)
        assert.ok(kids[i]!.x >= kids[i - 1]!.x + kids[i - 1]!.width + 20, `${row.join()}: side by side`);
    }
  }
});

test('client machine: the whole chart fits a 1280 px window at 100%, so its labels are drawn at 11 px', () => {
  // The page's chart box is 1280 less 2 x 18 of margin, 2 of border and 2 x 8 of padding wide.
  const layout = layoutOf(clientMachine);
  assert.ok(layout.width <= 1226, `the chart is ${layout.width} wide`);
  assert.ok(layoutOf(supervisorMachine).width <= 1226);
});

test('every arrow is drawn once, from its source to its target, and no arrow or label crosses a box', () => {
  for (const machine of [clientMachine, supervisorMachine, tangled]) {
    const layout = layoutOf(machine);
    const routes = routeEdges(layout);
    const id = layout.model.id;
    const drawn = routes.map((r) => `${r.edge.source}->${r.edge.target}`);
    assert.deepEqual([...drawn].sort(), layout.model.edges.map((e) => `${e.source}->${e.target}`).sort(), id);
    for (const r of routes) {
      const [first, last] = [r.points[0]!, r.points[r.points.length - 1]!];
      const s = boxOf(layout, r.edge.source);
      const t = boxOf(layout, r.edge.target);
      if (r.dot) assert.deepEqual(first, r.dot, `${id}: a drop starts at its dot`);
      else
        assert.ok(
          first.y === s.ay + s.height && first.x > s.ax && first.x < s.ax + s.width,
          `${id}: ${r.edge.source} -> leaves off its bottom`,
        );
      assert.ok(last.y === t.ay && last.x > t.ax && last.x < t.ax + t.width, `${id}: -> ${r.edge.target} ends off its top`);
      assert.equal(r.label.edge, `${r.edge.source}->${r.edge.target}`);
    }
    const starts = routes.filter((r) => !r.dot).map((r) => `${r.points[0]!.x},${r.points[0]!.y}`);
    assert.equal(new Set(starts).size, starts.length, `${id}: two arrows leave from one point`);
    assert.deepEqual(faults(layout), [], id);
  }
});

test('the check of crossings can fail: a box moved onto an arrow is found', () => {
  const layout = layoutOf(clientMachine);
  const fatal = boxOf(layout, 'fatal');
  const stopped = boxOf(layout, 'stopped');
  // `stopped` put where `fatal` is: arrows into `fatal` now cross it, and labels touch it.
  Object.assign(stopped, { ax: fatal.ax - 10, ay: fatal.ay - 30, width: fatal.width + 20, height: fatal.height + 20 });
  const found = faults(layout);
  assert.ok(found.includes('failed->fatal crosses stopped'), found.join('\n'));
});

test('rankRows: longest paths, back edges, searches from unreached children; the rest join the first row', () => {
  const links = (...pairs: string[]) => pairs.map((p) => ({ from: p[0]!, to: p[1]! }));
  assert.deepEqual(rankRows(['a', 'b', 'c'], 'a', links('ab', 'bc', 'ca')), { rows: [['a'], ['b'], ['c']], back: [false, false, true] });
  assert.deepEqual(rankRows(['a', 'b', 'c'], 'a', links('ac', 'ab', 'bc')).rows, [['a'], ['b'], ['c']], 'c after its longest path');
  // x is not reachable from the initial a: a search starts from it; z has no links at all.
  assert.deepEqual(rankRows(['z', 'a', 'b', 'x', 'y'], 'a', links('ab', 'xy')).rows, [
    ['a', 'x', 'z'],
    ['b', 'y'],
  ]);
  assert.deepEqual(rankRows(['p', 'q'], undefined, []).rows, [['p', 'q']], 'no initial state and no links: one row');
  assert.deepEqual(rankRows(['a', 'b'], 'a', links('aa', 'ab')).back, [true, false], 'a self-loop is a back edge');
  // Of two in a row, the one that goes back comes first (its lane is on the left).
  assert.deepEqual(rankRows(['a', 'b', 'c'], 'a', links('ab', 'ac', 'ca')).rows, [['a'], ['c', 'b']]);
});

test("leastCrossing: a channel's lines in the order where fewer runs cross", () => {
  // p leaves at x 100 for 300, q at 200 for 400. p above q: q's way down (x 200) crosses
  // p's run (100..300) and p's way on (x 300) crosses q's (200..400); q above p: none.
  const p = { key: 'p', v: [[100, -Infinity, 0] as const, [300, 0, Infinity] as const], h: [[100, 300] as const] };
  const q = { key: 'q', v: [[200, -Infinity, 0] as const, [400, 0, Infinity] as const], h: [[200, 400] as const] };
  assert.deepEqual(
    leastCrossing([p, q]).map((i) => i.key),
    ['q', 'p'],
  );
  assert.deepEqual(
    leastCrossing([q, p]).map((i) => i.key),
    ['q', 'p'],
  );
  // A label counts: r's way down at x 120 would cross s's label (110..170) were s above.
  const r = { key: 'r', v: [[120, -Infinity, 0] as const], h: [] };
  const s = { key: 's', v: [[104, -Infinity, 0] as const], h: [], label: [110, 60] as const };
  assert.deepEqual(
    leastCrossing([s, r]).map((i) => i.key),
    ['r', 's'],
  );
});
