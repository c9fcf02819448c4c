/**
 * The client machine's `output` (its final view), its named log actions (where the
 * chart logs each line; by default they call the transition log the runtime carries), and
 * the supervisor reading a child's end from its output: tested without waiting, on a
 * `SimulatedClock`.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor } from 'xstate';
import { supervisorAggregate, supervisorMachine } from '../machines/supervisor.js';
import { ClientRuntime } from '../src/client/actors.js';
import { silentLogger } from '../src/log/logger.js';
import { TRANSITION_LOG, type TransitionLog } from '../machines/transition-log.js';
import type { ClientContext } from '../machines/client.js';
import { TEST_TLS, ev, inertMachine, newProbe, testInput, testSettings } from './helpers/machine.js';

/** A started client machine whose log actions record their names, in order. */
function logged(settings = {}, tls = false) {
  const clock = new SimulatedClock();
  const calls: string[] = [];
  const record = (name: string) => () => void calls.push(name);
  const machine = inertMachine().provide({
    actions: {
      logConnecting: record('connecting'),
      logSecuring: record('securing'),
      logAuthenticating: record('authenticating'),
      logListening: record('listening'),
      logNoPool: record('no pool'),
      logBackoff: record('backoff'),
      logFatal: record('fatal'),
      logStopped: record('stopped'),
    },
  });
  const actor = createActor(machine, {
    input: testInput(
      settings,
      () => 0.5,
      () => clock.now(),
      tls,
    ),
    clock,
  });
  actor.start();
  return { clock, calls, actor };
}

describe('client machine output', () => {
  test('stopped: the final view, with the port it had', () => {
    const { actor } = logged();
    actor.send(ev.connected());
    actor.send(ev.hello(20042));
    actor.send(ev.stop());
    assert.deepEqual(actor.getSnapshot().output, {
      state: 'stopped',
      publicPort: 20042,
      attempt: 1,
      lastError: undefined,
      retryDelayMs: undefined,
      tls: undefined,
    });
  });

  test("stopped with TLS: the final view keeps the last control connection's TLS", () => {
    const { actor } = logged({}, true);
    actor.send(ev.connected());
    actor.send(ev.secured());
    actor.send(ev.hello(20042));
    actor.send(ev.stop());
    assert.deepEqual(actor.getSnapshot().output?.tls, TEST_TLS);
  });

  test('fatal: the error that ended it', () => {
    const { actor } = logged();
    actor.send(ev.connected());
    actor.send(ev.refused('invalid-secret'));
    const output = actor.getSnapshot().output!;
    assert.equal(output.state, 'fatal');
    assert.equal(output.lastError?.code, 'invalid-secret');
    assert.equal(output.lastError?.class, 'fatal');
  });

  test('no output while it runs', () => {
    const { actor } = logged();
    assert.equal(actor.getSnapshot().output, undefined);
  });
});

describe('log actions: one per top-level change, where the chart says', () => {
  test('a loss, a retry, a stop', () => {
    const { actor, calls, clock } = logged({ pool: 4 });
    actor.send(ev.connected());
    actor.send(ev.answered());
    actor.send(ev.hello());
    actor.send(ev.heartbeat());
    clock.increment(3000);
    actor.send(ev.lost());
    clock.increment(actor.getSnapshot().context.retryDelayMs!);
    actor.send(ev.stop());
    // The challenge re-enters authenticating and a heartbeat re-enters alive: neither logs.
    assert.deepEqual(calls, ['connecting', 'authenticating', 'listening', 'no pool', 'backoff', 'connecting', 'stopped']);
  });

  test('with TLS: securing between connecting and authenticating, logged once each', () => {
    const { actor, calls } = logged({}, true);
    actor.send(ev.connected());
    actor.send(ev.secured());
    actor.send(ev.hello());
    assert.deepEqual(calls, ['connecting', 'securing', 'authenticating', 'listening']);
  });

  test('a first failure without --retry-first: only fatal', () => {
    const { actor, calls } = logged();
    actor.send(ev.connectFailed('connect-refused'));
    assert.deepEqual(calls, ['connecting', 'fatal']);
  });

  test('the actions see the context their line needs (after the assign before them)', () => {
    const seen: unknown[] = [];
    const machine = inertMachine().provide({
      actions: {
        logConnecting: ({ context }) => void seen.push(['connecting', context.attempt]),
        logListening: ({ context }) => void seen.push(['listening', context.publicPort, context.reconnects]),
        logBackoff: ({ context }) => void seen.push(['backoff', context.retryDelayMs, context.lastError?.code]),
      },
    });
    const clock = new SimulatedClock();
    const actor = createActor(machine, {
      input: testInput(
        {},
        () => 0.5,
        () => clock.now(),
      ),
      clock,
    });
    actor.start();
    actor.send(ev.connected());
    actor.send(ev.hello(20001));
    actor.send(ev.lost('heartbeat-timeout'));
    clock.increment(1000);
    actor.send(ev.connected());
    actor.send(ev.hello(20001));
    assert.deepEqual(seen, [
      ['connecting', 1],
      ['listening', 20001, 0],
      ['backoff', 1000, 'heartbeat-timeout'],
      ['connecting', 2],
      ['listening', 20001, 1],
    ]);
  });
});

describe('the log actions as the machine gives them', () => {
  /** A started client machine (its actions not swapped) on `runtime`. */
  const started = (runtime: ClientRuntime) => {
    const clock = new SimulatedClock();
    const actor = createActor(inertMachine(), { input: { ...testInput(), runtime }, clock });
    actor.start();
    return { actor, clock };
  };

  test('each calls the transition log its runtime carries, with the context', () => {
    const calls: unknown[] = [];
    const log: TransitionLog<ClientContext> = {
      connecting: (c) => void calls.push(['connecting', c.attempt]),
      securing: () => void calls.push(['securing']),
      authenticating: () => void calls.push(['authenticating']),
      listening: (c) => void calls.push(['listening', c.publicPort]),
      noPool: () => void calls.push(['no pool']),
      backoff: (c) => void calls.push(['backoff', c.retryDelayMs]),
      fatal: () => void calls.push(['fatal']),
      stopped: () => void calls.push(['stopped']),
    };
    const runtime = Object.assign(new ClientRuntime(silentLogger, undefined, () => 0.5), { [TRANSITION_LOG]: log });
    const { actor, clock } = started(runtime);
    actor.send(ev.connected());
    actor.send(ev.hello(20001));
    actor.send(ev.lost('heartbeat-timeout'));
    clock.increment(1000);
    actor.send(ev.stop());
    assert.deepEqual(calls, [
      ['connecting', 1],
      ['authenticating'],
      ['listening', 20001],
      ['backoff', 1000],
      ['connecting', 2],
      ['stopped'],
    ]);
  });

  test('a runtime without one logs nothing, whatever fields of its own it has (a `log` among them)', () => {
    const runtime = Object.assign(new ClientRuntime(silentLogger, undefined, () => 0.5), { log: 'not a transition log' });
    const { actor } = started(runtime);
    actor.send(ev.connected());
    actor.send(ev.hello(20001));
    actor.send(ev.stop());
    assert.equal(actor.getSnapshot().status, 'done');
    assert.equal(actor.getSnapshot().error, undefined);
  });
});

describe('supervisor: a child ends with its output', () => {
  const spec = (overrides = {}) => {
    const settings = testSettings(overrides);
    return { settings, runtime: new ClientRuntime(silentLogger, undefined, () => 0.5), key: JSON.stringify(settings) };
  };
  /** A supervisor of tunnels a and b whose child a has just failed fatally (the port refused). */
  const withFatalChild = () => {
    const machine = supervisorMachine.provide({ actors: { client: inertMachine(newProbe()) } });
    const actor = createActor(machine, { input: { tunnels: { a: spec(), b: spec({ localPort: 3001 }) } }, clock: new SimulatedClock() });
    actor.start();
    const a = actor.getSnapshot().children.a!;
    a.send(ev.connected());
    a.send(ev.refused('port-not-allowed'));
    return actor;
  };

  test('a fatal child is recorded as its output shows it; the aggregate follows, computed', () => {
    const actor = withFatalChild();
    const a = actor.getSnapshot().context.tunnels.get('a')!;
    assert.equal(a.state, 'fatal');
    assert.equal(a.lastError?.code, 'port-not-allowed');
    assert.equal(a.generation, 1);
    assert.equal(supervisorAggregate(actor.getSnapshot().context), 'degraded');
    assert.equal('aggregate' in actor.getSnapshot().context, false, 'derived, not stored');
  });

  test('STOP: the aggregate of what is left is computed, never stale', () => {
    const actor = withFatalChild();
    actor.send({ type: 'STOP' });
    assert.equal(actor.getSnapshot().value, 'stopped');
    assert.equal(actor.getSnapshot().context.tunnels.size, 0);
    assert.equal(supervisorAggregate(actor.getSnapshot().context), 'gone');
  });
});
