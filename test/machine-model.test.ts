/**
 * The client machine, model-based: `xstate/graph` finds every state and transition of
 * the machine running on a simulated clock, and each is taken by a fresh actor.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedClock, createActor, fromTransition, transition } from 'xstate';
import { adjacencyMapToArray, getAdjacencyMap, getShortestPaths } from 'xstate/graph';
import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from '../src/client/connect.js';
import { HEARTBEAT_COALESCE_MS } from '../src/client/actors.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import { type ClientContext, type ClientEvent, type TunnelSettings } from '../machines/client.js';
import { ev, inertMachine, newProbe, testInput, topState } from './helpers/machine.js';

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
