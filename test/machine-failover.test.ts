/**
 * The client machine with several servers (`--to a,b`): where each attempt goes, when
 * the backoff grows, when it gives up, the sticky port of each server and
 * `--prefer-first`; on a SimulatedClock, no waiting.
 */
import { HEARTBEAT_COALESCE_MS } from '../src/client/actors.js';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { tunnelView } from '../machines/client.js';
import { FAILOVER_AFTER } from '../machines/failover.js';
import { ev, startSimulated } from './helpers/machine.js';

const A = { host: 'a.test', port: 7835 };
const B = { host: 'b.test', port: 7836 };
const two = { to: 'a.test', servers: [A, B] };

/** The servers of the sessions started so far, as `host:port`. */
function sessionsTo(m: ReturnType<typeof startSimulated>): string[] {
  return m.probe.sessions.map((s) => `${s.host}:${s.port}`);
}

/** The machine waits out its backoff: the next attempt starts. */
function retry(m: ReturnType<typeof startSimulated>): void {
  assert.equal(m.state(), 'backoff');
  m.clock.increment(m.ctx().retryDelayMs!);
  assert.equal(m.state(), 'connecting');
}

describe('failover: where the next attempt goes', () => {
  test('never up: a failure moves on at once; a whole round failed without --retry-first gives up, naming each server', () => {
    const m = startSimulated(two);
    m.send(ev.connectFailed('connect-refused'));
    assert.equal(m.ctx().server, 1);
    assert.equal(m.ctx().moved?.reason, 'a.test:7835 failed once (connect-refused)');
    retry(m);
    m.send(ev.connectFailed('connect-timeout'));
    assert.equal(m.state(), 'fatal');
    assert.deepEqual(sessionsTo(m), ['a.test:7835', 'b.test:7836']);
    assert.equal(m.ctx().lastError?.message, 'every server failed: a.test:7835: connect-refused; b.test:7836: connect-timeout');
    assert.equal(m.ctx().lastError?.class, 'retriable');
  });

  test(`once up, a retriable failure moves on after ${FAILOVER_AFTER} in a row on the same server`, () => {
    const m = startSimulated(two);
    m.openTunnel(20001);
    m.send(ev.lost('server-closed'));
    assert.equal(m.ctx().server, 0, 'one loss: the same server again');
    retry(m);
    m.send(ev.connectFailed('connect-refused'));
    assert.equal(m.ctx().server, 1, 'two in a row: the next server');
    assert.equal(m.ctx().moved?.reason, 'a.test:7835 failed twice (connect-refused)');
    retry(m);
    m.openTunnel(30001);
    assert.equal(m.state(), 'listening');
    assert.deepEqual(sessionsTo(m), ['a.test:7835', 'a.test:7835', 'b.test:7836']);
    const view = tunnelView(m.actor.getSnapshot());
    assert.equal(view.server, 'b.test:7836');
    assert.equal(view.publicPort, 30001);
    assert.deepEqual(view.moved, { from: 'a.test:7835', to: 'b.test:7836', reason: 'a.test:7835 failed twice (connect-refused)' });
  });

  test('a heartbeat loss counts as a failure of the server like any other', () => {
    const m = startSimulated({ ...two, heartbeatTimeoutMs: 8000 });
    m.openTunnel();
    m.clock.increment(8000 + HEARTBEAT_COALESCE_MS);
    assert.equal(m.ctx().lastError?.code, 'heartbeat-timeout');
    retry(m);
    m.send(ev.connected());
    m.clock.increment(3000);
    assert.equal(m.ctx().lastError?.code, 'handshake-timeout');
    assert.equal(m.ctx().server, 1);
  });

  test('the tunnel stays on the server that works: a loss there starts over on it, never back to the first', () => {
    const m = startSimulated(two);
    m.send(ev.connectFailed());
    retry(m);
    m.openTunnel(30001);
    m.send(ev.lost());
    assert.equal(m.ctx().server, 1);
    retry(m);
    assert.deepEqual(sessionsTo(m), ['a.test:7835', 'b.test:7836', 'b.test:7836']);
    assert.deepEqual(m.probe.probes, [], 'no probe without --prefer-first');
  });

  test('the backoff grows only when a whole round has failed', () => {
    const m = startSimulated({ ...two, retryFirst: true });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      m.send(ev.connectFailed());
      delays.push(m.ctx().retryDelayMs!);
      retry(m);
    }
    assert.deepEqual(delays, [1000, 1000, 2000, 2000, 4000, 4000]);
    assert.deepEqual(sessionsTo(m).slice(0, 4), ['a.test:7835', 'b.test:7836', 'a.test:7835', 'b.test:7836']);
  });

  test('one server: every failure is a round, as before', () => {
    const m = startSimulated({ retryFirst: true });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      m.send(ev.connectFailed());
      delays.push(m.ctx().retryDelayMs!);
      retry(m);
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
    assert.equal(tunnelView(m.actor.getSnapshot()).server, undefined, 'the view has no server with one');
  });
});

describe('failover: fatal answers are per server', () => {
  test('a server that refuses the secret is skipped; the tunnel gives up once every server has refused', () => {
    const m = startSimulated({ ...two, retryFirst: true });
    m.send(ev.connected());
    m.send(ev.refused('invalid-secret'));
    assert.equal(m.state(), 'backoff');
    assert.equal(m.ctx().server, 1);
    assert.equal(m.ctx().moved?.reason, 'a.test:7835 refused the tunnel (invalid-secret)');
    retry(m);
    m.send(ev.connected());
    m.send(ev.refused('invalid-secret'));
    assert.equal(m.state(), 'fatal');
    assert.deepEqual(m.ctx().lastError, {
      code: 'invalid-secret',
      class: 'fatal',
      message: 'every server failed: a.test:7835: invalid-secret; b.test:7836: invalid-secret',
    });
  });

  test('a refused server is never tried again: the others take every attempt', () => {
    const m = startSimulated({ ...two, retryFirst: true });
    m.send(ev.refused('port-not-allowed'));
    retry(m);
    for (let i = 0; i < 3; i++) {
      m.send(ev.connectFailed());
      assert.equal(m.state(), 'backoff');
      retry(m);
    }
    assert.deepEqual(sessionsTo(m), ['a.test:7835', 'b.test:7836', 'b.test:7836', 'b.test:7836', 'b.test:7836']);
    assert.equal(m.ctx().failures, 3, 'with one server left, each failure is a round');
  });

  test('with one server a fatal answer ends the tunnel, its message as it was', () => {
    const m = startSimulated({ retryFirst: true });
    m.send(ev.refused('invalid-secret'));
    assert.equal(m.state(), 'fatal');
    assert.equal(m.ctx().lastError?.message, 'invalid-secret');
  });
});

describe('failover: each server keeps its own sticky port', () => {
  test('returning to a server asks it for the port it gave before', () => {
    const m = startSimulated({ ...two, retryFirst: true });
    m.openTunnel(20001);
    m.send(ev.lost());
    retry(m);
    m.send(ev.connectFailed());
    retry(m);
    assert.equal(m.probe.sessions.at(-1)!.requestedPort, 0, 'b has given no port yet');
    m.openTunnel(30001);
    m.send(ev.lost());
    retry(m);
    m.send(ev.connectFailed());
    retry(m);
    assert.deepEqual(
      m.probe.sessions.map((s) => [s.host, s.requestedPort]),
      [
        ['a.test', 0],
        ['a.test', 20001],
        ['b.test', 0],
        ['b.test', 30001],
        ['a.test', 20001],
      ],
    );
    m.openTunnel(20001);
    assert.equal(tunnelView(m.actor.getSnapshot()).server, 'a.test:7835');
  });
});

describe('--prefer-first', () => {
  /** Up on a, two failures there, up on b. */
  const onSecond = (settings = {}) => {
    const m = startSimulated({ ...two, preferFirst: true, ...settings });
    m.openTunnel(20001);
    m.send(ev.lost());
    retry(m);
    m.send(ev.connectFailed());
    retry(m);
    m.openTunnel(30001);
    return m;
  };

  test('on the first server there is nothing to probe', () => {
    const m = startSimulated({ ...two, preferFirst: true });
    m.openTunnel();
    assert.deepEqual(m.probe.probes, []);
    assert.deepEqual(m.actor.getSnapshot().value, { listening: { heartbeat: 'alive', pool: 'off' } }, 'the chart of one server');
  });

  test('away from it, the first server is probed; once it has answered for stableAfter, the tunnel returns and asks for its old port', () => {
    const m = onSecond({ stableAfterMs: 10_000, heartbeatTimeoutMs: 60_000 });
    assert.deepEqual(m.probe.probes, ['a.test:7835']);
    for (let i = 0; i < 4; i++) {
      m.clock.increment(5_000);
      m.send(ev.heartbeat());
    }
    assert.equal(m.state(), 'listening', 'a silent first server: stay');
    m.send({ type: 'PROBE.ANSWERED' });
    m.clock.increment(9_000);
    m.send({ type: 'PROBE.SILENT' });
    m.send(ev.heartbeat());
    m.send({ type: 'PROBE.ANSWERED' });
    m.clock.increment(7_000);
    m.send(ev.heartbeat());
    assert.equal(m.state(), 'listening', 'an answer interrupted: the wait starts over');
    const closed = m.probe.closedSessions;
    m.clock.increment(3_000);
    assert.equal(m.state(), 'connecting');
    assert.equal(m.probe.closedSessions, closed + 1, "b's control connection is closed (its open connections are not the machine's)");
    assert.equal(m.probe.closedProbes, 1);
    const last = m.probe.sessions.at(-1)!;
    assert.deepEqual([last.host, last.requestedPort], ['a.test', 20001]);
    assert.equal(m.ctx().moved?.reason, 'a.test:7835 answered for 10 s (--prefer-first)');
    m.openTunnel(20001);
    assert.equal(tunnelView(m.actor.getSnapshot()).server, 'a.test:7835');
    assert.deepEqual(m.probe.probes, ['a.test:7835'], 'on the first server again: no probe');
  });

  test('a return that fails moves on again as any failure does', () => {
    const m = onSecond({ stableAfterMs: 1000, heartbeatTimeoutMs: 60_000 });
    m.send({ type: 'PROBE.ANSWERED' });
    m.clock.increment(1000);
    assert.equal(m.state(), 'connecting');
    m.send(ev.connectFailed());
    assert.equal(m.ctx().server, 0, 'a server it listened on gets a second try');
    retry(m);
    m.send(ev.connectFailed());
    assert.equal(m.ctx().server, 1);
    retry(m);
    assert.deepEqual(
      m.probe.sessions.slice(-3).map((s) => [s.host, s.requestedPort]),
      [
        ['a.test', 20001],
        ['a.test', 20001],
        ['b.test', 30001],
      ],
    );
  });
});
