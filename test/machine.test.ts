/**
 * The client machine, tested without waiting: scenario tests on a SimulatedClock, and
 * model-based tests that take every transition `xstate/graph` finds.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { type AnyEventObject, createActor } from 'xstate';
import { getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { ERROR_CLASSES, type ErrorCode } from '../src/client/errors.js';
import { STICKY_PORT_TRIES } from '../machines/client.js';
import { FakeControl, ev, inertMachine, proxyRequests, startSimulated, testInput } from './helpers/machine.js';

describe('heartbeat deadline', () => {
  test('any server message resets it; silence for the timeout is a loss', () => {
    const m = startSimulated({ heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    for (let i = 0; i < 5; i++) {
      m.clock.increment(7999);
      assert.equal(m.state(), 'listening', `still alive after heartbeat ${i}`);
      m.send(i % 2 ? ev.heartbeat() : ev.connection(`00000000-0000-4000-8000-00000000000${i}`));
    }
    m.clock.increment(7999);
    assert.equal(m.state(), 'listening');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
    assert.equal(m.ctx().lastError?.code, 'heartbeat-timeout');
    assert.equal(m.ctx().lastError?.class, 'retriable');
  });

  test('the deadline follows --heartbeat-timeout', () => {
    const m = startSimulated({ heartbeatTimeoutMs: 3000 });
    m.openTunnel();
    m.clock.increment(2999);
    assert.equal(m.state(), 'listening');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
  });

  test('EOF from the server is a loss, never a clean exit', () => {
    const m = startSimulated();
    m.openTunnel();
    m.send(ev.lost('server-closed'));
    assert.equal(m.state(), 'backoff');
    assert.equal(m.actor.getSnapshot().status, 'active');
  });
});

describe('backoff', () => {
  test('1 s doubling to the cap, then a retry; the control connection is closed', () => {
    const m = startSimulated({ maxReconnectDelayMs: 8000 });
    const control = new FakeControl();
    m.send(ev.connected(control));
    m.send(ev.hello());
    m.send(ev.lost());
    assert.ok(control.closed, 'control connection closed on loss');
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      assert.equal(m.state(), 'backoff');
      const delay = m.ctx().retryDelayMs!;
      delays.push(delay);
      m.clock.increment(delay - 1);
      assert.equal(m.state(), 'backoff', 'no retry before the delay');
      m.clock.increment(1);
      assert.equal(m.state(), 'connecting');
      m.send(ev.connectFailed('connect-refused'));
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 8000, 8000]);
    assert.equal(m.ctx().attempt, 7);
  });

  test('the schedule starts over once the tunnel was up for the stable time', () => {
    const m = startSimulated({ stableAfterMs: 10_000, heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    m.send(ev.lost());
    m.clock.increment(1000);
    m.send(ev.connectFailed());
    assert.equal(m.ctx().retryDelayMs, 2000);
    m.clock.increment(2000);
    m.openTunnel();
    // Up, but not for long: the next delay keeps growing.
    m.clock.increment(5000);
    m.send(ev.lost());
    assert.equal(m.ctx().retryDelayMs, 4000);
    m.clock.increment(4000);
    m.openTunnel();
    // Up for the stable time, with heartbeats: the next delay is back to 1 s.
    for (let t = 0; t < 10_000; t += 2000) {
      m.clock.increment(2000);
      m.send(ev.heartbeat());
    }
    m.send(ev.lost());
    assert.equal(m.ctx().retryDelayMs, 1000);
  });

  test('a server that accepts and drops at once is not hammered every second', () => {
    const m = startSimulated();
    m.openTunnel();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      m.send(ev.lost());
      delays.push(m.ctx().retryDelayMs!);
      m.clock.increment(m.ctx().retryDelayMs!);
      m.openTunnel();
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
  });

  test('jitter comes from the runtime random source', () => {
    const m = startSimulated({}, () => 0);
    m.openTunnel();
    m.send(ev.lost());
    assert.equal(m.ctx().retryDelayMs, 750);
    assert.ok(m.ctx().nextRetryAt! > Date.now() - 1000);
  });
});

describe('error classes', () => {
  const codes = Object.keys(ERROR_CLASSES) as ErrorCode[];
  for (const code of codes) {
    test(`${code} after a reconnect: ${ERROR_CLASSES[code]}`, () => {
      const m = startSimulated({ port: 20001 });
      m.openTunnel();
      m.send(ev.lost());
      m.clock.increment(1000);
      m.send(ev.connected());
      m.send(ev.refused(code));
      const expected = ERROR_CLASSES[code] === 'fatal' ? 'fatal' : 'backoff';
      assert.equal(m.state(), expected);
      assert.equal(m.ctx().lastError?.code, code);
      assert.equal(m.ctx().lastError?.class, ERROR_CLASSES[code]);
    });
  }

  test('a first attempt fails fast, whatever the class', () => {
    for (const code of codes) {
      const m = startSimulated();
      m.send(ev.connectFailed(code));
      assert.equal(m.state(), 'fatal', code);
      assert.equal(m.actor.getSnapshot().status, 'done');
    }
  });

  test('--retry-first retries a retriable first failure but not a fatal one', () => {
    const m = startSimulated({ retryFirst: true });
    m.send(ev.connectFailed('connect-refused'));
    assert.equal(m.state(), 'backoff');
    m.clock.increment(1000);
    m.send(ev.connected());
    m.send(ev.refused('invalid-secret'));
    assert.equal(m.state(), 'fatal');
  });

  test('--no-reconnect: any loss ends the machine', () => {
    const m = startSimulated({ reconnect: false });
    m.openTunnel();
    m.send(ev.lost('server-closed'));
    assert.equal(m.state(), 'fatal');
    assert.equal(m.ctx().lastError?.class, 'retriable');
  });
});

describe('same public port', () => {
  test('with --port 0 the old port is asked for again, then any port after repeated refusals', () => {
    const m = startSimulated({ port: 0 });
    assert.equal(m.ctx().requestedPort, 0);
    m.openTunnel(20042);
    m.send(ev.lost());
    for (let i = 0; i < STICKY_PORT_TRIES; i++) {
      m.clock.increment(m.ctx().retryDelayMs!);
      assert.equal(m.ctx().requestedPort, 20042, `attempt ${i} asks for the old port`);
      m.send(ev.connected());
      m.send(ev.refused('port-in-use'));
      assert.equal(m.state(), 'backoff');
    }
    m.clock.increment(m.ctx().retryDelayMs!);
    assert.equal(m.ctx().requestedPort, 0, 'falls back to any port');
    m.send(ev.connected());
    m.send(ev.hello(20077));
    assert.equal(m.ctx().publicPort, 20077);
    m.send(ev.lost());
    m.clock.increment(m.ctx().retryDelayMs!);
    assert.equal(m.ctx().requestedPort, 20077, 'the new port is the one kept');
  });

  test('an old port outside a changed range falls back to any port instead of failing', () => {
    const m = startSimulated({ port: 0 });
    m.openTunnel(20042);
    m.send(ev.lost());
    m.clock.increment(1000);
    m.send(ev.connected());
    m.send(ev.refused('port-not-allowed'));
    assert.equal(m.state(), 'backoff');
    m.clock.increment(m.ctx().retryDelayMs!);
    assert.equal(m.ctx().requestedPort, 0);
  });

  test('with --port N, port already in use is retried for N', () => {
    const m = startSimulated({ port: 20005 });
    m.openTunnel(20005);
    m.send(ev.lost());
    for (let i = 0; i < 5; i++) {
      m.clock.increment(m.ctx().retryDelayMs!);
      assert.equal(m.ctx().requestedPort, 20005);
      m.send(ev.connected());
      m.send(ev.refused('port-in-use'));
      assert.equal(m.state(), 'backoff');
    }
  });
});

describe('connections and stop', () => {
  test('each public connection goes to the proxies actor, which outlives control reconnects', () => {
    const m = startSimulated();
    const id = '11111111-1111-4111-8111-111111111111';
    const proxies = m.actor.getSnapshot().children.proxies;
    assert.ok(proxies, 'proxies actor runs from the start');
    m.openTunnel();
    m.send(ev.connection(id));
    assert.equal(proxyRequests.at(-1), id, 'connection forwarded to the proxies actor');
    m.send({ type: 'PROXY.OPENED', id });
    assert.equal(m.ctx().activeConnections, 1);
    m.send(ev.lost());
    m.clock.increment(1000);
    assert.equal(m.state(), 'connecting');
    assert.equal(m.actor.getSnapshot().children.proxies, proxies, 'the same proxies actor after the reconnect');
    m.send({ type: 'PROXY.CLOSED', id });
    assert.equal(m.ctx().activeConnections, 0);
  });

  test('a proxy that never opened does not change the count', () => {
    const m = startSimulated();
    m.openTunnel();
    m.send(ev.connection('22222222-2222-4222-8222-222222222222'));
    m.send({ type: 'PROXY.CLOSED', id: '22222222-2222-4222-8222-222222222222', error: 'ECONNREFUSED' });
    assert.equal(m.ctx().activeConnections, 0);
  });

  const reach: Record<string, (m: ReturnType<typeof startSimulated>) => void> = {
    connecting: () => {},
    authenticating: (m) => m.send(ev.connected()),
    listening: (m) => m.openTunnel(),
    backoff: (m) => {
      m.openTunnel();
      m.send(ev.lost());
    },
  };
  for (const [name, go] of Object.entries(reach)) {
    test(`STOP from ${name} ends in stopped and closes the control connection`, () => {
      const m = startSimulated();
      go(m);
      assert.equal(m.state(), name);
      const control = m.ctx().control as FakeControl | undefined;
      m.send(ev.stop());
      assert.equal(m.state(), 'stopped');
      assert.equal(m.actor.getSnapshot().status, 'done');
      assert.equal(m.ctx().control, undefined);
      if (control) assert.ok(control.closed);
    });
  }
});

/** Model-based: every transition the graph finds, replayed on a live actor. */
describe('model: every state and transition', () => {
  const serializeState = (s: { value: unknown; context: { everListened: boolean } }) =>
    JSON.stringify([s.value, s.context.everListened]);
  // The events each state can meet: actors' outcomes only where the actor runs.
  const events = (s: { value: unknown }): AnyEventObject[] => {
    const state = typeof s.value === 'string' ? s.value : Object.keys(s.value as object)[0];
    const byState: Record<string, AnyEventObject[]> = {
      connecting: [ev.connected(), ev.connectFailed('connect-refused'), ev.connectFailed('dns')],
      authenticating: [ev.hello(), ev.refused('invalid-secret'), ev.refused('port-in-use')],
      listening: [ev.heartbeat(), ev.connection(), ev.lost('server-closed'), { type: 'xstate.after.heartbeatTimeout.bore.listening.alive' }],
      backoff: [{ type: 'xstate.after.retryDelay.bore.backoff' }],
    };
    return [...(byState[state!] ?? []), ...(state === 'fatal' || state === 'stopped' ? [] : [ev.stop()])];
  };
  const variants = [{}, { reconnect: false }, { retryFirst: true }];
  const covered = new Set<string>();
  const statesSeen = new Set<string>();

  for (const variant of variants) {
    const input = testInput(variant);
    const options = { input, events, serializeState: serializeState as never, serializeEvent: (e: AnyEventObject) => e.type + ('code' in e ? String(e.code) : '') + ('error' in e ? (e.error as { code: string }).code : '') };
    const paths = getShortestPaths(inertMachine, options as never);
    const adjacency = getAdjacencyMap(inertMachine, options as never) as unknown as Record<string, { transitions: Record<string, { event: AnyEventObject; state: { value: unknown } }> }>;
    test(`variant ${JSON.stringify(variant)}: ${paths.length} paths`, () => {
      assert.ok(paths.length >= 5);
      for (const path of paths) {
        const key = serializeState(path.state as never);
        const edges = adjacency[key]?.transitions ?? {};
        for (const { event, state: expected } of Object.values(edges)) {
          // Replay the path, then the edge, on a live actor.
          const actor = createActor(inertMachine, { input: testInput(variant) });
          actor.start();
          for (const step of path.steps.slice(1)) actor.send(step.event as never);
          const before = JSON.stringify(actor.getSnapshot().value);
          assert.equal(before, JSON.stringify(path.state.value), `path to ${key}`);
          actor.send(event as never);
          const after = actor.getSnapshot();
          assert.equal(JSON.stringify(after.value), JSON.stringify(expected.value), `${key} --${event.type}-->`);
          const from = typeof path.state.value === 'string' ? path.state.value : Object.keys(path.state.value)[0];
          const to = typeof after.value === 'string' ? after.value : Object.keys(after.value)[0];
          statesSeen.add(to!);
          if (from !== to) covered.add(`${from}->${to}`);
          actor.stop();
        }
      }
    });
  }

  test('covers every state and every transition of the design', () => {
    assert.deepEqual([...statesSeen].sort(), ['authenticating', 'backoff', 'connecting', 'fatal', 'listening', 'stopped']);
    const expected = [
      'connecting->authenticating',
      'connecting->backoff',
      'connecting->fatal',
      'connecting->stopped',
      'authenticating->listening',
      'authenticating->backoff',
      'authenticating->fatal',
      'authenticating->stopped',
      'listening->backoff',
      'listening->fatal',
      'listening->stopped',
      'backoff->connecting',
      'backoff->stopped',
    ];
    for (const t of expected) assert.ok(covered.has(t), `transition ${t} covered`);
  });
});
