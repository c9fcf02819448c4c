/**
 * The client's pool (`src/client/pool.ts`) against a scripted server on loopback: it
 * fills to the size offered, stops after repeated failures instead of looping, tries
 * again when demand comes back through the standard path, and closes what it opened.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { ClientPool, MAX_FAILURE_STREAK, type PoolStats } from '../src/client/pool.js';
import { silentLogger } from '../src/log/logger.js';

const TOKEN = '00000000-0000-4000-8000-0000000000bb';

/**
 * A server that takes each `PoolJoin` while `accepting`, else closes at once. The client's
 * joins are quiet (the token's simple form); with `ack` the server answers each with a
 * heartbeat all the same, as a bore-ts server older than quiet joins does.
 */
async function scriptedServer(ack: boolean) {
  const state = { accepting: false, joins: 0, joinFrames: 0, closed: 0, open: new Set<net.Socket>() };
  const events = new EventEmitter();
  const server = net.createServer((socket) => {
    state.joins++;
    socket.on('close', () => {
      state.closed++;
      events.emit('closed');
    });
    if (!state.accepting) return void socket.destroy();
    state.open.add(socket);
    socket.on('close', () => state.open.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (chunk) => {
      state.joinFrames++;
      assert.equal(chunk.toString(), `{"PoolJoin":"${TOKEN.replaceAll('-', '')}"}\0`);
      if (ack) socket.write('"Heartbeat"\0');
      events.emit('joined');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  /** Resolves once a condition on the server's state holds, checked as connections come, join and close. */
  const when = (ok: () => boolean) =>
    new Promise<void>((resolve) => {
      const check = () => {
        if (!ok()) return;
        events.off('closed', check);
        events.off('joined', check);
        resolve();
      };
      events.on('closed', check);
      events.on('joined', check);
      check();
    });
  /** Resolves once `n` connections have come and every one has closed. */
  const allClosed = (n: number) => when(() => state.joins >= n && state.closed === state.joins);
  return { state, when, allClosed, port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

function pool(port: number) {
  const changes: PoolStats[] = [];
  let waiter: { ok: (s: PoolStats) => boolean; resolve: () => void } | undefined;
  const p = new ClientPool({ to: '127.0.0.1', controlPort: port, localHost: '127.0.0.1', localPort: 1, auth: undefined }, silentLogger, {
    opened: () => {},
    closed: () => {},
    changed: (s) => {
      changes.push(s);
      if (waiter?.ok(s)) waiter.resolve();
    },
  });
  const until = (ok: (s: PoolStats) => boolean) =>
    ok(p.stats) ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { ok, resolve }));
  return { p, changes, until };
}

for (const ack of [false, true]) {
  const which = ack ? 'a server that acknowledges each join (older than quiet joins)' : 'a server that knows quiet joins';
  test(
    `a pool stops after repeated failures, tries again on demand, fills, serves and closes what it opened: ${which}`,
    { timeout: 30_000 },
    async () => {
      const server = await scriptedServer(ack);
      try {
        const { p, until } = pool(server.port);
        p.open(TOKEN, 3);
        // Every join refused (closed at once): a few attempts, then it stops (no loop).
        await until((s) => s.failures >= MAX_FAILURE_STREAK && s.opening === 0 && s.idle === 0);
        // Those already opening when the streak was reached fail too; none is opened after.
        assert.equal(server.state.joins, p.stats.failures);
        assert.ok(p.stats.failures <= MAX_FAILURE_STREAK + 2, `${p.stats.failures} attempts`);
        assert.equal(p.sockets, 0, 'the failed connections are not held');

        // The server works again and a visitor takes the standard path: the pool refills,
        // each connection idle once its join is sent (no acknowledgement awaited).
        server.state.accepting = true;
        const failures = p.stats.failures;
        p.fallback();
        await until((s) => s.idle === 3);
        assert.equal(p.stats.fallbacks, 1);
        await server.when(() => server.state.joinFrames === 3);
        assert.equal(server.state.open.size, 3);

        // A visitor handed to one (after the acknowledgement, if any): served, and no
        // connection counted as failed (an acknowledgement is read as a heartbeat).
        const [first] = server.state.open;
        first!.write(`{"Connection":"${TOKEN}"}\0`);
        await until((s) => s.served === 1);
        assert.equal(p.stats.failures, failures);

        // Closing closes every idle connection.
        const serverSides = [...server.state.open].filter((s) => s !== first);
        p.close();
        assert.equal(p.isOpen, false);
        assert.deepEqual({ size: p.stats.size, idle: p.stats.idle }, { size: 0, idle: 0 });
        await Promise.all(serverSides.map((s) => (s.closed ? Promise.resolve() : once(s, 'close').then(() => undefined))));
        // A fallback with no pool open counts nothing.
        p.fallback();
        assert.equal(p.stats.fallbacks, 1);
      } finally {
        server.close();
      }
    },
  );
}

test('a pool closed while its connections are connecting lets none of them join', async () => {
  const server = await scriptedServer(true);
  server.state.accepting = true;
  try {
    const { p } = pool(server.port);
    p.open(TOKEN, 4);
    p.close();
    assert.equal(p.sockets, 0);
    // Every connection that reached the server is closed without having sent PoolJoin.
    await server.allClosed(4);
    assert.equal(server.state.joinFrames, 0);
    assert.equal(p.sockets, 0);
  } finally {
    server.close();
  }
});
