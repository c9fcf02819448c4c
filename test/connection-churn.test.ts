/**
 * Public connections that end early must leave nothing behind (issue 10): a health
 * check's connect-and-close, a reset, a FIN without data, data then close. After 250
 * of each, the client's and the server's open file descriptors, counted from outside
 * in /proc, are back to where they were; and a client limited to 128 descriptors is
 * still serving once a burst of them is over.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { readdirSync } from 'node:fs';
import { BoreProcess, connect, httpGet, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { readEvents } from './helpers/inspect.js';

// Enough to show a leak: the one of issue 10 left sockets behind a few times in a hundred,
// so 250 of each leave several (1,000 took four times as long and proved no more); and
// twice as many exhaust a client limited to 128 descriptors.
const EACH = 250;
const IN_FLIGHT = 16;

/** Open file descriptors of a process. */
function fds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resolves once every socket of `visit` is closed; errors are part of the game. */
function closed(socket: net.Socket): Promise<void> {
  socket.on('error', () => {});
  return socket.closed ? Promise.resolve() : once(socket, 'close').then(() => undefined);
}

/** The ways a visitor can leave early, each resolving once its socket is closed. */
const visits: Record<string, (port: number) => Promise<void>> = {
  'connect-and-close': async (port) => {
    const s = await connect(port);
    s.destroy();
    await closed(s);
  },
  'connect-and-RST': async (port) => {
    const s = await connect(port);
    s.resetAndDestroy();
    await closed(s);
  },
  'FIN without data': async (port) => {
    const s = await connect(port);
    s.resume();
    s.end(); // the tunnel passes the FIN on; the echo service ends in turn
    await closed(s);
  },
  'data then close': async (port) => {
    const s = await connect(port);
    s.end(Buffer.alloc(100, 1));
    s.destroy();
    await closed(s);
  },
};

/** Runs `count` visits, `IN_FLIGHT` at a time. */
async function churn(count: number, visit: () => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next++ < count) await visit();
    }),
  );
}

/**
 * Makes the client's lazily opened connections part of a baseline: a burst past its pool
 * opens the multiplexed connection; then waits until the pool is whole again (its
 * inspector at `inspect`).
 */
async function openEverything(client: BoreProcess, port: number, inspect: number): Promise<void> {
  await Promise.all(Array.from({ length: 12 }, async () => roundTrip(await connect(port), Buffer.from('x'))));
  await client.waitFor(/multiplexed connection ready/);
  await readEvents(
    inspect,
    (event, data) => event === 'snapshot' && !!data.context?.pool?.size && data.context.pool.idle === data.context.pool.size,
  );
}

/** The value of `read()` once it has not changed for half a second (polled every 100 ms, 5 s at most). */
async function steady(read: () => number): Promise<number> {
  const deadline = Date.now() + 5000;
  let last = read();
  for (let same = 0; same < 5 && Date.now() < deadline;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Waits until `read()` is at most `target` (sockets close asynchronously) or `ms` have passed; returns it. */
async function settlesTo(read: () => number, target: number, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms;
  let now = read();
  while (now > target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = read();
  }
  return now;
}

/** Polls `read` until it is at least `target` (or `ms` have passed); returns the last value. */
async function reaches(read: () => number, target: number, ms = 15_000): Promise<number> {
  const deadline = Date.now() + ms;
  let now = read();
  while (now < target && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    now = read();
  }
  return now;
}

for (const secret of [undefined, 'churn-secret']) {
  for (const localHost of ['localhost', '127.0.0.1']) {
    test(`early-ending public connections leak no descriptors (local host ${localHost}, ${secret ? 'with' : 'without'} a secret)`, async () => {
      const echo = await startEchoServer();
      const env: Record<string, string> = secret ? { BORE_SECRET: secret } : {};
      const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'], env);
      const client = await startClient(
        echo.port,
        server.controlPort,
        ['--local-host', localHost, '--log-level', 'debug', '--inspect=0'],
        env,
      );
      try {
        // The warm pool's connections and the multiplexed one are part of the baseline.
        await client.waitFor(/pool: ready/);
        const inspect = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
        await openEverything(client, client.publicPort, inspect);
        const pids = { client: client.proc.pid!, server: server.proc.pid! };
        // One full round trip first, so lazily opened descriptors are in the baseline
        // (and its own sockets are not).
        const before = { client: fds(pids.client), server: fds(pids.server) };
        assert.equal((await roundTrip(await connect(client.publicPort), Buffer.from('warm'))).toString(), 'warm');
        // Back to where it was: the visitor's sockets closed (down) and the pooled connection it
        // used replaced (up: taken too early, a baseline one short made a refill look like a leak).
        const settled = async (read: () => number, target: number) => {
          const down = await settlesTo(read, target, 2000);
          return down < target ? reaches(read, target, 2000) : down;
        };
        const baseline = {
          client: await settled(() => fds(pids.client), before.client),
          server: await settled(() => fds(pids.server), before.server),
        };
        for (const [kind, visit] of Object.entries(visits)) {
          await churn(EACH, () => visit(client.publicPort));
          for (const side of ['client', 'server'] as const) {
            // Down to the baseline: a leak stays above it. Fewer is no leak: under load the warm
            // pool may still be refilling (or paused after refused refills, restarted by the
            // next visitor on the standard path), and the baseline may hold a closing socket.
            const left = await settlesTo(() => fds(pids[side]), baseline[side]);
            assert.ok(left <= baseline[side], `${side}: ${baseline[side]} fds before ${EACH} × ${kind}, ${left} after`);
          }
        }
        assert.equal((await roundTrip(await connect(client.publicPort), Buffer.from('still here'))).toString(), 'still here');
      } finally {
        await client.stop();
        await server.stop();
        await echo.close();
      }
    });
  }
}

test('a client limited to 128 descriptors serves again once a burst of connect-and-close is over', async () => {
  const echo = await startEchoServer();
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1']);
  const client = new BoreProcess(
    ['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(server.controlPort), '--log-level', 'debug', '--inspect=0'],
    {},
    undefined,
    ['prlimit', '--nofile=128:128', '--'],
  );
  try {
    const publicPort = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
    await client.waitFor(/pool: ready/);
    // The warm pool's connections and the multiplexed one are part of the baseline.
    const inspect = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
    await openEverything(client, publicPort, inspect);
    // (Once the sockets of that burst and of the inspector's stream have closed.)
    const baseline = await steady(() => fds(client.proc.pid!));
    // Far more than the client could hold if a few in a hundred left two sockets behind.
    await churn(EACH * 2, () => visits['connect-and-close']!(publicPort));
    // Recovered: its descriptors come back (with the leak they stayed at the limit); fewer
    // when the pool, its refills refused at the limit, has paused ...
    const left = await settlesTo(() => fds(client.proc.pid!), baseline);
    assert.ok(left <= baseline, `client: ${baseline} fds before the burst, ${left} after`);
    // ... a normal round trip goes through ...
    const data = Buffer.from('after the burst');
    assert.equal((await roundTrip(await connect(publicPort), data)).toString(), data.toString());
    // ... and the pool is whole again (a visitor that finds it empty restarts a paused one).
    // Reached from below (the refills), then settled: a socket of the round trip or a refill
    // still closing may stand above it for a moment.
    await reaches(() => fds(client.proc.pid!), baseline);
    const refilled = await settlesTo(() => fds(client.proc.pid!), baseline);
    const pool = JSON.parse((await httpGet(inspect, '/snapshot')).body).context.pool;
    assert.equal(
      refilled,
      baseline,
      `client: ${baseline} fds before the burst, ${refilled} once the pool has refilled (${JSON.stringify(pool)})`,
    );
  } finally {
    await client.stop();
    await server.stop();
    await echo.close();
  }
});
