/**
 * The client machine, tested without waiting on a SimulatedClock: error classes, the
 * same public port across reconnects, the connections and the stop, and the warm pool
 * region. Deadlines and backoff are `machine.test.ts`; the model's every transition
 * `machine-model.test.ts`.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { transition } from 'xstate';
import { ERROR_CLASSES, type ErrorCode } from '../src/client/errors.js';
import { HEARTBEAT_COALESCE_MS } from '../src/client/actors.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import { STICKY_PORT_TRIES, clientLiveCounts } from '../machines/client.js';
import { ev, startSimulated } from './helpers/machine.js';

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
