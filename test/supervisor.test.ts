/**
 * The supervisor machine, tested without waiting: its children are the client machine
 * with inert actors (test/helpers/machine.ts), driven by the events their sessions would
 * send, and a `SimulatedClock` drives every child's timers.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor } from 'xstate';
import type { TunnelSettings } from '../machines/client.js';
import {
  aggregateOf,
  reloadDiff,
  supervisorAggregate,
  supervisorMachine,
  START_WINDOW,
  type TunnelSpec,
  type TunnelStatus,
} from '../machines/supervisor.js';
import { ClientRuntime } from '../src/client/actors.js';
import { silentLogger } from '../src/log/logger.js';
import { ev, inertMachine, newProbe, testSettings, topState } from './helpers/machine.js';

function spec(overrides: Partial<TunnelSettings> = {}): TunnelSpec {
  const settings = testSettings(overrides);
  return { settings, runtime: new ClientRuntime(silentLogger, undefined, () => 0.5), key: JSON.stringify(settings) };
}

/** A started supervisor of `tunnels` on a simulated clock, children with inert actors. */
function startSupervisor(tunnels: Record<string, TunnelSpec>) {
  const clock = new SimulatedClock();
  const probe = newProbe();
  const machine = supervisorMachine.provide({ actors: { client: inertMachine(probe) } });
  const actor = createActor(machine, { input: { tunnels }, clock });
  actor.start();
  const child = (name: string) => actor.getSnapshot().children[name];
  const childState = (name: string) => {
    const c = child(name);
    return c ? topState(c.getSnapshot().value) : undefined;
  };
  const open = (name: string, port: number) => {
    child(name)!.send(ev.connected());
    child(name)!.send(ev.hello(port));
  };
  const ctx = () => actor.getSnapshot().context;
  const states = () => Object.fromEntries([...ctx().tunnels].map(([n, t]) => [n, t.state]));
  /**
   * The aggregate, computed from the context; checked against a pass over a copy of the
   * set (a new Map has no tally yet), so every test also checks the tally derived change by change.
   */
  const aggregate = () => {
    const derived = supervisorAggregate(ctx());
    assert.equal(derived, aggregateOf(new Map(ctx().tunnels), ctx().reloaded), 'the derived tally matches a count');
    return derived;
  };
  return { clock, probe, actor, child, childState, open, ctx, states, aggregate };
}

describe('supervisor', () => {
  test('spawns one client machine per tunnel, named after it; the aggregate follows them', () => {
    const s = startSupervisor({ web: spec({ localPort: 3000 }), api: spec({ localPort: 8080, port: 18080 }) });
    assert.deepEqual(Object.keys(s.actor.getSnapshot().children).sort(), ['api', 'web']);
    assert.equal(s.probe.sessions.length, 2, 'each child opened its session');
    assert.equal(s.aggregate(), 'starting');
    s.open('web', 20001);
    assert.deepEqual(s.states(), { web: 'listening', api: 'connecting' });
    assert.equal(s.aggregate(), 'starting');
    s.open('api', 18080);
    assert.equal(s.aggregate(), 'listening');
    assert.equal(s.ctx().tunnels.get('api')!.publicPort, 18080);
    assert.equal(s.ctx().tunnels.get('web')!.publicPort, 20001);

    // One loses its server: it reconnects on its own schedule, the other is untouched.
    s.child('web')!.send(ev.lost());
    assert.equal(s.aggregate(), 'reconnecting');
    assert.deepEqual(s.states(), { web: 'backoff', api: 'listening' });
    s.clock.increment(1000);
    assert.equal(s.childState('web'), 'connecting', 'the child retried by itself');
    s.open('web', 20001);
    assert.equal(s.aggregate(), 'listening');
    assert.equal(s.ctx().tunnels.get('web')!.generation, 1, 'nothing restarted by hand');
  });

  test('one child fatal: reported in the context, the others keep running', () => {
    const s = startSupervisor({ a: spec({ localPort: 1 }), b: spec({ localPort: 2 }), c: spec({ localPort: 3 }) });
    s.open('a', 20001);
    s.open('b', 20002);
    s.open('c', 20003);
    s.child('b')!.send(ev.lost());
    s.clock.increment(1000);
    s.child('b')!.send(ev.connected());
    s.child('b')!.send(ev.refused('invalid-secret'));
    assert.equal(s.ctx().tunnels.get('b')!.state, 'fatal');
    assert.equal(s.ctx().tunnels.get('b')!.lastError?.code, 'invalid-secret');
    assert.equal(s.aggregate(), 'degraded');
    assert.equal(s.child('b'), undefined, 'its actor is gone');
    assert.equal(topState(s.actor.getSnapshot().value), 'running');
    // The others go on: heartbeats and deadlines as before.
    for (let i = 0; i < 3; i++) {
      s.clock.increment(5000);
      s.child('a')!.send(ev.heartbeat());
      s.child('c')!.send(ev.heartbeat());
    }
    assert.equal(s.childState('a'), 'listening');
    assert.equal(s.childState('c'), 'listening');
    // A lost one that gives up (first attempt failed, no --retry-first) counts as fatal too.
    s.child('c')!.send(ev.lost());
    assert.equal(s.aggregate(), 'degraded');
  });

  test('every child fatal: the supervisor is gone (final)', () => {
    const s = startSupervisor({ a: spec(), b: spec({ localPort: 2 }) });
    s.child('a')!.send(ev.connectFailed());
    assert.equal(s.ctx().tunnels.get('a')!.state, 'fatal');
    assert.equal(s.actor.getSnapshot().status, 'active');
    s.child('b')!.send(ev.connected());
    s.child('b')!.send(ev.refused('port-not-allowed'));
    assert.equal(s.aggregate(), 'gone');
    assert.equal(s.actor.getSnapshot().status, 'done');
    assert.equal(topState(s.actor.getSnapshot().value), 'gone');
  });

  test('after a reload, every child fatal: the supervisor waits (not final) and the next reload brings them back', () => {
    const a = spec({ localPort: 1 });
    const b = spec({ localPort: 2 });
    const s = startSupervisor({ a, b });
    s.open('a', 20001);
    s.open('b', 20002);
    // A reload that changes both (a new, wrong secret): each restarted child is refused.
    const wrong = { a: { ...a, key: 'wrong-a' }, b: { ...b, key: 'wrong-b' } };
    s.actor.send({ type: 'RELOAD', tunnels: wrong });
    for (const name of ['a', 'b']) {
      s.child(name)!.send(ev.connected());
      s.child(name)!.send(ev.refused('invalid-secret'));
    }
    assert.deepEqual(s.states(), { a: 'fatal', b: 'fatal' });
    assert.equal(s.aggregate(), 'waiting');
    assert.equal(s.actor.getSnapshot().status, 'active', 'not final: a reload can still fix it');
    assert.equal(topState(s.actor.getSnapshot().value), 'running');
    // Time passes: nothing changes, nothing ends.
    s.clock.increment(120_000);
    assert.equal(s.actor.getSnapshot().status, 'active');
    // The corrected file.
    s.actor.send({ type: 'RELOAD', tunnels: { a, b } });
    assert.deepEqual(s.states(), { a: 'connecting', b: 'connecting' });
    assert.equal(s.ctx().tunnels.get('a')!.generation, 3);
    s.open('a', 20001);
    s.open('b', 20002);
    assert.equal(s.aggregate(), 'listening');
    s.actor.send({ type: 'STOP' });
    assert.equal(topState(s.actor.getSnapshot().value), 'stopped');
  });

  test('STOP stops every child through its own STOP, then the supervisor is stopped', () => {
    const s = startSupervisor({ a: spec(), b: spec({ localPort: 2 }) });
    s.open('a', 20001);
    const a = s.child('a')!;
    s.actor.send({ type: 'STOP' });
    assert.equal(topState(a.getSnapshot().value), 'stopped', 'the child went through its stopped state');
    assert.equal(s.probe.closedSessions, 2);
    assert.equal(s.actor.getSnapshot().status, 'done');
    assert.equal(topState(s.actor.getSnapshot().value), 'stopped');
    assert.equal(s.ctx().tunnels.size, 0);
  });

  test('reload: added start, removed stop, changed restart, unchanged untouched', () => {
    const keep = spec({ localPort: 1 });
    const drop = spec({ localPort: 2 });
    const change = spec({ localPort: 3, port: 18080 });
    const s = startSupervisor({ keep, drop, change });
    s.open('keep', 20001);
    s.open('drop', 20002);
    s.open('change', 18080);
    const kept = s.child('keep')!;
    const dropped = s.child('drop')!;
    const changed = s.child('change')!;
    const sessionsBefore = s.probe.sessions.length;

    const changedSpec = spec({ localPort: 4, port: 18080 });
    s.actor.send({ type: 'RELOAD', tunnels: { keep, change: changedSpec, added: spec({ localPort: 5 }) } });

    assert.equal(s.child('keep'), kept, 'unchanged: the same actor');
    assert.equal(s.childState('keep'), 'listening');
    assert.equal(topState(dropped.getSnapshot().value), 'stopped', 'removed: sent STOP');
    assert.equal(s.child('drop'), undefined);
    assert.equal(topState(changed.getSnapshot().value), 'stopped', 'changed: the old one stopped');
    assert.notEqual(s.child('change'), changed, 'changed: a new actor');
    assert.equal(s.child('change')!.getSnapshot().context.settings.localPort, 4);
    assert.equal(s.child('change')!.getSnapshot().context.settings.retryFirst, true, 'a restart retries its first attempt');
    assert.equal(s.childState('added'), 'connecting');
    assert.deepEqual(s.states(), { keep: 'listening', change: 'connecting', added: 'connecting' });
    assert.equal(s.ctx().tunnels.get('change')!.generation, 2);
    assert.equal(s.ctx().tunnels.get('added')!.generation, 1);
    assert.equal(s.probe.sessions.length, sessionsBefore + 2, 'one session for the restarted, one for the added');
    assert.equal(s.probe.sessions.at(-1)!.requestedPort, 18080, 'the restarted one asks for its port');

    // The restarted one's old session may hold the port: it retries instead of giving up.
    s.child('change')!.send(ev.connected());
    s.child('change')!.send(ev.refused('port-in-use'));
    assert.equal(s.childState('change'), 'backoff');
    s.clock.increment(1000);
    s.open('change', 18080);
    s.open('added', 20005);
    assert.equal(s.aggregate(), 'listening');
  });

  test('reload restarts a fatal tunnel even with the same settings, and can remove one', () => {
    const a = spec({ localPort: 1 });
    const b = spec({ localPort: 2 });
    const s = startSupervisor({ a, b });
    s.open('a', 20001);
    s.child('b')!.send(ev.connectFailed());
    assert.equal(s.aggregate(), 'degraded');
    s.actor.send({ type: 'RELOAD', tunnels: { a, b } });
    assert.equal(s.childState('b'), 'connecting');
    assert.equal(s.ctx().tunnels.get('b')!.generation, 2);
    assert.equal(s.aggregate(), 'starting');
    s.child('b')!.send(ev.connectFailed());
    s.actor.send({ type: 'RELOAD', tunnels: { a } });
    assert.deepEqual(s.states(), { a: 'listening' });
    assert.equal(s.aggregate(), 'listening');
  });
});

describe('the start window', () => {
  const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`t${i}`, spec({ localPort: 1000 + i })]));
  const spawned = (s: ReturnType<typeof startSupervisor>) => Object.keys(s.actor.getSnapshot().children).length;

  test('at most START_WINDOW tunnels make their first attempt at once; each that ends one starts the next', () => {
    const s = startSupervisor(many(START_WINDOW + 3));
    assert.equal(spawned(s), START_WINDOW);
    assert.equal(s.ctx().tunnels.size, START_WINDOW + 3, 'the queued ones are in the set, connecting');
    assert.equal(s.ctx().tunnels.get(`t${START_WINDOW}`)!.state, 'connecting');
    assert.equal(s.childState(`t${START_WINDOW}`), undefined);
    s.open('t0', 20001);
    assert.equal(spawned(s), START_WINDOW + 1, 'a tunnel listening made room');
    assert.equal(s.childState(`t${START_WINDOW}`), 'connecting');
    s.child('t1')!.send(ev.connectFailed());
    assert.equal(s.ctx().tunnels.get('t1')!.state, 'fatal', 'a first attempt that fails is fatal');
    assert.equal(spawned(s), START_WINDOW + 1, 'the fatal child is gone, and one more started');
    assert.equal(s.childState(`t${START_WINDOW + 1}`), 'connecting');
    s.child('t2')!.send(ev.heartbeat());
    assert.equal(s.childState(`t${START_WINDOW + 2}`), undefined, 'an event that ends nothing starts nothing');
  });

  test('a reload drops or replaces a queued tunnel without a child; STOP with tunnels queued stops', () => {
    const set = many(START_WINDOW + 2);
    const s = startSupervisor(set);
    const last = `t${START_WINDOW + 1}`;
    const next: Record<string, TunnelSpec> = { ...set, [`t${START_WINDOW}`]: spec({ localPort: 9 }) };
    delete next[last];
    s.actor.send({ type: 'RELOAD', tunnels: next });
    assert.equal(s.ctx().tunnels.has(last), false, 'the removed queued tunnel is gone');
    assert.equal(s.ctx().tunnels.get(`t${START_WINDOW}`)!.key, next[`t${START_WINDOW}`]!.key, 'the changed one waits with its new spec');
    s.open('t0', 20001);
    assert.equal(s.childState(`t${START_WINDOW}`), 'connecting');
    s.actor.send({ type: 'STOP' });
    assert.equal(topState(s.actor.getSnapshot().value), 'stopped');
    assert.equal(s.ctx().tunnels.size, 0);
  });
});

describe('a tunnel stopped through its own STOP', () => {
  test('is recorded as stopped, counts for nothing in the aggregate, and a reload starts it again', () => {
    const a = spec({ localPort: 1 });
    const b = spec({ localPort: 2 });
    const s = startSupervisor({ a, b });
    s.open('a', 20001);
    s.open('b', 20002);
    s.child('b')!.send(ev.stop());
    assert.deepEqual(s.states(), { a: 'listening', b: 'stopped' });
    assert.equal(s.aggregate(), 'listening');
    s.actor.send({ type: 'RELOAD', tunnels: { a, b } });
    assert.equal(s.childState('b'), 'connecting');
    assert.equal(s.aggregate(), 'starting');
    s.child('a')!.send(ev.stop());
    s.child('b')!.send(ev.stop());
    assert.equal(s.aggregate(), 'gone');
    assert.equal(s.actor.getSnapshot().status, 'done');
  });
});

describe('reloadDiff and aggregateOf', () => {
  const status = (key: string, state: TunnelStatus['state']): TunnelStatus => ({
    key,
    state,
    publicPort: undefined,
    attempt: 1,
    lastError: undefined,
    retryDelayMs: undefined,
    tls: undefined,
    generation: 1,
  });
  test('diff by key; a fatal tunnel counts as changed', () => {
    const now = new Map(
      Object.entries({ a: status('1', 'listening'), b: status('2', 'listening'), c: status('3', 'fatal'), d: status('4', 'backoff') }),
    );
    const next = { a: { ...spec(), key: '1' }, b: { ...spec(), key: 'other' }, c: { ...spec(), key: '3' }, e: { ...spec(), key: '5' } };
    assert.deepEqual(reloadDiff(now, next), { added: ['e'], removed: ['d'], changed: ['b', 'c'], unchanged: ['a'] });
  });
  const entries = (o: Record<string, TunnelStatus>) => new Map(Object.entries(o));
  test('aggregate', () => {
    assert.equal(aggregateOf(entries({ a: status('', 'listening'), b: status('', 'listening') })), 'listening');
    assert.equal(aggregateOf(entries({ a: status('', 'listening'), b: status('', 'authenticating') })), 'starting');
    assert.equal(aggregateOf(entries({ a: status('', 'listening'), b: status('', 'securing') })), 'starting');
    assert.equal(aggregateOf(entries({ a: status('', 'backoff'), b: status('', 'connecting') })), 'reconnecting');
    assert.equal(aggregateOf(entries({ a: status('', 'backoff'), b: status('', 'fatal') })), 'degraded');
    assert.equal(aggregateOf(entries({ a: status('', 'stopped'), b: status('', 'fatal') })), 'gone');
    assert.equal(aggregateOf(entries({ a: status('', 'stopped'), b: status('', 'listening') })), 'listening');
    // After a reload: all fatal waits for the next one; all stopped (by their own handles) is still gone.
    assert.equal(aggregateOf(entries({ a: status('', 'stopped'), b: status('', 'fatal') }), true), 'waiting');
    assert.equal(aggregateOf(entries({ a: status('', 'stopped'), b: status('', 'stopped') }), true), 'gone');
  });
});
