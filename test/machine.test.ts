/**
 * The client machine, tested without waiting: scenario tests on a SimulatedClock, and
 * model-based tests that take every transition `xstate/graph` finds.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromTransition, transition } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { ERROR_CLASSES, type ErrorCode } from '../src/client/errors.js';
import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from '../src/client/connect.js';
import { HEARTBEAT_COALESCE_MS } from '../src/client/actors.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import {
  type ClientContext,
  type ClientEvent,
  STICKY_PORT_TRIES,
  type TunnelSettings,
  clientLiveCounts,
  tunnelView,
} from '../machines/client.js';
import { TEST_TLS, ev, inertMachine, newProbe, startSimulated, testInput, topState } from './helpers/machine.js';

describe('heartbeat deadline', () => {
  // The session passes on at most one heartbeat per HEARTBEAT_COALESCE_MS, so the last one
  // passed on may be that much older than the server's last: the deadline adds it.
  const deadline = (timeoutMs: number) => timeoutMs + HEARTBEAT_COALESCE_MS;

  test('any server message resets it; silence for the timeout (and the coalescing window) is a loss', () => {
    const m = startSimulated({ heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    for (let i = 0; i < 5; i++) {
      m.clock.increment(deadline(8000) - 1);
      assert.equal(m.state(), 'listening', `still alive after heartbeat ${i}`);
      m.send(i % 2 ? ev.heartbeat() : ev.serverError());
    }
    m.clock.increment(deadline(8000) - 1);
    assert.equal(m.state(), 'listening');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
    assert.equal(m.ctx().lastError?.code, 'heartbeat-timeout');
    assert.equal(m.ctx().lastError?.class, 'retriable');
  });

  test('the deadline follows --heartbeat-timeout', () => {
    const m = startSimulated({ heartbeatTimeoutMs: 3000 });
    m.openTunnel();
    m.clock.increment(deadline(3000) - 1);
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

describe('connect and handshake deadlines', () => {
  test('no connection within 3 s is a connect timeout, with the text of a timed-out connect', () => {
    const m = startSimulated({ retryFirst: true });
    m.clock.increment(CONNECT_TIMEOUT_MS - 1);
    assert.equal(m.state(), 'connecting');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
    assert.deepEqual(m.ctx().lastError, {
      code: 'connect-timeout',
      class: 'retriable',
      message: 'could not connect to bore.test:7835: timed out after 3000 ms',
    });
    assert.equal(m.probe.closedSessions, 1, 'the pending connect is abandoned');
  });

  test('a connect timeout on the first attempt fails fast', () => {
    const m = startSimulated();
    m.clock.increment(CONNECT_TIMEOUT_MS);
    assert.equal(m.state(), 'fatal');
    assert.equal(m.ctx().lastError?.code, 'connect-timeout');
  });

  test('connected: the server has 3 s for its reply, counted from the connect', () => {
    const m = startSimulated({ retryFirst: true });
    m.clock.increment(2000);
    m.send(ev.connected());
    m.clock.increment(NETWORK_TIMEOUT_MS - 1);
    assert.equal(m.state(), 'authenticating');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
    assert.deepEqual(m.ctx().lastError, {
      code: 'handshake-timeout',
      class: 'retriable',
      message: 'timed out waiting for initial message',
    });
  });

  test('with a secret, each message of the handshake has its own 3 s, as in the Rust client', () => {
    const m = startSimulated({ retryFirst: true });
    m.send(ev.connected());
    m.clock.increment(2500);
    m.send(ev.answered());
    m.clock.increment(NETWORK_TIMEOUT_MS - 1);
    assert.equal(m.state(), 'authenticating', 'the challenge answered restarts the deadline');
    m.send(ev.hello());
    assert.equal(m.state(), 'listening');
    m.clock.increment(NETWORK_TIMEOUT_MS);
    assert.equal(m.state(), 'listening', 'no handshake deadline once listening');
  });

  test('a server error on an open connection keeps it open and proves the server alive', () => {
    const m = startSimulated({ heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    m.clock.increment(7000);
    m.send(ev.serverError());
    m.clock.increment(7000);
    assert.equal(m.state(), 'listening');
    assert.equal(m.probe.closedSessions, 0);
  });
});

describe('TLS: the securing step', () => {
  test('connected with TLS: the handshake has 3 s of its own, then fails as a TLS timeout (retriable)', () => {
    const m = startSimulated({ retryFirst: true }, undefined, true);
    m.clock.increment(2000);
    m.send(ev.connected());
    assert.equal(m.state(), 'securing');
    m.clock.increment(TLS_HANDSHAKE_TIMEOUT_MS - 1);
    assert.equal(m.state(), 'securing', 'counted from the connect, not from the attempt');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
    assert.deepEqual(m.ctx().lastError, {
      code: 'tls-timeout',
      class: 'retriable',
      message: 'the TLS handshake with the server at bore.test:7835 timed out after 3000 ms',
    });
    assert.equal(m.probe.closedSessions, 1, 'the stalled handshake is abandoned with its connection');
  });

  test('secured: what the handshake gave is in the view; the bore handshake gets its own deadline', () => {
    const m = startSimulated({ retryFirst: true }, undefined, true);
    m.send(ev.connected());
    m.clock.increment(2500);
    m.send(ev.secured());
    assert.equal(m.state(), 'authenticating');
    assert.deepEqual(tunnelView(m.actor.getSnapshot()).tls, TEST_TLS);
    m.clock.increment(NETWORK_TIMEOUT_MS - 1);
    assert.equal(m.state(), 'authenticating');
    m.send(ev.hello());
    assert.equal(m.state(), 'listening');
    assert.deepEqual(m.ctx().tls, TEST_TLS, 'kept while listening');
  });

  test("a new attempt forgets the last connection's TLS until its own is secured", () => {
    const m = startSimulated({}, undefined, true);
    m.openTunnel();
    m.send(ev.lost());
    assert.equal(m.state(), 'backoff');
    m.clock.increment(m.ctx().retryDelayMs!);
    assert.equal(m.state(), 'connecting');
    assert.equal(m.ctx().tls, undefined);
    m.send(ev.connected());
    const resumed = { ...TEST_TLS, resumed: true };
    m.send(ev.secured(resumed));
    assert.deepEqual(m.ctx().tls, resumed);
  });

  test('a TLS failure in the handshake is recorded as reported: fatal ones are never retried', () => {
    const m = startSimulated({ retryFirst: true }, undefined, true);
    m.send(ev.connected());
    m.send(ev.connectFailed('tls-untrusted'));
    assert.equal(m.state(), 'fatal');
    assert.equal(m.ctx().lastError?.class, 'fatal');
  });

  test('without TLS there is no securing step', () => {
    const m = startSimulated();
    m.send(ev.connected());
    assert.equal(m.state(), 'authenticating');
    assert.equal(m.ctx().tls, undefined);
  });
});

describe('backoff', () => {
  test('1 s doubling to the cap, then a retry; the control connection is closed', () => {
    const m = startSimulated({ maxReconnectDelayMs: 8000 });
    m.openTunnel();
    m.send(ev.lost());
    assert.equal(m.probe.closedSessions, 1, 'control connection closed on loss');
    assert.equal(m.actor.getSnapshot().children.session, undefined);
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
    assert.equal(m.probe.sessions.length, 7, 'one session per attempt');
    assert.equal(m.probe.closedSessions, 7, 'each closed by its failure');
  });

  test('RETRY_NOW skips the wait of a backoff (a new attempt at once, its old timer gone); elsewhere it changes nothing', () => {
    const m = startSimulated({ maxReconnectDelayMs: 8000 });
    m.openTunnel();
    m.send({ type: 'RETRY_NOW' });
    assert.equal(m.state(), 'listening', 'listening: nothing to skip');
    m.send(ev.lost());
    m.clock.increment(m.ctx().retryDelayMs!);
    m.send(ev.connectFailed('connect-refused'));
    assert.equal(m.state(), 'backoff');
    const delay = m.ctx().retryDelayMs!;
    assert.ok(delay > 1000, `a wait worth skipping (${delay} ms)`);
    m.send({ type: 'RETRY_NOW' });
    assert.equal(m.state(), 'connecting');
    assert.equal(m.ctx().attempt, 3);
    assert.equal(m.ctx().nextRetryAt, undefined);
    assert.equal(m.probe.sessions.length, 3, 'a session for the new attempt');
    // The skipped backoff's timer does not fire a second attempt later.
    m.clock.increment(delay);
    assert.equal(m.ctx().attempt, 3);
    assert.equal(m.state(), 'connecting');
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

  test('jitter comes from the runtime random source, the retry time from its clock', () => {
    const m = startSimulated({}, () => 0);
    m.openTunnel();
    m.clock.increment(4321);
    m.send(ev.lost());
    assert.equal(m.ctx().retryDelayMs, 750);
    assert.equal(m.ctx().nextRetryAt, 4321 + 750);
    m.clock.increment(750);
    assert.equal(m.state(), 'connecting');
    assert.equal(m.ctx().nextRetryAt, undefined);
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
  test('the proxies actor (where the session hands each public connection) outlives control reconnects', () => {
    const m = startSimulated();
    const proxies = m.actor.getSnapshot().children.proxies;
    assert.ok(proxies, 'proxies actor runs from the start');
    m.openTunnel();
    m.send(ev.lost());
    m.clock.increment(1000);
    assert.equal(m.state(), 'connecting');
    assert.equal(m.actor.getSnapshot().children.proxies, proxies, 'the same proxies actor after the reconnect');
  });

  test('the counts that change per connection are read from the runtime when asked, not kept in the context', () => {
    const m = startSimulated({ pool: 4 });
    m.openTunnel();
    assert.equal('activeConnections' in m.ctx(), false);
    assert.equal('pool' in m.ctx(), false);
    assert.deepEqual(clientLiveCounts(m.ctx()), {
      activeConnections: 0,
      pool: { size: 0, idle: 0, opening: 0, inUse: 0, served: 0, refills: 0, fallbacks: 0, failures: 0 },
    });
    const stats = { size: 4, idle: 3, opening: 1, inUse: 2, served: 9, refills: 9, fallbacks: 1, failures: 0 };
    const before = m.actor.getSnapshot();
    m.ctx().runtime.pool = { stats };
    assert.deepEqual(clientLiveCounts(m.ctx()).pool, stats, 'read at the call');
    assert.equal(m.actor.getSnapshot(), before, 'no machine event');
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
      const open = m.probe.sessions.length - m.probe.closedSessions;
      assert.equal(open, name === 'backoff' ? 0 : 1, 'a session runs from connecting to the failure');
      m.send(ev.stop());
      assert.equal(m.state(), 'stopped');
      assert.equal(m.actor.getSnapshot().status, 'done');
      assert.equal(m.probe.sessions.length - m.probe.closedSessions, 0, 'no session left open');
      assert.equal(m.actor.getSnapshot().children.session, undefined);
    });
  }

  test('a pure transition on STOP closes nothing; the live one does', () => {
    const m = startSimulated();
    m.openTunnel();
    const before = m.actor.getSnapshot();
    const [next, actions] = transition(m.machine, before, ev.stop());
    assert.equal(next.value, 'stopped');
    const types: string[] = actions.map((a) => a.type);
    assert.ok(types.includes('xstate.stopChild'), 'the stop is an action to execute, not done in passing');
    assert.equal(m.probe.closedSessions, 0, 'the pure transition closed the control connection');
    assert.equal(m.state(), 'listening');
    m.send(ev.stop());
    assert.equal(m.probe.closedSessions, 1);
  });

  test('each session asks for the port of its attempt', () => {
    const m = startSimulated({ port: 0 });
    m.openTunnel(20042);
    m.send(ev.lost());
    m.clock.increment(1000);
    assert.deepEqual(
      m.probe.sessions.map(({ host, port, requestedPort }) => ({ host, port, requestedPort })),
      [
        { host: 'bore.test', port: 7835, requestedPort: 0 },
        { host: 'bore.test', port: 7835, requestedPort: 20042 },
      ],
    );
  });
});

/**
 * Model-based: the model is the machine itself, running on a simulated clock; a step is
 * an event the session actor or the user sends, or time passing up to a deadline (no
 * XState-internal event names). `xstate/graph` finds every state and edge; each edge
 * is a fresh actor replaying the shortest path and then the step.
 */
describe('model: every state and transition', () => {
  type Step = ClientEvent | { type: 'WAIT'; ms: number };
  interface Live {
    steps: Step[];
    value: string | object;
    status: string;
    context: ClientContext;
    /** Sessions running after the steps. */
    openSessions: number;
    /** The clock after the steps. */
    now: number;
    /** For an event step: the state a pure `transition()` gave from the state before it. */
    pureValue?: unknown;
  }

  /** Settings, and whether the tunnel's connections are TLS. */
  type Variant = Partial<TunnelSettings> & { tls?: boolean };
  const replay = ({ tls, ...variant }: Variant, steps: Step[]): Live => {
    const probe = newProbe();
    const machine = inertMachine(probe);
    const clock = new SimulatedClock();
    const actor = createActor(machine, {
      input: testInput(
        variant,
        () => 0.5,
        () => clock.now(),
        tls,
      ),
      clock,
    });
    actor.start();
    let pureValue: unknown;
    for (const [i, step] of steps.entries()) {
      if (step.type === 'WAIT') {
        clock.increment(step.ms);
        pureValue = undefined;
      } else {
        if (i === steps.length - 1) pureValue = transition(machine, actor.getSnapshot(), step)[0].value;
        actor.send(step);
      }
    }
    const snap = actor.getSnapshot();
    const live = {
      steps,
      value: snap.value,
      status: snap.status,
      context: snap.context,
      openSessions: probe.sessions.length - probe.closedSessions,
      now: clock.now(),
      pureValue,
    };
    actor.stop();
    return live;
  };

  // What can happen in each state: the session's reports where a session runs, time up to
  // the state's deadline (and just short of it), and STOP.
  const deadline = (live: Live): number | undefined => {
    const { settings, retryDelayMs } = live.context;
    const byState: Record<string, number | undefined> = {
      connecting: CONNECT_TIMEOUT_MS,
      securing: TLS_HANDSHAKE_TIMEOUT_MS,
      authenticating: NETWORK_TIMEOUT_MS,
      listening: settings.heartbeatTimeoutMs + HEARTBEAT_COALESCE_MS,
      backoff: retryDelayMs,
    };
    return byState[topState(live.value)];
  };
  const steps = (live: Live): Step[] => {
    const byState: Record<string, Step[]> = {
      connecting: [ev.connected(), ev.connectFailed('connect-refused'), ev.connectFailed('dns')],
      securing: [ev.secured(), ev.connectFailed('tls-untrusted'), ev.connectFailed('network')],
      authenticating: [ev.answered(), ev.hello(), ev.refused('invalid-secret'), ev.refused('port-in-use')],
      listening: [ev.heartbeat(), ev.serverError(), ev.lost('server-closed')],
    };
    const ms = deadline(live);
    const waits: Step[] =
      ms === undefined
        ? []
        : [
            { type: 'WAIT', ms: ms - 1 },
            { type: 'WAIT', ms },
          ];
    return [...(byState[topState(live.value)] ?? []), ...waits, ...(live.status === 'done' ? [] : [ev.stop()])];
  };
  const serializeState = (s: { context: Live }) => JSON.stringify([s.context.value, s.context.context.everListened]);
  const serializeEvent = (e: Step) => JSON.stringify(e);

  const variants: Variant[] = [{}, { reconnect: false }, { retryFirst: true }, { tls: true }, { tls: true, retryFirst: true }];
  const covered = new Set<string>();
  const statesSeen = new Set<string>();
  const deadlinesMet = new Set<string>();

  for (const variant of variants) {
    const model = fromTransition((live: Live, step: Step) => replay(variant, [...live.steps, step]), replay(variant, []));
    const options = { events: (s: { context: Live }) => steps(s.context), serializeState, serializeEvent };
    const paths = getShortestPaths(model, options);
    const adjacency = getAdjacencyMap(model, options);
    test(`variant ${JSON.stringify(variant)}: ${paths.length} states, every edge checked`, () => {
      assert.ok(paths.length >= 5, `${paths.length} states`);
      const edges = adjacencyMapToArray(adjacency);
      assert.ok(edges.length >= 15, `${edges.length} edges`);
      for (const { state: from, event, nextState: to } of edges) {
        const before = from.context;
        const after = to.context;
        const label = `${JSON.stringify(before.value)} --${serializeEvent(event)}-->`;
        const a = topState(before.value);
        const b = topState(after.value);
        statesSeen.add(b);
        if (a !== b) covered.add(`${a}->${b}`);
        // The live actor and the pure transition function agree.
        if (event.type !== 'WAIT') assert.deepEqual(after.pureValue, after.value, `${label} pure`);
        // One session from connecting until the failure or the stop, never two.
        const running = ['connecting', 'securing', 'authenticating', 'listening'].includes(b);
        assert.equal(after.openSessions, running ? 1 : 0, `${label} ${b}: sessions open`);
        // Secured only with TLS, and only through `securing`; the view's TLS is this attempt's.
        if (event.type === 'CONNECTED') assert.equal(b, variant.tls ? 'securing' : 'authenticating', label);
        if (b === 'authenticating' || b === 'listening') assert.equal(after.context.tls !== undefined, variant.tls === true, label);
        if (b === 'connecting' || b === 'securing') assert.equal(after.context.tls, undefined, label);
        // Every way into backoff or fatal records the failure; backoff knows when it retries.
        if (b === 'backoff' || b === 'fatal') assert.ok(after.context.lastError, `${label} records the failure`);
        if (b === 'backoff' && a !== 'backoff') assert.equal(after.context.nextRetryAt, after.now + after.context.retryDelayMs!, label);
        // Time short of a deadline changes nothing.
        const ms = deadline(before);
        if (event.type === 'WAIT' && ms !== undefined && event.ms < ms) assert.deepEqual(after.value, before.value, label);
        if (event.type === 'WAIT' && event.ms === ms && a !== b) deadlinesMet.add(a);
      }
    });
  }

  test('covers every state and every transition of the design', () => {
    assert.deepEqual([...statesSeen].sort(), ['authenticating', 'backoff', 'connecting', 'fatal', 'listening', 'securing', 'stopped']);
    const expected = [
      'connecting->authenticating',
      'connecting->securing',
      'securing->authenticating',
      'securing->backoff',
      'securing->fatal',
      'securing->stopped',
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
    assert.deepEqual([...covered].sort(), expected.sort());
    assert.deepEqual(
      [...deadlinesMet].sort(),
      ['authenticating', 'backoff', 'connecting', 'listening', 'securing'],
      'every deadline fires',
    );
  });
});

describe('the pool region (a warm pool of data connections)', () => {
  const poolState = (m: ReturnType<typeof startSimulated>) =>
    (m.actor.getSnapshot().value as { listening?: { pool?: string } }).listening?.pool;

  test('an offer opens the pool in the proxies actor; leaving listening closes it', () => {
    const m = startSimulated({ pool: 4 });
    m.openTunnel();
    assert.equal(poolState(m), 'asking');
    m.send(ev.poolOffer(4));
    assert.equal(poolState(m), 'open');
    assert.deepEqual(m.probe.proxyRequests, ['POOL.OPEN']);
    m.send(ev.lost());
    assert.equal(m.state(), 'backoff');
    assert.deepEqual(m.probe.proxyRequests, ['POOL.OPEN', 'POOL.CLOSE']);
    // The next session asks again and opens a new pool.
    m.clock.increment(m.ctx().retryDelayMs!);
    m.openTunnel();
    m.send(ev.poolOffer(2));
    assert.deepEqual(m.probe.proxyRequests, ['POOL.OPEN', 'POOL.CLOSE', 'POOL.OPEN']);
    m.send(ev.stop());
    assert.deepEqual(m.probe.proxyRequests, ['POOL.OPEN', 'POOL.CLOSE', 'POOL.OPEN', 'POOL.CLOSE']);
  });

  test('no offer within the network timeout (a Rust server) is the standard path; a late offer still opens', () => {
    const m = startSimulated({ pool: 4 });
    m.openTunnel();
    m.clock.increment(NETWORK_TIMEOUT_MS - 1);
    assert.equal(poolState(m), 'asking');
    m.send(ev.heartbeat());
    m.clock.increment(1);
    assert.equal(poolState(m), 'standard');
    assert.deepEqual(m.probe.proxyRequests, []);
    m.send(ev.poolOffer());
    assert.equal(poolState(m), 'open');
  });

  test('a pool size of 0 never asks: the region is off at once, and the session is told the size', () => {
    const m = startSimulated({ pool: 0 });
    m.openTunnel();
    assert.equal(poolState(m), 'off');
    assert.equal(m.probe.sessions[0]!.poolSize, 0);
    const on = startSimulated({ pool: 7 });
    assert.equal(on.probe.sessions[0]!.poolSize, 7);
  });

  test('an offer proves the server alive: it restarts the heartbeat deadline and not stableAfter', () => {
    const m = startSimulated({ pool: 4, heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    m.clock.increment(7999 + HEARTBEAT_COALESCE_MS);
    m.send(ev.poolOffer());
    m.clock.increment(7999 + HEARTBEAT_COALESCE_MS);
    assert.equal(m.state(), 'listening');
    m.clock.increment(1);
    assert.equal(m.state(), 'backoff');
  });
});
