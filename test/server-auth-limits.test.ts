/**
 * The server's per-address cap on failed handshakes, on real loopback sockets: wrong
 * secrets and garbage count, a cool-down refuses new tunnels but keeps the data
 * connections of those that are up, health checks and races are no failures; bad
 * options are refused; and the CLI server never prints its secret. The other bounds are
 * `server-limits.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { BoreServer, ServerErrors } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { type RawFramed, nextData, rawAccept, rawAuthenticate, rawConnect, rawTunnel, readAll } from './helpers/raw-peer.js';
import { UNKNOWN_CLAIM_ALLOWANCE } from '../src/server/peer-limits.js';
import { BoreProcess, connect, startServer as startCliServer } from './helpers/procs.js';
import { waitUntil } from './helpers/poll.js';
import { libraryServers } from './helpers/library-server.js';

const RANGE = { minPort: 27400, maxPort: 27499 };
const startServer = libraryServers(RANGE);

/**
 * Opens a plain connection to `port`, writes `bytes` (and with `end`, half-closes), and
 * resolves with all it reads until the server closes it.
 */
function dialAndRead(port: number, bytes = '', end = false): Promise<Buffer> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.write(bytes);
  if (end) socket.end();
  return readAll(socket);
}

/**
 * Authenticates with `secret` (right or wrong) on a new connection, sends `msg`, and
 * resolves with the server's reply (undefined if it closed without one).
 */
async function afterAuth(port: number, secret: string, msg: Parameters<RawFramed['send']>[0]) {
  const framed = await rawConnect(port);
  const ch = await framed.recv();
  assert.equal(ch?.type, 'Challenge');
  if (ch?.type === 'Challenge') framed.send({ type: 'Authenticate', tag: new Authenticator(secret).answer(ch.id) });
  framed.send(msg);
  const reply = await framed.recv().catch(() => undefined);
  framed.socket.destroy();
  return reply;
}

test('after maxAuthFailures wrong secrets an address opens no new tunnel (one warn line) until the window has passed, and right and wrong answers get the same reply meanwhile', async () => {
  const secret = 'peer-limits-secret';
  const WINDOW_MS = 1500;
  const { server, logger } = await startServer({ secret, maxAuthFailures: 3, authFailureWindowMs: WINDOW_MS });
  // Closing after the Challenge without answering tries no secret: not a failure.
  for (let i = 0; i < 3; i++) {
    const framed = await rawConnect(server.port);
    assert.equal((await framed.recv())?.type, 'Challenge');
    framed.socket.end();
    await readAll(framed.socket);
  }
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(await afterAuth(server.port, `guess ${i}`, { type: 'Hello', port: 0 }), {
      type: 'Error',
      message: ServerErrors.invalidSecret,
    });
  }
  await logger.waitFor('too many failed handshakes, refusing address');
  const blockedAt = Date.now();
  // A new tunnel is refused with the right secret as with a wrong one: no answer is
  // evaluated, so a guesser learns nothing during the cool-down.
  for (const tried of [secret, 'guess 4', secret]) {
    assert.deepEqual(await afterAuth(server.port, tried, { type: 'Hello', port: 0 }), {
      type: 'Error',
      message: ServerErrors.addressCoolingDown,
    });
  }
  assert.equal(server.stats.tunnels, 0);
  const blocked = logger.find('too many failed handshakes, refusing address');
  assert.equal(blocked.length, 1, 'one line when the cool-down starts, none per refused connection');
  assert.equal(blocked[0]!.meta.addr, '127.0.0.1');
  assert.equal(server.counters.handshakeFailures.get('blocked'), 3);
  // Accepted again once the window has passed: poll until a Hello gets its port.
  for (;;) {
    const reply = await afterAuth(server.port, secret, { type: 'Hello', port: 0 });
    if (reply?.type === 'Hello') break;
    assert.deepEqual(reply, { type: 'Error', message: ServerErrors.addressCoolingDown });
    assert.ok(Date.now() - blockedAt < WINDOW_MS + 2000, 'the cool-down ends');
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(Date.now() - blockedAt >= WINDOW_MS - 50, `accepted again after ${Date.now() - blockedAt} ms, not before the window`);
  await logger.waitFor('client disconnected');
});

test('during a cool-down the tunnels that are up keep their data connections: an Accept for a waiting connection and a PoolJoin with a live token, each with the right answer', async () => {
  const secret = 'cool-down-secret';
  const { server, logger } = await startServer({ secret, maxAuthFailures: 2 });
  const tunnel = await rawTunnel(server.port, { secret });
  tunnel.framed.send({ type: 'PoolRequest', size: 2 });
  const offer = await (async () => {
    for (;;) {
      const msg = await tunnel.framed.recv();
      if (msg?.type === 'PoolOffer') return msg;
    }
  })();
  for (let i = 0; i < 2; i++) await afterAuth(server.port, `wrong ${i}`, { type: 'Hello', port: 0 });
  await logger.waitFor('too many failed handshakes, refusing address');

  // The standard path: Connection(id), then Accept(id) on a new connection.
  const pub = await connect(tunnel.port);
  const id = await tunnel.nextConnection();
  // Neither a wrong answer nor an unknown id is served; the waiting connection stays.
  assert.deepEqual(await afterAuth(server.port, 'wrong', { type: 'Accept', id }), {
    type: 'Error',
    message: ServerErrors.addressCoolingDown,
  });
  assert.deepEqual(await afterAuth(server.port, secret, { type: 'Accept', id: randomUUID() }), {
    type: 'Error',
    message: ServerErrors.addressCoolingDown,
  });
  assert.equal(server.stats.pending, 1);
  const data = await rawAccept(server.port, id, secret);
  pub.write('served during the cool-down');
  assert.equal((await nextData(data)).toString(), 'served during the cool-down');
  pub.destroy();
  data.destroy();

  // The pool: the offer's token joins, acknowledged with a heartbeat.
  const joined = await rawConnect(server.port);
  await rawAuthenticate(joined, secret);
  joined.send({ type: 'PoolJoin', token: offer.token });
  assert.deepEqual(await joined.recv(), { type: 'Heartbeat' });
  await waitUntil(() => server.stats.pooled === 1, 'one pooled connection');
  assert.deepEqual(await afterAuth(server.port, 'wrong', { type: 'PoolJoin', token: offer.token }), {
    type: 'Error',
    message: ServerErrors.addressCoolingDown,
  });
  joined.socket.destroy();
  tunnel.framed.socket.destroy();
});

test('data connections with unknown ids or tokens are counted: a few are a race, past the allowance they are failed handshakes', async () => {
  const { server, logger } = await startServer({ maxAuthFailures: 3 });
  const guesses = async (n: number) => {
    for (let i = 0; i < n; i++) {
      const framed = await rawConnect(server.port);
      framed.send(i % 2 ? { type: 'PoolJoin', token: randomUUID() } : { type: 'Accept', id: randomUUID() });
      await readAll(framed.socket);
    }
  };
  await guesses(UNKNOWN_CLAIM_ALLOWANCE);
  assert.equal(logger.find('too many failed handshakes, refusing address').length, 0, 'within the allowance');
  await guesses(3);
  await logger.waitFor('too many failed handshakes, refusing address');
  const framed = await rawConnect(server.port);
  framed.send({ type: 'Hello', port: 0 });
  assert.deepEqual(await framed.recv(), { type: 'Error', message: ServerErrors.addressCoolingDown });
  framed.socket.destroy();
});

test('with a secret, a connection closed without a byte (a TCP health check) is logged at debug, not warn, and is no failure', async () => {
  const { server, logger } = await startServer({ secret: 'probe-secret' });
  // What deploy/Dockerfile's HEALTHCHECK does: connect, then close at once.
  const probe = net.connect({ port: server.port, host: '127.0.0.1' });
  probe.on('error', () => {});
  await once(probe, 'connect');
  probe.end();
  await readAll(probe);
  await logger.waitFor('refusing client');
  assert.deepEqual(
    logger.find('refusing client').map((l) => [l.level, l.meta.reason]),
    [['debug', 'closed before authenticating']],
  );
  assert.deepEqual(
    [...server.counters.handshakeFailures.values()].filter((n) => n > 0),
    [],
    'not counted as a failed handshake',
  );

  // A peer that says something else before authenticating is still worth a warning.
  const framed = await rawConnect(server.port);
  assert.equal((await framed.recv())?.type, 'Challenge');
  framed.send({ type: 'Hello', port: 0 });
  assert.deepEqual(await framed.recv(), { type: 'Error', message: ServerErrors.secretRequired });
  framed.socket.destroy();
  assert.deepEqual(
    logger.find('refusing client').map((l) => [l.level, l.meta.reason]),
    [
      ['debug', 'closed before authenticating'],
      ['warn', 'sent Hello before authenticating'],
    ],
  );
});

test('garbage and handshake timeouts after some bytes count as failed handshakes; a silent close or timeout, an unknown Accept and a port refusal do not', async () => {
  const { server, logger } = await startServer({ maxAuthFailures: 2, handshakeTimeoutMs: 300 });
  for (let i = 0; i < 3; i++) {
    assert.equal((await dialAndRead(server.port, '', true)).length, 0);
    assert.equal((await readAll(await rawAccept(server.port, randomUUID()))).length, 0);
    const framed = await rawConnect(server.port);
    framed.send({ type: 'Hello', port: 1 });
    assert.deepEqual(await framed.recv(), { type: 'Error', message: ServerErrors.portNotAllowed });
    framed.socket.destroy();
  }
  // Silent until the deadline, three times: a network that went quiet, not an attempt.
  for (let i = 0; i < 3; i++) await dialAndRead(server.port);
  const tunnel = await rawTunnel(server.port);
  tunnel.framed.socket.destroy();
  assert.equal(logger.find('too many failed handshakes, refusing address').length, 0);

  await dialAndRead(server.port, 'not a frame\0');
  await dialAndRead(server.port, '{"Hel'); // part of a message, then nothing until the 300 ms deadline
  await logger.waitFor('too many failed handshakes, refusing address');
  const refused = (await dialAndRead(server.port, '{"Hello":0}\0')).toString();
  assert.equal(refused, `${JSON.stringify({ Error: ServerErrors.addressCoolingDown })}\0`, 'a Hello is refused during the cool-down');
  assert.equal(server.stats.tunnels, 0);
});

test('bad options are refused with a clear error', () => {
  assert.throws(() => new BoreServer({ minPort: 30000, maxPort: 20000 }), /empty port range/);
  assert.throws(() => new BoreServer({ clientTimeoutMs: 10 }), /clientTimeoutMs must be from 2000 to 2147483647 ms, got 10/);
  assert.throws(() => new BoreServer({ maxPendingPerTunnel: 0 }), /maxPendingPerTunnel must be a whole number of at least 1, got 0/);
  assert.throws(() => new BoreServer({ maxTunnelsPerAddr: -1 }), /maxTunnelsPerAddr must be a whole number of at least 0/);
  assert.throws(() => new BoreServer({ maxAuthFailures: 2.5 }), /maxAuthFailures must be a whole number of at least 0/);
  assert.throws(() => new BoreServer({ authFailureWindowMs: 0 }), /authFailureWindowMs must be above 0/);
});

test('the CLI server never prints its secret: not in --help, not in its logs, even at debug level', { timeout: 20_000 }, async () => {
  const secret = 'cli-secret-must-not-leak';
  const help = new BoreProcess(['server', '--help'], { BORE_SECRET: secret });
  assert.equal(await help.exited, 0);
  assert.match(help.output, /--secret/);
  assert.doesNotMatch(help.output, new RegExp(secret));

  const server = await startCliServer(['--min-port', String(RANGE.minPort), '--max-port', String(RANGE.maxPort), '--log-level', 'debug'], {
    BORE_SECRET: secret,
  });
  try {
    const good = await rawTunnel(server.controlPort, { secret });
    const bad = await rawConnect(server.controlPort);
    const ch = await bad.recv();
    if (ch?.type === 'Challenge') bad.send({ type: 'Authenticate', tag: new Authenticator(secret.toUpperCase()).answer(ch.id) });
    assert.deepEqual(await bad.recv(), { type: 'Error', message: ServerErrors.invalidSecret });
    good.framed.socket.destroy();
    await server.waitFor(/client disconnected/);
    assert.match(server.output, /refusing client/);
    assert.doesNotMatch(server.output, new RegExp(secret, 'i'));
  } finally {
    await server.stop();
  }
});
