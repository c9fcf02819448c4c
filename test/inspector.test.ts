/**
 * `--inspect`: the chart read from the machine definition, the inspection hub, the
 * HTTP contract (`/snapshot`, `/graph`, `/events`) against the real CLI, and the page
 * in a real headless Chromium (skipped, with a message, when Chromium cannot start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type AnyActorRef, assign, createActor, createMachine, fromPromise, setup, spawnChild, stopChild } from 'xstate';
import { clientMachine } from '../machines/client.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { type InspectorGraph, activePaths, machineGraph } from '../src/inspector/graph.js';
import { InspectorHub, type PublicSnapshot, publicContext } from '../src/inspector/hub.js';
import { INSPECTOR_MAX_STREAMS, INSPECTOR_STREAM_QUEUE_BYTES, startInspector } from '../src/inspector/server.js';
import { BoreProcess, httpGet, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { launchBrowser, readEvents } from './helpers/inspect.js';

const SECRET = 'inspector-test-secret-7f3a91';
const PORTS = ['--min-port', '25300', '--max-port', '25399'];
/** Fixed inspector port of the browser test, so a restarted client serves the same page. */
const BROWSER_INSPECT_PORT = 25990;

const get = httpGet;

test('the chart comes from the client machine definition: every state and transition', () => {
  const g = machineGraph(clientMachine);
  assert.equal(g.id, 'bore');
  assert.equal(g.initial, 'connecting');
  assert.deepEqual(g.states.map((s) => s.path).sort(), [
    'authenticating',
    'backoff',
    'connecting',
    'failed',
    'fatal',
    'listening',
    'listening.heartbeat',
    'listening.heartbeat.alive',
    'listening.pool',
    'listening.pool.asking',
    'listening.pool.off',
    'listening.pool.open',
    'listening.pool.standard',
    'returning',
    'securing',
    'stopped',
  ]);
  const listening = g.states.find((s) => s.path === 'listening')!;
  assert.equal(listening.type, 'parallel');
  assert.equal(g.states.find((s) => s.path === 'listening.heartbeat')!.initial, 'listening.heartbeat.alive');
  assert.equal(g.states.find((s) => s.path === 'listening.pool')!.initial, 'listening.pool.asking');
  assert.deepEqual(g.invoke, ['proxies'], 'the root invokes the proxies actor');
  const entry = (path: string) => g.states.find((s) => s.path === path)!.entry.filter((a) => !a.startsWith('xstate.'));
  assert.deepEqual(entry('connecting'), ['startAttempt', 'openSession', 'logConnecting'], 'the session starts with the attempt');
  assert.deepEqual(entry('failed'), ['closeSession']);
  assert.deepEqual(entry('backoff'), ['scheduleRetry', 'logBackoff']);
  assert.deepEqual(entry('fatal'), ['logFatal']);
  assert.deepEqual(entry('stopped'), ['closeSession', 'logStopped']);
  assert.equal(g.states.find((s) => s.path === 'fatal')!.type, 'final');
  const has = (want: Partial<(typeof g.transitions)[number]>) =>
    assert.ok(
      g.transitions.some((t) => Object.entries(want).every(([k, v]) => JSON.stringify(t[k as keyof typeof t]) === JSON.stringify(v))),
      `missing transition ${JSON.stringify(want)}`,
    );
  has({ source: 'connecting', kind: 'on', trigger: 'CONNECTED', guard: 'tlsOn', targets: ['securing'], actions: ['logSecuring'] });
  has({ source: 'connecting', kind: 'on', trigger: 'CONNECTED', targets: ['authenticating'], actions: ['logAuthenticating'] });
  has({ source: 'connecting', kind: 'on', trigger: 'FAILED', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'connecting', kind: 'after', trigger: 'connectTimeout', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'securing', kind: 'on', trigger: 'SECURED', targets: ['authenticating'], actions: ['secured', 'logAuthenticating'] });
  has({ source: 'securing', kind: 'on', trigger: 'FAILED', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'securing', kind: 'after', trigger: 'tlsHandshakeTimeout', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'authenticating', kind: 'on', trigger: 'OPENED', targets: ['listening'], actions: ['opened', 'logListening'] });
  has({ source: 'authenticating', kind: 'after', trigger: 'handshakeTimeout', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'authenticating', kind: 'on', trigger: 'CHALLENGE.ANSWERED', targets: ['authenticating'], reenter: true });
  has({ source: 'listening', kind: 'on', trigger: 'CONTROL.LOST', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'listening', kind: 'after', trigger: 'stableAfter', targets: [] });
  has({ source: 'listening.heartbeat.alive', kind: 'after', trigger: 'heartbeatTimeout', targets: ['failed'], actions: ['recordFailure'] });
  has({ source: 'listening.pool.asking', kind: 'on', trigger: 'SERVER.POOL', targets: ['listening.pool.open'], actions: ['openPool'] });
  has({
    source: 'listening.pool.asking',
    kind: 'after',
    trigger: 'poolOfferTimeout',
    targets: ['listening.pool.standard'],
    actions: ['logNoPool'],
  });
  has({ source: 'listening.pool.asking', kind: 'always', guard: 'poolOff', targets: ['listening.pool.off'] });
  has({ source: 'failed', kind: 'always', guard: 'mustGiveUp', targets: ['fatal'], actions: ['sayEveryServer'] });
  // Several servers: --prefer-first's return is a transition of the chart.
  has({ source: 'listening', kind: 'on', trigger: 'PROBE.STEADY', guard: 'awayFromFirst', targets: ['returning'] });
  has({ source: 'returning', kind: 'always', targets: ['connecting'] });
  has({ source: 'failed', kind: 'always', targets: ['backoff'], actions: [] });
  has({
    source: 'listening.heartbeat.alive',
    kind: 'on',
    trigger: 'SERVER.HEARTBEAT',
    targets: ['listening.heartbeat.alive'],
    reenter: true,
  });
  has({ source: 'backoff', kind: 'after', trigger: 'retryDelay', targets: ['connecting'] });
  has({ source: '', kind: 'on', trigger: 'STOP', targets: ['stopped'] });
  // one graph transition per machine transition (nothing dropped, nothing invented)
  let count = 0;
  type Node = { transitions: Map<string, unknown[]>; always?: unknown[]; states: Record<string, Node> };
  const walk = (node: Node): void => {
    for (const list of node.transitions.values()) count += list.length;
    count += node.always?.length ?? 0;
    for (const child of Object.values(node.states)) walk(child);
  };
  walk(clientMachine.root);
  assert.equal(g.transitions.length, count);
});

test('the chart of any machine: numeric delays, always, parallel regions', () => {
  const m = createMachine({
    id: 'm',
    initial: 'a',
    states: {
      a: { after: { 250: 'b' } },
      b: { always: { target: 'c' } },
      c: { type: 'parallel', states: { x: {}, y: {} } },
    },
  });
  const g = machineGraph(m);
  assert.deepEqual(
    g.states.map((s) => [s.path, s.type]),
    [
      ['a', 'atomic'],
      ['b', 'atomic'],
      ['c', 'parallel'],
      ['c.x', 'atomic'],
      ['c.y', 'atomic'],
    ],
  );
  assert.deepEqual(
    g.transitions.map((t) => [t.source, t.kind, t.trigger, t.targets]),
    [
      ['a', 'after', '250ms', ['b']],
      ['b', 'always', 'always', ['c']],
    ],
  );
  assert.deepEqual(activePaths({ c: { x: {}, y: {} } }), ['c', 'c.x', 'c.y']);
  assert.deepEqual(activePaths({ listening: 'alive' }), ['listening', 'listening.alive']);
});

test('the hub logs events and transitions, folds repeats, and hides runtime objects', async () => {
  const hub = new InspectorHub();
  const machine = setup({
    types: { context: {} as { n: number; runtime: object; secret: string; nested: { password: string; ok: number } } },
    actors: { work: fromPromise(() => Promise.resolve(7)) },
  }).createMachine({
    context: { n: 0, runtime: { toJSON: () => 'x' }, secret: 's', nested: { password: 'p', ok: 1 } },
    initial: 'idle',
    states: {
      idle: { on: { TICK: { actions: assign({ n: ({ context }) => context.n + 1 }) }, GO: 'busy' } },
      busy: { invoke: { src: 'work', onDone: 'idle' } },
    },
  });
  const updates: string[] = [];
  hub.listen({ snapshot: (s) => updates.push(`snapshot ${s.active.join()}`), log: (e) => updates.push(...e.map((x) => `log ${x.seq}`)) });
  const actor = createActor(machine, { inspect: hub.inspect }).start();
  for (let i = 0; i < 5; i++) actor.send({ type: 'TICK' });
  actor.send({ type: 'GO' });
  await new Promise((r) => actor.subscribe((s) => s.matches('idle') && r(null)));
  await new Promise((r) => setImmediate(r));
  const log = hub.log().map((e) => (e.kind === 'event' ? `${e.event}×${e.count}` : `${e.from}->${e.to}`));
  assert.deepEqual(log, ['xstate.init×1', '->idle', 'TICK×5', 'GO×1', 'idle->busy', 'xstate.done.actor.0.(machine).busy×1', 'busy->idle']);
  const snap = hub.snapshot()!;
  assert.deepEqual(snap.value, 'idle');
  assert.deepEqual(snap.context, { n: 5, nested: { ok: 1 } });
  assert.ok(
    updates.some((u) => u.startsWith('snapshot idle')),
    'listeners get snapshots',
  );
  assert.deepEqual(publicContext({ runtime: {}, a: undefined }), { a: null });
  actor.stop();
});

test('the hub pushes every change of state with the snapshot, even changes faster than its updates', async () => {
  const hub = new InspectorHub();
  const machine = createMachine({
    initial: 'a',
    states: { a: { on: { GO: 'b' } }, b: { on: { BACK: 'a', BEAT: { target: 'b', reenter: true } } } },
  });
  const actor = createActor(machine, { inspect: hub.inspect }).start();
  const pushed: PublicSnapshot[] = [];
  hub.listen({ snapshot: (snap) => pushed.push(snap), log: () => {} });
  // Two changes in one turn of the event loop: one snapshot, both steps; a re-entry is no step.
  actor.send({ type: 'GO' });
  actor.send({ type: 'BACK' });
  actor.send({ type: 'GO' });
  actor.send({ type: 'BEAT' });
  await new Promise((r) => setImmediate(r));
  assert.equal(pushed.length, 1);
  assert.deepEqual(pushed[0]!.active, ['b']);
  assert.deepEqual(pushed[0]!.steps, [
    { from: ['a'], to: ['b'], event: 'GO' },
    { from: ['b'], to: ['a'], event: 'BACK' },
    { from: ['a'], to: ['b'], event: 'GO' },
  ]);
  actor.send({ type: 'BEAT' });
  await new Promise((r) => setImmediate(r));
  assert.equal(pushed.length, 2);
  assert.equal(pushed[1]!.steps, undefined, 'a heartbeat-like re-entry changes no state');
  assert.equal(hub.snapshot()!.steps, undefined, '/snapshot has no steps');
  actor.stop();
});

test("the hub pushes each child machine's changes of state with its snapshot; a restarted child starts from nothing", async () => {
  const hub = new InspectorHub();
  const child = createMachine({ initial: 'a', states: { a: { on: { GO: 'b' } }, b: { on: { BACK: 'a' } } } });
  const parent = setup({ actors: { child } }).createMachine({
    entry: spawnChild('child', { id: 'web' }),
    on: { RESTART: { actions: [stopChild('web'), spawnChild('child', { id: 'web' })] } },
  });
  const actor = createActor(parent, { inspect: hub.inspect }).start();
  const pushed: PublicSnapshot[] = [];
  hub.listen({ snapshot: (snap) => pushed.push(snap), log: () => {} });
  const web = () => actor.getSnapshot().children.web as AnyActorRef;
  for (const type of ['GO', 'BACK', 'GO']) web().send({ type });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pushed.at(-1)!.children!.web!.steps, [
    { from: ['a'], to: ['b'], event: 'GO' },
    { from: ['b'], to: ['a'], event: 'BACK' },
    { from: ['a'], to: ['b'], event: 'GO' },
  ]);
  assert.equal(pushed.at(-1)!.steps, undefined, 'the root did not change');
  assert.equal(hub.snapshot()!.children!.web!.steps, undefined, '/snapshot has no steps');
  actor.send({ type: 'RESTART' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pushed.at(-1)!.children!.web, {
    value: 'a',
    active: ['a'],
    status: 'active',
    context: {},
    steps: [{ from: [], to: ['a'], event: 'xstate.init' }],
  });
  web().send({ type: 'GO' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(pushed.at(-1)!.children!.web!.steps, [{ from: ['a'], to: ['b'], event: 'GO' }], 'only the steps since the last push');
  actor.stop();
});

test('the inspector only listens on 127.0.0.1 and reports a taken port clearly', async () => {
  const a = await startInspector({ machine: clientMachine });
  try {
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await assert.rejects(
      startInspector({ machine: clientMachine, port: a.port }),
      /inspector could not listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
    assert.equal((await get(a.port, '/snapshot')).status, 503);
    assert.equal((await get(a.port, '/nope')).status, 404);
    // A rebound DNS name pointing at 127.0.0.1 is refused (no reading the inspector from a web page).
    const rebound = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: a.port, path: '/snapshot', headers: { host: `evil.example:${a.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject),
    );
    assert.equal(rebound, 403);
  } finally {
    await a.close();
  }
});

test("the library's startInspector: with the supervisor, /graph carries the client machine's chart as child", async (t) => {
  const { startInspector: libraryInspector } = await import('../src/index.js');
  const multi = await libraryInspector({ machine: supervisorMachine });
  t.after(() => multi.close());
  const graph = JSON.parse((await get(multi.port, '/graph')).body) as InspectorGraph;
  assert.equal(graph.id, 'supervisor');
  assert.deepEqual(graph.child, JSON.parse(JSON.stringify(machineGraph(clientMachine))));
  const single = await libraryInspector();
  t.after(() => single.close());
  assert.equal((JSON.parse((await get(single.port, '/graph')).body) as InspectorGraph).child, undefined, 'one tunnel: no child chart');
});

/** Opens `/events` on its own connection; resolves once the response head arrives. */
function openEvents(port: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => resolve({ req, res }));
    req.on('error', reject);
  });
}

/** Status of a fresh `/events` request; the stream is closed right away. */
async function eventsStatus(port: number): Promise<number> {
  const { req, res } = await openEvents(port);
  req.destroy();
  return res.statusCode ?? 0;
}

test('the inspector serves at most maxStreams page streams; a closed one frees its place', async (t) => {
  const insp = await startInspector({ machine: clientMachine });
  t.after(() => insp.close());
  const open = await Promise.all(Array.from({ length: INSPECTOR_MAX_STREAMS }, () => openEvents(insp.port)));
  t.after(() => open.forEach((s) => s.req.destroy()));
  assert.deepEqual(new Set(open.map((s) => s.res.statusCode)), new Set([200]));

  const refused = await openEvents(insp.port);
  assert.equal(refused.res.statusCode, 503);
  assert.equal(refused.res.headers['retry-after'], '1');
  let body = '';
  refused.res.setEncoding('utf8').on('data', (c: string) => (body += c));
  await once(refused.res, 'end');
  assert.match(body, new RegExp(`too many inspector pages open \\(at most ${INSPECTOR_MAX_STREAMS}\\)`));

  // A page goes away: its place is given to the next one (once the server has seen the close).
  open.shift()!.req.destroy();
  let status = 503;
  for (let tries = 0; status === 503 && tries < 100; tries++) {
    const s = await openEvents(insp.port);
    status = s.res.statusCode ?? 0;
    if (status === 200) open.push(s);
    else s.req.destroy();
  }
  assert.equal(status, 200, 'a closed stream frees its place');
  assert.equal(await eventsStatus(insp.port), 503, 'and the cap still holds');
});

test('a page stream that stops reading is closed once its queue passes the bound', async (t) => {
  const insp = await startInspector({ machine: clientMachine, maxStreams: 1 });
  t.after(() => insp.close());
  // A page that reads the head and the hello, then stops reading.
  const page = net.connect(insp.port, '127.0.0.1');
  page.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${insp.port}\r\n\r\n`);
  const head = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('event: hello')) return;
      page.off('data', onData).pause();
      resolve(text);
    };
    page.on('data', onData);
  });
  assert.match(head, /^HTTP\/1\.1 200/);
  t.after(() => page.destroy());
  assert.equal(await eventsStatus(insp.port), 503, 'the stalled page holds the only place');

  // Big snapshots (256 KiB of context each) fill the kernel's buffers, then the queue.
  const blob = 'x'.repeat(INSPECTOR_STREAM_QUEUE_BYTES);
  const machine = createMachine({
    types: {} as { context: { blob: string; n: number } },
    context: { blob: '', n: 0 },
    on: { GROW: { actions: assign({ blob, n: ({ context }) => context.n + 1 }) } },
  });
  const actor = createActor(machine, { inspect: insp.inspect }).start();
  t.after(() => actor.stop());
  let freed = false;
  let sent = 0;
  // 400 updates are 100 MiB: far more than loopback buffers hold.
  for (; !freed && sent < 400; sent++) {
    actor.send({ type: 'GROW' });
    await new Promise((r) => setImmediate(r)); // the hub delivers on setImmediate
    freed = (await eventsStatus(insp.port)) === 200;
  }
  assert.ok(freed, `the stalled stream was still open after ${sent} updates of ${blob.length} bytes`);
  // The server closed the connection: reading again reaches its end.
  page.resume();
  await once(page, 'close');
});

test('bore local --inspect: /snapshot, /graph and /events follow the tunnel; no secret, no CDN', async (t) => {
  const server = await startServer([...PORTS, '--secret', SECRET]);
  const echo = await startEchoServer();
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect', '--secret', SECRET]);
  t.after(() => client.stop());
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);

  // Our server offers the pool the client asks for (4 by default), and its connections prove the secret.
  await readEvents(port, (event, data) => event === 'snapshot' && data.context?.pool?.idle === 4);
  const snap = await get(port, '/snapshot');
  assert.equal(snap.status, 200);
  assert.match(snap.type, /application\/json/);
  const body = JSON.parse(snap.body);
  assert.deepEqual(body.value, { listening: { heartbeat: 'alive', pool: 'open' } });
  assert.deepEqual({ size: body.context.pool.size, idle: body.context.pool.idle }, { size: 4, idle: 4 });
  assert.doesNotMatch(snap.body, /token/, 'the pool token is never shown');
  assert.equal(body.context.publicPort, client.publicPort);
  assert.equal(body.context.attempt, 1);
  assert.equal(body.context.control, undefined, 'no connection objects in the context');
  assert.equal(body.context.runtime, undefined);

  const page = await get(port, '/');
  assert.match(page.type, /text\/html/);
  // offline: every resource the page loads is ours
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(refs.sort(), ['/app.css', '/app.js']);
  for (const asset of ['/app.js', '/app.css']) {
    const r = await get(port, asset);
    assert.equal(r.status, 200);
    assert.doesNotMatch(
      r.body,
      /https?:\/\/(?!127\.0\.0\.1|www\.w3\.org\/2000\/svg)[a-z]/i,
      `${asset} must not load anything from the internet`,
    );
  }
  const graph = JSON.parse((await get(port, '/graph')).body);
  assert.deepEqual(graph, JSON.parse(JSON.stringify(machineGraph(clientMachine))));

  // the server dies: the stream shows the loss and the retry schedule
  const stream = readEvents(port, (event, data) => event === 'snapshot' && data.value === 'backoff');
  await server.stop('SIGKILL');
  const text = await stream;
  const backoff = JSON.parse((await get(port, '/snapshot')).body);
  assert.ok(['backoff', 'connecting'].includes(backoff.value), `state after the loss: ${JSON.stringify(backoff.value)}`);
  assert.equal(backoff.context.lastError.class, 'retriable');
  assert.match(text, /"kind":"transition"[^}]*"to":"backoff"/);
  for (const out of [snap.body, text, JSON.stringify(backoff), client.output])
    assert.ok(!out.includes(SECRET), 'the secret never leaves the process');
});

test('bore local --inspect: when the tunnel gives up, open pages get the final state (fatal), then the end', async (t) => {
  const server = await startServer(PORTS);
  const echo = await startEchoServer();
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect', '--no-reconnect']);
  t.after(() => client.stop());
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const stream = readEvents(port, (event) => event === 'end');
  await client.waitFor(/listening at/);
  // Once the page has its first snapshot, the server goes away: no reconnecting, the tunnel gives up.
  await readEvents(port, (event) => event === 'snapshot');
  await server.stop('SIGKILL');
  const text = await stream;
  const snapshots = [...text.matchAll(/^event: snapshot\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as PublicSnapshot);
  const last = snapshots[snapshots.length - 1]!;
  assert.equal(last.value, 'fatal', `the last snapshot before the end: ${JSON.stringify(last.value)}`);
  assert.equal(last.status, 'done');
  assert.ok(text.indexOf('event: end') > text.lastIndexOf('event: snapshot'), 'the end comes after the final snapshot');
  assert.notEqual(await client.exited, 0);
});

test('bore local --inspect rejects a bad port with a usage error', async () => {
  const { BoreProcess } = await import('./helpers/procs.js');
  const p = new BoreProcess(['local', '3000', '--to', '127.0.0.1', '--inspect=99999']);
  assert.equal(await p.exited, 2);
  assert.match(p.output, /invalid value for --inspect: '99999'/);
});

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
  const [a, b] = [`${echo.port}`, `${echo.port}:25350`];
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
