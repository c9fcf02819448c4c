/**
 * `--inspect`: the page in a real headless Chromium (skipped, with a message, when
 * Chromium cannot start): the statechart, the live state, several tunnels, a tunnel that
 * gave up, and a page that survives a tunnel restart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { clientMachine } from '../machines/client.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { machineGraph } from '../src/inspector/graph.js';
import { BoreProcess, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { launchBrowser } from './helpers/inspect.js';

const PORTS = ['--min-port', '25300', '--max-port', '25399'];
/** Fixed inspector port of the browser test, so a restarted client serves the same page. */
const BROWSER_INSPECT_PORT = 25990;

/** Records on the page, in `window.takenLog`, every arrow that gets the class `just-taken`, in order. */
const RECORD_TAKEN = `(() => {
  window.takenLog = [];
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.target.matches('path.just-taken') && !(r.oldValue || '').split(' ').includes('just-taken'))
        window.takenLog.push(r.target.getAttribute('data-edge'));
    }
  }).observe(document.getElementById('chart'), { subtree: true, attributes: true, attributeFilter: ['class'], attributeOldValue: true });
})()`;

test('the page in a real browser: statechart, live state, survives a tunnel restart', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const echo = await startEchoServer();
  t.after(() => echo.close());
  let server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  const inspect = `--inspect=${BROWSER_INSPECT_PORT}`;
  let client = await startClient(echo.port, server.controlPort, [inspect]);
  t.after(() => client.stop());
  await client.waitFor(new RegExp(`inspector at http://127\\.0\\.0\\.1:${BROWSER_INSPECT_PORT}/`));

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(`http://127.0.0.1:${BROWSER_INSPECT_PORT}/`);

  // every state of the machine is drawn, and exactly the active ones are marked
  await page.waitForSelector('[data-state="listening"][data-active="true"]', { timeout: 10_000 });
  const drawn = await page.$$eval('[data-state]', (els) => els.map((e) => e.getAttribute('data-state')));
  assert.deepEqual(
    drawn.sort(),
    machineGraph(clientMachine)
      .states.map((s) => s.path)
      .sort(),
  );
  const active = await page.$$eval('[data-active="true"]', (els) => els.map((e) => e.getAttribute('data-state')));
  assert.deepEqual(active.sort(), [
    'listening',
    'listening.heartbeat',
    'listening.heartbeat.alive',
    'listening.pool',
    'listening.pool.open',
  ]);
  assert.equal((await page.locator('path.edge').count()) > 10, true, 'transitions are drawn');
  assert.ok(await page.locator('#tunnels').isHidden(), 'one tunnel: no tab strip');
  assert.match((await page.textContent('#context'))!, new RegExp(`127\\.0\\.0\\.1:${client.publicPort}`));

  // Readable at 1280x800: state names and arrow labels at 11 px or more on screen (font size times the SVG's scale).
  const onScreen = (selector: string) =>
    page.evaluate<number[]>(`Array.from(document.querySelectorAll(${JSON.stringify(selector)}),
      (e) => parseFloat(getComputedStyle(e).fontSize) * e.getScreenCTM().a)`);
  for (const selector of ['#chart .state-name', '#chart .edge-label', '#chart .state-note']) {
    const sizes = await onScreen(selector);
    assert.ok(sizes.length > 0, `no ${selector} drawn`);
    assert.ok(Math.min(...sizes) >= 11, `${selector} at ${Math.min(...sizes).toFixed(1)} px on screen at 1280x800`);
  }
  // The whole chart across at its default zoom: no sideways scrolling in its box.
  const across = await page.evaluate<number[]>(
    `(() => { const b = document.getElementById('chart-box'); return [b.scrollWidth, b.clientWidth]; })()`,
  );
  assert.ok(across[0]! <= across[1]!, `the chart box scrolls sideways at 1280x800: ${across.join(' > ')}`);
  // As drawn: no arrow passes through the box of a state that holds neither its source nor its target.
  const through = await page.evaluate<string[]>(`(() => {
    const boxes = Array.from(document.querySelectorAll('#chart [data-state]'), (g) => [g.getAttribute('data-state'), g.querySelector('rect').getBBox()]);
    const holds = (p, q) => q === p || q.startsWith(p + '.');
    const found = new Set();
    for (const path of document.querySelectorAll('#chart path.edge[data-edge]')) {
      const key = path.getAttribute('data-edge');
      const [source, target] = key.split('->');
      for (let d = 0, n = path.getTotalLength(); d <= n; d += 2) {
        const { x, y } = path.getPointAtLength(d);
        for (const [state, r] of boxes)
          if (!holds(state, source) && !holds(state, target) && x > r.x + 1 && x < r.x + r.width - 1 && y > r.y + 1 && y < r.y + r.height - 1)
            found.add(key + ' through ' + state);
      }
    }
    return [...found];
  })()`);
  assert.deepEqual(through, [], 'arrows drawn through boxes');
  // (the arrow's label has its key too, so the label is highlighted with it)
  assert.ok((await page.locator('text.edge-label[data-edge="backoff->connecting"]').count()) === 1);

  // Heartbeats re-enter listening.heartbeat.alive every 500 ms: no arrow lights up for them.
  await page.evaluate(RECORD_TAKEN);
  // The count of SERVER.HEARTBEAT on its log line (`server heartbeat  ×12`, hidden by default).
  const HEARTBEATS = `(() => {
    const line = Array.from(document.querySelectorAll('#log li.event[data-event="SERVER.HEARTBEAT"]'), (li) => li.textContent)[0];
    return line ? Number((/\u00d7(\\d+)/.exec(line) || [0, 1])[1]) : 0;
  })()`;
  const before = await page.evaluate<number>(HEARTBEATS);
  await page.waitForFunction(`${HEARTBEATS} >= ${before + 3}`, undefined, { timeout: 10_000 });
  assert.deepEqual(await page.evaluate('window.takenLog'), [], 'no arrow highlighted by heartbeats');
  assert.equal(await page.locator('.just-taken').count(), 0);

  // the server dies: the page follows the machine into backoff/connecting, lighting up the arrows taken
  await server.stop('SIGKILL');
  await page.waitForSelector('[data-state="backoff"][data-active="true"], [data-state="connecting"][data-active="true"]', {
    timeout: 5000,
  });
  await page.waitForSelector('#log li.transition >> text=backoff', { timeout: 5000 });
  await page.waitForFunction('window.takenLog.includes("failed->backoff")', undefined, { timeout: 5000 });
  // The connection is lost (CONTROL.LOST, declared on listening), failed is left at once for backoff.
  const taken = await page.evaluate<string[]>('window.takenLog');
  assert.deepEqual(taken.slice(0, 2).sort(), ['failed->backoff', 'listening->failed'], `arrows lit: ${taken.join(', ')}`);
  assert.ok(!taken.includes('listening.heartbeat.alive->failed'), 'not the heartbeat timeout: that is not what happened');
  assert.match((await page.textContent('#context'))!, /server closed the connection|ECONNREFUSED/);
  const artifacts = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}inspector.png`, fullPage: true });

  // Narrow windows: no horizontal scrolling of the page, the panels stack under the chart, log lines wrap.
  for (const width of [600, 400]) {
    await page.setViewportSize({ width, height: 800 });
    const box = await page.evaluate(`(() => {
      const rect = (sel) => document.querySelector(sel).getBoundingClientRect();
      const lines = Array.from(document.querySelectorAll('#log li'));
      return {
        scrollWidth: document.documentElement.scrollWidth,
        innerWidth: window.innerWidth,
        chartBottom: rect('#chart-wrap').bottom,
        contextTop: rect('#context').top,
        contextBottom: document.querySelector('#context').closest('.panel').getBoundingClientRect().bottom,
        logTop: rect('#log').top,
        logRight: rect('#log').right,
        linesOverflowing: lines.filter((li) => li.scrollWidth > li.clientWidth + 1 || li.getBoundingClientRect().right > window.innerWidth).length,
        lines: lines.length,
      };
    })()`);
    const b = box as Record<string, number>;
    assert.ok(b.scrollWidth! <= b.innerWidth!, `${width} px: the page is ${b.scrollWidth} px wide`);
    assert.ok(b.contextTop! > b.chartBottom! && b.logTop! > b.contextBottom!, `${width} px: chart and panels stack (${JSON.stringify(b)})`);
    assert.ok(b.lines! > 0 && b.linesOverflowing === 0, `${width} px: log lines overflow (${JSON.stringify(b)})`);
    assert.ok(b.logRight! <= width, `${width} px: the log sticks out`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });

  // Ctrl+C: the page shows the final state, then that the process ended, and keeps both once it is gone.
  const pageTriesAgain = page.waitForEvent('requestfailed', { predicate: (r) => r.url().endsWith('/events'), timeout: 10_000 });
  client.proc.kill('SIGINT');
  await page.waitForSelector('[data-state="stopped"][data-active="true"]', { timeout: 5000 });
  await page.waitForSelector('#state:has-text("stopped")', { timeout: 5000 });
  await page.waitForSelector('#conn.conn-ended:has-text("ended")', { timeout: 5000 });
  await client.exited;
  await pageTriesAgain; // the process is gone: the page has tried to reconnect at least once
  assert.match((await page.textContent('#state'))!, /stopped/);
  assert.match((await page.textContent('#conn'))!, /tunnel process ended/);
  assert.deepEqual(await page.$$eval('[data-active="true"]', (els) => els.map((e) => e.getAttribute('data-state'))), ['stopped']);
  assert.ok(await page.evaluate<boolean>('window.takenLog.includes("->stopped")'), 'the STOP arrow lit up');

  // the tunnel process restarts on the same inspector port: the page reconnects by itself
  server = await startServer(PORTS);
  client = await startClient(echo.port, server.controlPort, [inspect]);
  await page.waitForSelector('#conn.conn-live', { timeout: 10_000 });
  await page.waitForSelector('[data-state="listening"][data-active="true"]', { timeout: 10_000 });
  await page.waitForSelector('#log li.restart', { timeout: 5000 });
  assert.match((await page.textContent('#context'))!, new RegExp(`127\\.0\\.0\\.1:${client.publicPort}`));
  await page.screenshot({ path: `${artifacts}inspector-listening.png`, fullPage: true });
  assert.deepEqual(
    errors.filter((e) => !e.includes('/events')),
    [],
    'no script errors, no failed requests',
  );
});

test('the page in a real browser with several tunnels: a tab each with its state, its chart and context on selection', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  // Both ports fixed: a random one could be 25350 (1 in 100), taken before the other asks.
  const [a, b] = [`${echo.port}:25351`, `${echo.port}:25350`];
  const local = new BoreProcess([
    'local',
    a,
    b,
    '--local-host',
    '127.0.0.1',
    '--to',
    '127.0.0.1',
    '--control-port',
    String(server.controlPort),
    '--inspect',
  ]);
  t.after(() => local.stop('SIGKILL'));
  const port = Number((await local.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const publicPort = async (name: string) =>
    Number((await local.waitFor(new RegExp(`listening at 127\\.0\\.0\\.1:(\\d+) tunnel=${name.replace(/:/g, '\\:')} `)))[1]);
  const ports = { [a]: await publicPort(a), [b]: await publicPort(b) };
  assert.equal(ports[b], 25350);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('requestfailed', (r) => errors.push(`request failed: ${r.url()}`));
  await page.goto(`http://127.0.0.1:${port}/`);

  const tab = (name: string) => `#tunnels [data-tunnel=${JSON.stringify(name)}]`;
  const pills = `Array.from(document.querySelectorAll('#tunnels [data-tunnel]:not([data-tunnel=""]) .tunnel-pill'), (p) => p.textContent)`;
  // Both tunnels listed, each with its public port, each pill listening.
  await page.waitForFunction(`(() => { const p = ${pills}; return p.length === 2 && p.every((t) => t === 'listening'); })()`, undefined, {
    timeout: 10_000,
  });
  assert.deepEqual(
    await page.$$eval('#tunnels [data-tunnel]', (els) => els.map((e) => e.getAttribute('data-tunnel'))),
    ['', a, b],
    'the supervisor, then the tunnels in their order',
  );
  for (const name of [a, b]) {
    assert.equal(await page.textContent(`${tab(name)} .tab-name`), name);
    assert.equal(await page.textContent(`${tab(name)} .tab-addr`), `127.0.0.1:${echo.port} \u2192 127.0.0.1:${ports[name]}`);
    assert.equal(await page.getAttribute(`${tab(name)} .tunnel-pill`, 'data-tone'), 'ok');
  }
  // At first the supervisor: its chart, running, and every tunnel in its context table.
  await page.waitForSelector('[data-state="running"][data-active="true"]', { timeout: 5000 });
  const drawn = () => page.$$eval('[data-state]', (els) => els.map((e) => e.getAttribute('data-state')).sort());
  assert.deepEqual(
    await drawn(),
    machineGraph(supervisorMachine)
      .states.map((s) => s.path)
      .sort(),
  );
  assert.equal(await page.getAttribute(tab(''), 'aria-selected'), 'true');
  assert.match((await page.textContent('#state'))!, /running/);
  assert.match((await page.textContent('#context'))!, new RegExp(`${a}listening, port ${ports[a]}`));

  // The second tunnel: its client machine's chart with listening active, its context with the pool.
  await page.click(tab(b));
  await page.waitForSelector(`${tab(b)}[aria-selected="true"]`, { timeout: 5000 });
  await page.waitForSelector('[data-state="listening.heartbeat.alive"][data-active="true"]', { timeout: 5000 });
  assert.deepEqual(
    await drawn(),
    machineGraph(clientMachine)
      .states.map((s) => s.path)
      .sort(),
  );
  assert.ok(await page.locator('[data-state="listening"][data-active="true"]').count());
  assert.equal(await page.getAttribute(tab(''), 'aria-selected'), 'false');
  assert.equal(await page.textContent('#context-title'), `Context \u00b7 ${b}`);
  const context = (await page.textContent('#context'))!;
  assert.match(context, new RegExp(`public port127\\.0\\.0\\.1:${ports[b]}`));
  assert.match(context, /connection pool\d+ idle of \d+/);
  assert.match(page.url(), new RegExp(`#tunnel=${encodeURIComponent(b)}$`));

  // The server dies: both pills leave listening, and the selected tunnel's chart lights the arrows it takes.
  await page.evaluate(RECORD_TAKEN);
  await server.stop('SIGKILL');
  await page.waitForFunction(`${pills}.every((t) => t !== 'listening')`, undefined, { timeout: 10_000 });
  await page.waitForSelector('[data-state="backoff"][data-active="true"], [data-state="connecting"][data-active="true"]', {
    timeout: 5000,
  });
  await page.waitForFunction('window.takenLog.includes("failed->backoff")', undefined, { timeout: 5000 });
  // The tunnel's own steps came with the snapshot: the arrow of CONTROL.LOST, not the heartbeat timeout's.
  const taken = await page.evaluate<string[]>('window.takenLog');
  assert.deepEqual(taken.slice(0, 2).sort(), ['failed->backoff', 'listening->failed'], `arrows lit: ${taken.join(', ')}`);
  assert.ok(!taken.includes('listening.heartbeat.alive->failed'), `arrows lit: ${taken.join(', ')}`);
  assert.notEqual(await page.getAttribute(`${tab(a)} .tunnel-pill`, 'data-tone'), 'ok');
  await page.waitForSelector(`#log li.transition >> text=[${b}]`, { timeout: 5000 });
  const artifacts = fileURLToPath(new URL('../test-artifacts/', import.meta.url));
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: `${artifacts}inspector-tunnels.png`, fullPage: true });
  // A narrow window: the tabs wrap, nothing makes the page scroll sideways.
  await page.setViewportSize({ width: 400, height: 800 });
  const narrow = await page.evaluate<{ scrollWidth: number; tabsRight: number }>(`({
    scrollWidth: document.documentElement.scrollWidth,
    tabsRight: Math.max(...Array.from(document.querySelectorAll('#tunnels .tab'), (e) => e.getBoundingClientRect().right)),
  })`);
  assert.ok(narrow.scrollWidth <= 400 && narrow.tabsRight <= 400, `400 px: ${JSON.stringify(narrow)}`);
  await page.screenshot({ path: `${artifacts}inspector-tunnels-narrow.png`, fullPage: true });
  assert.deepEqual(errors, [], 'no script errors, no failed requests');
});

test('the page in a real browser: a tunnel that gave up keeps its tab, red, and its chart marks the final state', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  // Port 1000 is outside the server's range: refused, which is not retried.
  const [ok, refused] = [`${echo.port}`, `${echo.port}:1000`];
  const local = new BoreProcess(['local', ok, refused, '--to', '127.0.0.1', '--control-port', String(server.controlPort), '--inspect']);
  t.after(() => local.stop('SIGKILL'));
  const port = Number((await local.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  await local.waitFor(/gave up; the others keep running/);

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);
  const tab = (name: string) => `#tunnels [data-tunnel=${JSON.stringify(name)}]`;
  await page.waitForSelector(`${tab(refused)} .tunnel-pill[data-tone="bad"]:has-text("fatal")`, { timeout: 10_000 });
  await page.waitForSelector(`${tab(ok)} .tunnel-pill[data-tone="ok"]:has-text("listening")`, { timeout: 10_000 });
  await page.waitForSelector(`${tab('')} .tunnel-pill:has-text("degraded")`, { timeout: 5000 });
  await page.click(tab(refused));
  await page.waitForSelector('[data-state="fatal"][data-active="true"]', { timeout: 5000 });
  assert.deepEqual(await page.$$eval('[data-active="true"]', (els) => els.map((e) => e.getAttribute('data-state'))), ['fatal']);
  assert.match((await page.textContent('#context .err'))!, /port-not-allowed|not allowed|1000/);
  // Back to the one still listening.
  await page.click(tab(ok));
  await page.waitForSelector('[data-state="listening"][data-active="true"]', { timeout: 5000 });
  assert.deepEqual(errors, []);
});
