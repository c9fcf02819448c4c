/**
 * The warm pool of data connections (issue 12), end to end with the real CLI: our
 * client with our server uses it (visible in `/snapshot` and the debug logs), `--pool 0`
 * does not, a burst larger than the pool falls back to the standard path with no
 * failure (with `--no-mux`; by default it rides the multiplexed connection), a control reconnect keeps pooled transfers intact and refills the pool;
 * and the server's side of it against raw sockets: tokens, secret, cap, closing.
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { BoreServer } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { relayedTunnel, sendAcrossControlCut } from './helpers/held-sink.js';
import { type EventData, readEvents } from './helpers/inspect.js';
import { connect, httpGet, roundTrip, serverPoolIdle, sha256, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { ByteReader } from './helpers/replay.js';
import { waitUntil } from './helpers/poll.js';

const RANGE = ['--min-port', '26100', '--max-port', '26199'];
const SECRET = 'pool-test-secret-51c2';

/** The inspector port a client printed. */
async function inspectorPort(client: Awaited<ReturnType<typeof startClient>>): Promise<number> {
  return Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
}

/** Waits for a pushed snapshot whose pool satisfies `ok`. */
async function poolWhere(port: number, ok: (pool: NonNullable<NonNullable<EventData['context']>['pool']>) => boolean): Promise<void> {
  await readEvents(port, (event, data) => event === 'snapshot' && data.context?.pool !== undefined && ok(data.context.pool));
}

async function snapshot(port: number): Promise<{ value: unknown; context: { pool: Record<string, number> } }> {
  return JSON.parse((await httpGet(port, '/snapshot')).body) as { value: unknown; context: { pool: Record<string, number> } };
}

test('our client with our server: a sha256-checked transfer goes through a pooled connection, with a secret', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--log-level', 'debug'], { BORE_SECRET: SECRET });
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect=0', '--log-level', 'debug'], { BORE_SECRET: SECRET });
  t.after(() => client.stop());
  const inspect = await inspectorPort(client);
  await poolWhere(inspect, (p) => p.size === 4 && p.idle === 4);
  await serverPoolIdle(server, 4);

  const data = randomBytes(1024 * 1024);
  const back = await roundTrip(await connect(client.publicPort), data);
  assert.equal(sha256(back), sha256(data));
  await server.waitFor(/new connection, through the pool/);
  await client.waitFor(/pool: public connection/);
  // The used connection was replaced: the pool is full again.
  await poolWhere(inspect, (p) => p.served === 1 && p.idle === 4 && p.fallbacks === 0);
  const snap = await snapshot(inspect);
  assert.deepEqual(snap.value, { listening: { heartbeat: 'alive', pool: 'open' } });
  assert.equal(snap.context.pool.refills, 1);
  assert.doesNotMatch(server.output + client.output, /forwarding connection/, 'no Connection/Accept claim was needed');
  assert.ok(!(server.output + client.output).includes(SECRET), 'the secret is never printed');
});

test('--pool 0: the client never asks, every connection takes the standard path', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--log-level', 'debug']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect=0', '--pool', '0']);
  t.after(() => client.stop());
  const inspect = await inspectorPort(client);
  const data = randomBytes(64 * 1024);
  assert.equal(sha256(await roundTrip(await connect(client.publicPort), data)), sha256(data));
  await server.waitFor(/forwarding connection/);
  const snap = await snapshot(inspect);
  assert.deepEqual(snap.value, { listening: { heartbeat: 'alive', pool: 'off' } });
  assert.equal(snap.context.pool.size, 0);
  assert.doesNotMatch(server.output, /pool offered|through the pool/);
});

test('--no-mux, a burst larger than the pool: every connection succeeds, the rest through the standard path', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer(RANGE);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  // (By default the rest ride the multiplexed connection: test/mux-tunnel.test.ts.)
  const client = await startClient(echo.port, server.controlPort, ['--inspect=0', '--pool', '2', '--no-mux']);
  t.after(() => client.stop());
  const inspect = await inspectorPort(client);
  await poolWhere(inspect, (p) => p.idle === 2);
  const burst = 40;
  const payloads = Array.from({ length: burst }, () => randomBytes(16 * 1024));
  const sockets = await Promise.all(payloads.map(() => connect(client.publicPort)));
  const results = await Promise.allSettled(sockets.map((s, i) => roundTrip(s, payloads[i]!)));
  const failed = results.filter((r, i) => r.status === 'rejected' || sha256(r.value) !== sha256(payloads[i]!));
  assert.equal(failed.length, 0, `${failed.length} of ${burst} connections failed`);
  await poolWhere(inspect, (p) => p.served + p.fallbacks === burst && p.idle === 2);
  const { pool } = (await snapshot(inspect)).context;
  assert.ok(pool.served! >= 2, `served through the pool: ${pool.served}`);
  assert.ok(pool.fallbacks! >= 1, `fallbacks: ${pool.fallbacks}`);
});

test('a control reconnect: a transfer in flight on a pooled connection arrives intact, and the pool is rebuilt', async (t) => {
  const { server, relay, sink, client, data } = await relayedTunnel(t, RANGE, ['--inspect=0']);
  const total = data.length;
  const inspect = await inspectorPort(client);
  await poolWhere(inspect, (p) => p.idle === 4);
  await serverPoolIdle(server, 4);
  const { receivedAtReconnect, digest } = await sendAcrossControlCut(client, client.publicPort, relay, sink, data);
  assert.ok(receivedAtReconnect < total, `in flight at the reconnect (${receivedAtReconnect} of ${total})`);
  assert.equal(digest, sha256(data));
  assert.match(server.output, /new connection, through the pool/, 'the transfer went through the pool');
  // A new session, a new pool: four fresh connections after the cut.
  await poolWhere(inspect, (p) => p.idle === 4 && p.size === 4 && p.inUse === 0);
  assert.equal((await snapshot(inspect)).context.pool.served, 1);
});

// ---------------------------------------------------------------------------------
// The server's side, against raw sockets.

/** A raw peer speaking bore frames to the server's control port. */
async function peer(
  port: number,
): Promise<{ socket: net.Socket; reader: ByteReader; send: (v: unknown) => void; recv: () => Promise<unknown> }> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const reader = new ByteReader(socket);
  const send = (v: unknown) => socket.write(`${JSON.stringify(v)}\0`);
  const recv = async () => {
    let text = '';
    for (;;) {
      const b = await reader.read(1);
      if (b[0] === 0) return JSON.parse(text) as unknown;
      text += b.toString('latin1');
    }
  };
  return { socket, reader, send, recv };
}

async function openRawTunnel(server: BoreServer, secret?: string) {
  const control = await peer(server.port);
  if (secret) {
    const challenge = (await control.recv()) as { Challenge: string };
    control.send({ Authenticate: new Authenticator(secret).answer(challenge.Challenge) });
  }
  control.send({ Hello: 0 });
  const hello = (await control.recv()) as { Hello: number };
  assert.deepEqual(await control.recv(), 'Heartbeat');
  return { control, port: hello.Hello };
}

/** Reads frames until one that is not a heartbeat. */
async function nextNonHeartbeat(p: Awaited<ReturnType<typeof peer>>): Promise<unknown> {
  for (;;) {
    const msg = await p.recv();
    if (msg !== 'Heartbeat') return msg;
  }
}

test('server: a pool is offered only when asked, capped, bound to its tunnel by the token, and closed with it', async (t) => {
  const logs: string[] = [];
  const logger = {
    error: () => {},
    warn: () => {},
    info: (m: string, f?: object) => logs.push(`${m} ${JSON.stringify(f)}`),
    debug: () => {},
  };
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: 26200,
    maxPort: 26299,
    logger,
    secret: SECRET,
    maxPoolPerTunnel: 3,
  });
  await server.listen();
  t.after(() => server.close(0));
  const a = await openRawTunnel(server, SECRET);
  const b = await openRawTunnel(server, SECRET);
  a.control.send({ PoolRequest: 10_000 });
  const offer = (await nextNonHeartbeat(a.control)) as { PoolOffer: { token: string; size: number } };
  assert.equal(offer.PoolOffer.size, 3, 'a request past the cap gets the cap');
  assert.ok(
    logs.some((l) => l.startsWith('pool request capped') && l.includes('"requested":10000')),
    logs.join('\n'),
  );

  // A pooled connection proves the secret first, then joins; the server acknowledges it.
  const join = async (token: string, secret = SECRET) => {
    const p = await peer(server.port);
    const challenge = (await p.recv()) as { Challenge: string };
    p.send({ Authenticate: new Authenticator(secret).answer(challenge.Challenge) });
    p.send({ PoolJoin: token });
    return p;
  };
  const pooled = await join(offer.PoolOffer.token);
  assert.equal(await pooled.recv(), 'Heartbeat', 'the join is acknowledged');
  assert.equal(server.stats.pooled, 1);

  // The wrong secret never reaches the pool; an unknown token is closed unanswered.
  const wrong = await join(offer.PoolOffer.token, 'not-the-secret');
  assert.deepEqual(await wrong.recv(), { Error: 'invalid secret' });
  const guess = await join('00000000-0000-4000-8000-000000000001');
  await guess.reader.end();
  assert.equal(guess.reader.buffered.length, 0, 'nothing is sent for an unknown token');
  assert.equal(server.stats.pooled, 1);

  // A visitor of tunnel B never reaches tunnel A's pool: B takes the standard path.
  const visitorB = await connect(b.port);
  assert.match(JSON.stringify(await nextNonHeartbeat(b.control)), /^\{"Connection":"/);
  visitorB.destroy();
  // A visitor of tunnel A goes to the pooled connection at once, its bytes after the frame.
  const visitorA = await connect(a.port);
  visitorA.write('hello pool');
  const signal = (await nextNonHeartbeat(pooled)) as { Connection: string };
  assert.match(signal.Connection, /^[0-9a-f-]{36}$/);
  assert.equal((await pooled.reader.read(10)).toString(), 'hello pool');
  pooled.socket.write('and back');
  assert.equal((await new ByteReader(visitorA).read(8)).toString(), 'and back');
  assert.equal(server.counters.publicPooled, 1);

  // A second pool request on the same session is ignored; no second offer.
  const idle = await join(offer.PoolOffer.token);
  assert.equal(await idle.recv(), 'Heartbeat');
  // The control connection goes: the idle pooled connection is closed, the token forgotten, the
  // connection already serving a visitor goes on.
  a.control.socket.destroy();
  await idle.reader.end();
  const late = await join(offer.PoolOffer.token);
  await late.reader.end();
  assert.equal(late.reader.buffered.length, 0, 'a token of a closed tunnel is refused');
  pooled.socket.write('still here');
  assert.equal((await new ByteReader(visitorA).read(10)).toString(), 'still here');
  visitorA.destroy();
  b.control.socket.destroy();
  for (const p of [pooled, wrong, guess, idle, late]) p.socket.destroy();
});

/** A server on loopback whose tunnels get a pool of one at most, closed after the test. */
async function serverWithPoolsOfOne(t: TestContext): Promise<BoreServer> {
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: 26300,
    maxPort: 26399,
    maxPoolPerTunnel: 1,
  });
  await server.listen();
  t.after(() => server.close(0));
  return server;
}

test('server: PoolRequest before Hello is a protocol error; a full pool closes the extra connection', async (t) => {
  const server = await serverWithPoolsOfOne(t);
  const early = await peer(server.port);
  early.send({ PoolRequest: 4 });
  await early.reader.end();
  assert.equal(early.reader.buffered.length, 0);

  const a = await openRawTunnel(server);
  a.control.send({ PoolRequest: 4 });
  const { PoolOffer } = (await nextNonHeartbeat(a.control)) as { PoolOffer: { token: string; size: number } };
  assert.equal(PoolOffer.size, 1);
  const first = await peer(server.port);
  first.send({ PoolJoin: PoolOffer.token });
  assert.equal(await first.recv(), 'Heartbeat');
  const second = await peer(server.port);
  second.send({ PoolJoin: PoolOffer.token });
  await second.reader.end();
  assert.equal(second.reader.buffered.length, 0, 'no acknowledgement past the size offered');
  assert.equal(server.stats.pooled, 1);
  // Sending anything on an idle pooled connection closes it.
  first.socket.write('x');
  await first.reader.end();
  assert.equal(server.stats.pooled, 0);
  for (const p of [early, first, second, a.control]) p.socket.destroy();
});

test('server: a quiet PoolJoin (the token in its simple form) is pooled unacknowledged: the first frame it gets is its visitor', async (t) => {
  const server = await serverWithPoolsOfOne(t);
  const a = await openRawTunnel(server);
  a.control.send({ PoolRequest: 1 });
  const { PoolOffer } = (await nextNonHeartbeat(a.control)) as { PoolOffer: { token: string; size: number } };
  const quiet = await peer(server.port);
  quiet.send({ PoolJoin: PoolOffer.token.replaceAll('-', '') });
  // Nothing comes back to say it joined: the server's count does.
  await waitUntil(() => server.stats.pooled === 1, 'the quiet join pooled');
  const visitor = await connect(a.port);
  visitor.write('quiet');
  assert.match(JSON.stringify(await quiet.recv()), /^\{"Connection":"[0-9a-f-]{36}"\}$/, 'no heartbeat before the visitor');
  assert.equal((await quiet.reader.read(5)).toString(), 'quiet');
  assert.equal(server.counters.publicPooled, 1);
  for (const p of [quiet, a.control]) p.socket.destroy();
  visitor.destroy();
});

test('a server that offers no pool (as the Rust bore): after the network timeout the standard path, said at debug', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--max-pool', '0']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--log-level', 'debug']);
  t.after(() => client.stop());
  await client.waitFor(/DEBUG the server offered no connection pool .*standard path/);
  assert.doesNotMatch(client.output, /WARN/);
  const data = randomBytes(8192);
  assert.equal(sha256(await roundTrip(await connect(client.publicPort), data)), sha256(data));
});
