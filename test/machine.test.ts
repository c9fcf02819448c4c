/**
 * The client machine, tested without waiting on a SimulatedClock: its deadlines (the
 * heartbeat's, the connect's, the handshake's, TLS's) and the backoff schedule. What it
 * does after a failure and with connections is `machine-recovery.test.ts`; every state
 * and transition, taken by `xstate/graph`, `machine-model.test.ts`.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CONNECT_TIMEOUT_MS, TLS_HANDSHAKE_TIMEOUT_MS } from '../src/client/connect.js';
import { HEARTBEAT_COALESCE_MS } from '../src/client/actors.js';
import { NETWORK_TIMEOUT_MS } from '../src/protocol/constants.js';
import { tunnelView } from '../machines/client.js';
import { TEST_TLS, ev, startSimulated } from './helpers/machine.js';

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
