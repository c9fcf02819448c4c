/**
 * `--inspect`, in the process: the chart read from a machine definition (the client
 * machine's every state and transition; any machine's delays, always and parallel
 * regions) and the inspection hub (what it logs, folds, hides and pushes). The HTTP
 * contract is `inspector.test.ts`, the page in Chromium `inspector-browser.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type AnyActorRef, assign, createActor, createMachine, fromPromise, setup, spawnChild, stopChild } from 'xstate';
import { clientMachine } from '../machines/client.js';
import { activePaths, machineGraph } from '../src/inspector/graph.js';
import { InspectorHub, type PublicSnapshot, publicContext } from '../src/inspector/hub.js';

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
