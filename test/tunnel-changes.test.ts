/**
 * What an embedding program sees of a tunnel: `startTunnel({ signal })` stops on abort
 * (and at once if already aborted), and `onChange`/`changes()` report each change of
 * state, port, attempt or error once — the current one first, so `connecting` is never
 * missed — and nothing per heartbeat, though the machine's actor emits a snapshot for
 * each (counted here through the machine's own events, not by sleeping).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { getEventListeners } from 'node:events';
import type { InspectionEvent } from 'xstate';
import { BoreServer, type Logger, type TunnelChange, silentLogger, startTunnel } from 'bore-ts';
import { startEchoServer } from './helpers/procs.js';

/** An in-process server on 127.0.0.1 whose `clientGone` resolves when it notices a client leave. */
async function startBore(t: { after(fn: () => unknown): void }, minPort: number) {
  let disconnected!: () => void;
  const clientGone = new Promise<void>((r) => (disconnected = r));
  const logger: Logger = { ...silentLogger, info: (message: string) => message === 'client disconnected' && disconnected() };
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort,
    maxPort: minPort + 99,
    logger,
  });
  const controlPort = await server.listen();
  t.after(() => server.close(0));
  const echo = await startEchoServer();
  t.after(() => echo.close());
  return { server, controlPort, echo, clientGone };
}

/** Counts the heartbeats the machine receives; `after(n)` resolves at the n-th from now. */
function heartbeatCounter() {
  let count = 0;
  const waiting: { at: number; resolve: () => void }[] = [];
  const inspect = (event: InspectionEvent) => {
    if (event.type !== '@xstate.event' || event.event.type !== 'SERVER.HEARTBEAT') return;
    count++;
    for (const w of waiting.filter((w) => w.at <= count)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  };
  const after = (n: number) => new Promise<void>((resolve) => waiting.push({ at: count + n, resolve }));
  return { inspect, after };
}

const summary = (c: TunnelChange) =>
  `${c.state}#${c.attempt}${c.publicPort ? `:${c.publicPort}` : ''}${c.lastError ? `!${c.lastError.code}` : ''}`;

test('an already-aborted signal stops the tunnel at once: stopped, ready rejects, nothing dialled', async (t) => {
  const peers: number[] = [];
  let accepted: (() => void) | undefined;
  const server = net
    .createServer((s) => {
      peers.push(s.remotePort ?? 0);
      s.destroy();
      accepted?.();
    })
    .listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as net.AddressInfo;
    const tunnel = startTunnel({ localPort: 1, to: '127.0.0.1', controlPort: port, signal: AbortSignal.abort() });
    t.after(() => tunnel.stop());
    assert.deepEqual(await tunnel.done, { state: 'stopped', exitCode: 0 });
    // Rejected with the signal's reason, as Node's own APIs are: an AbortError.
    await assert.rejects(tunnel.ready, { name: 'AbortError' });
    const seen: string[] = [];
    tunnel.onChange((c) => seen.push(c.state));
    assert.deepEqual(seen, ['stopped']);
    // A barrier instead of a sleep: a connection the tunnel had started was dialled
    // before this probe, so it would be accepted before the probe is.
    const probe = net.connect(port, '127.0.0.1');
    await new Promise((r) => probe.once('connect', r));
    const probePort = probe.localPort;
    while (!peers.includes(probePort ?? -1)) await new Promise<void>((r) => (accepted = r));
    probe.destroy();
    assert.deepEqual(peers, [probePort], 'only the probe connected');
  } finally {
    server.close();
  }
});

test('aborting the signal of a listening tunnel stops it as stop() does, and the listener goes', async (t) => {
  const { server, controlPort, echo, clientGone } = await startBore(t, 25700);
  const controller = new AbortController();
  const tunnel = startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort, signal: controller.signal });
  t.after(() => tunnel.stop());
  await tunnel.ready;
  assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
  controller.abort();
  assert.deepEqual(await tunnel.done, { state: 'stopped', exitCode: 0 });
  await clientGone;
  assert.equal(server.tunnelCount, 0);

  // A tunnel that ends on its own lets go of a long-lived signal.
  const other = startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort, signal: controller.signal });
  assert.equal((await other.done).state, 'stopped'); // this signal is already aborted
  const kept = new AbortController();
  const third = startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort, signal: kept.signal });
  t.after(() => third.stop());
  await third.stop();
  assert.equal(getEventListeners(kept.signal, 'abort').length, 0);
});

test('onChange: connecting first, then once per change, nothing per heartbeat; unsubscribe stops the calls', async (t) => {
  const { controlPort, echo } = await startBore(t, 25800);
  const beats = heartbeatCounter();
  const tunnel = startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort, inspect: beats.inspect });
  t.after(() => tunnel.stop());
  const changes: TunnelChange[] = [];
  tunnel.onChange((c) => changes.push(c)); // after startTunnel returned: still sees connecting
  let snapshots = 0;
  tunnel.actor.subscribe(() => snapshots++);
  const publicPort = await tunnel.ready;
  assert.deepEqual(changes.map(summary), ['connecting#1', 'authenticating#1', `listening#1:${publicPort}`]);
  assert.deepEqual(changes[0], {
    state: 'connecting',
    publicPort: undefined,
    attempt: 1,
    lastError: undefined,
    retryDelayMs: undefined,
    tls: undefined,
  });

  const before = snapshots;
  await beats.after(4);
  assert.ok(snapshots - before >= 4, `the actor emitted ${snapshots - before} snapshots over 4 heartbeats`);
  assert.equal(changes.length, 3, 'no change reported for the heartbeats');

  // A late listener gets the current state at once, and only that.
  const late: string[] = [];
  const unsubscribe = tunnel.onChange((c) => late.push(summary(c)));
  assert.deepEqual(late, [`listening#1:${publicPort}`]);
  unsubscribe();

  await tunnel.stop();
  assert.deepEqual(changes.map(summary), ['connecting#1', 'authenticating#1', `listening#1:${publicPort}`, `stopped#1:${publicPort}`]);
  assert.deepEqual(late, [`listening#1:${publicPort}`], 'an unsubscribed listener is not called');
});

test('changes(): the same stream as an async iterator, with backoff, attempts and errors; it ends after the final state', async (t) => {
  const closed = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => closed.once('listening', r));
  const { port: deadPort } = closed.address() as net.AddressInfo;
  await new Promise((r) => closed.close(r));
  const tunnel = startTunnel({ localPort: 1, to: '127.0.0.1', controlPort: deadPort, retryFirst: true, maxReconnectDelayMs: 20 });
  t.after(() => tunnel.stop());
  const seen: TunnelChange[] = [];
  for await (const change of tunnel.changes()) {
    seen.push(change);
    if (change.attempt === 3) void tunnel.stop();
  }
  assert.deepEqual(seen.map(summary), [
    'connecting#1',
    'backoff#1!connect-refused',
    'connecting#2!connect-refused',
    'backoff#2!connect-refused',
    'connecting#3!connect-refused',
    'stopped#3!connect-refused',
  ]);
  const backoff = seen[1]!;
  assert.ok(backoff.retryDelayMs !== undefined && backoff.retryDelayMs <= 20, `retryDelayMs ${backoff.retryDelayMs}`);
  assert.equal(seen[2]!.retryDelayMs, undefined);

  // After the end, a new iterator yields the final state and ends.
  const after: string[] = [];
  for await (const change of tunnel.changes()) after.push(summary(change));
  assert.deepEqual(after, ['stopped#3!connect-refused']);
});
