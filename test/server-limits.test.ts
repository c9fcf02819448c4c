/**
 * The server's resource bounds and its reactions to a dying control connection, on
 * real loopback sockets: the 3 s whole-handshake deadline, the per-tunnel cap on
 * unclaimed connections, quiet refusal of unknown `Accept`s, no unauthenticated path
 * to a tunnel's connections, a public port freed the moment its client is gone, and
 * the per-address caps on tunnels and failed handshakes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { BoreServer, HANDSHAKE_TIMEOUT_MS, ServerErrors } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { KEEPALIVE_INTERVAL_MS, KEEPALIVE_PROBES, tuneControlSocket } from '../src/net/socket-options.js';
import {
  CaptureLogger,
  type RawFramed,
  closed,
  nextData,
  portIsFree,
  rawAccept,
  rawAuthenticate,
  rawConnect,
  rawTunnel,
  readAll,
} from './helpers/raw-peer.js';
import { UNKNOWN_CLAIM_ALLOWANCE } from '../src/server/peer-limits.js';
import { PendingConnections, PendingGroup } from '../src/server/pending.js';
import { BoreProcess, connect, startServer as startCliServer } from './helpers/procs.js';
import { waitUntil } from './helpers/poll.js';

const RANGE = { minPort: 22000, maxPort: 22199 };
const servers: BoreServer[] = [];

async function startServer(opts: ConstructorParameters<typeof BoreServer>[0] = {}) {
  const logger = new CaptureLogger();
  const server = new BoreServer({ ...RANGE, controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', logger, ...opts });
  servers.push(server);
  await server.listen();
  return { server, logger };
}

after(async () => {
  await Promise.all(servers.map((s) => s.close(0)));
});

test('a handshake that takes longer than 3 s in total is cut at 3 s, even if each message is on time', async () => {
  const secret = 'limits-secret';
  const { server } = await startServer({ secret });
  const framed = await rawConnect(server.port);
  const start = Date.now();
  const challenge = await framed.recv();
  assert.equal(challenge?.type, 'Challenge');
  // Answer correctly but late (each message alone would meet a per-message 3 s deadline).
  setTimeout(() => {
    if (challenge?.type === 'Challenge') framed.send({ type: 'Authenticate', tag: new Authenticator(secret).answer(challenge.id) });
  }, 2000);
  framed.detach();
  await readAll(framed.socket);
  const elapsed = Date.now() - start;
  assert.ok(elapsed >= HANDSHAKE_TIMEOUT_MS - 100, `closed after ${elapsed} ms, not before the deadline`);
  assert.ok(elapsed < HANDSHAKE_TIMEOUT_MS + 1500, `closed after ${elapsed} ms: the deadline covers the whole handshake`);
  assert.equal(server.stats.handshaking, 0);
});

test('unclaimed public connections are capped per tunnel: at the cap the public listener pauses, nobody is dropped, and the visitors who waited in the backlog are served once the client claims', async () => {
  const { server, logger } = await startServer({ maxPendingPerTunnel: 3 });
  const tunnel = await rawTunnel(server.port);
  const publics: net.Socket[] = [];
  let ended = 0;
  for (let i = 0; i < 8; i++) {
    // The kernel completes every handshake, paused or not (the listen backlog).
    const s = await connect(tunnel.port);
    s.on('error', () => {});
    s.on('close', () => ended++);
    s.write(`visitor ${i}`);
    publics.push(s);
  }
  const first = [await tunnel.nextConnection(), await tunnel.nextConnection(), await tunnel.nextConnection()];
  await logger.waitFor('too many unclaimed connections: accepting paused until the client claims some');
  assert.equal(server.stats.pending, 3);
  // Claiming brings the tunnel under three quarters of its cap: it accepts again, the
  // backlog first, and pauses again at the cap; every visitor is served in the end.
  const served = new Set<string>();
  const queue = [...first];
  while (served.size < 8) {
    const id = queue.shift() ?? (await tunnel.nextConnection());
    const data = await rawAccept(server.port, id);
    served.add((await nextData(data)).toString());
    assert.ok(server.stats.pending <= 3, `${server.stats.pending} unclaimed connections, over the cap of 3`);
    data.destroy();
  }
  assert.deepEqual(
    [...served].sort(),
    publics.map((_, i) => `visitor ${i}`),
  );
  assert.equal(ended, 0, 'no visitor was cut');
  assert.deepEqual(logger.find('too many unclaimed connections, dropping the oldest'), []);
  for (const s of publics) s.destroy();
  tunnel.framed.socket.destroy();
});

test('where the public listener cannot pause, the cap drops the oldest unclaimed connection with a log line', async () => {
  const logger = new CaptureLogger();
  const pending = new PendingConnections({ maxPerTunnel: 2, expiryMs: 10_000 }, logger);
  const group = new PendingGroup();
  group.pause = () => false;
  const listener = net.createServer((s) => s.resume());
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  const sockets = await Promise.all([1, 2, 3].map(() => connect(port)));
  const ids = sockets.map((s) => pending.add(group, port, '127.0.0.1:1', s));
  assert.equal(pending.size, 2);
  assert.equal(pending.has(ids[0]!), false);
  assert.ok(sockets[0]!.destroyed, 'the oldest is closed');
  assert.deepEqual(
    logger.find('too many unclaimed connections, dropping the oldest').map((l) => l.meta.id),
    [ids[0]],
  );
  pending.dropGroup(group);
  listener.close();
});

test('an Accept for an unknown id is closed quietly, without an Error message, and the server carries on', async () => {
  const { server, logger } = await startServer();
  const sock = await rawAccept(server.port, randomUUID());
  assert.equal((await readAll(sock)).length, 0, 'nothing is sent back');
  assert.equal(logger.lines.filter((l) => l.level === 'warn' || l.level === 'error').length, 0);
  const tunnel = await rawTunnel(server.port);
  assert.ok(tunnel.port >= RANGE.minPort && tunnel.port <= RANGE.maxPort);
  tunnel.framed.socket.destroy();
});

test('with a secret, an unauthenticated or wrongly authenticated Accept never reaches the connection', async () => {
  const secret = 'only-the-owner-knows';
  const { server, logger } = await startServer({ secret });
  const tunnel = await rawTunnel(server.port, { secret });
  const pub = await connect(tunnel.port);
  const id = await tunnel.nextConnection();

  // Accept without authenticating: refused with the Rust error text.
  const noAuth = await rawConnect(server.port);
  assert.equal((await noAuth.recv())?.type, 'Challenge');
  noAuth.send({ type: 'Accept', id });
  assert.deepEqual(await noAuth.recv(), { type: 'Error', message: ServerErrors.secretRequired });
  // Accept after a wrong answer: refused too.
  const wrong = await rawConnect(server.port);
  const ch = await wrong.recv();
  assert.equal(ch?.type, 'Challenge');
  if (ch?.type === 'Challenge') wrong.send({ type: 'Authenticate', tag: new Authenticator('guess').answer(ch.id) });
  wrong.send({ type: 'Accept', id });
  assert.deepEqual(await wrong.recv(), { type: 'Error', message: ServerErrors.invalidSecret });
  await Promise.all([closed(noAuth.socket), closed(wrong.socket)]);

  // The connection is still waiting for its owner, who can claim it.
  assert.equal(server.stats.pending, 1);
  const data = await rawAccept(server.port, id, secret);
  pub.write('hello owner');
  const got = await nextData(data);
  assert.equal(got.toString(), 'hello owner');
  assert.ok(!logger.lines.some((l) => JSON.stringify(l).includes(secret)), 'the secret is never logged');
  pub.destroy();
  data.destroy();
  tunnel.framed.socket.destroy();
});

test('when the control connection closes, its public port is free and its unclaimed connections are closed at once', async () => {
  const { server, logger } = await startServer();
  const tunnel = await rawTunnel(server.port);
  const pub = await connect(tunnel.port);
  pub.on('error', () => {});
  pub.resume();
  await tunnel.nextConnection();
  assert.equal(await portIsFree(tunnel.port, '127.0.0.1'), false);
  tunnel.framed.socket.destroy();
  await logger.waitFor('client disconnected');
  await closed(pub);
  assert.equal(await portIsFree(tunnel.port, '127.0.0.1'), true, 'the public port can be bound again');
  assert.equal(server.stats.tunnels, 0);
  assert.equal(server.stats.pending, 0);
});

test('the server keeps reading after Hello, so a client half-close ends the tunnel', async () => {
  const { server, logger } = await startServer();
  const tunnel = await rawTunnel(server.port);
  tunnel.framed.detach();
  tunnel.framed.socket.resume();
  tunnel.framed.socket.end();
  await logger.waitFor('client disconnected');
  assert.equal(logger.find('client disconnected')[0]?.meta.reason, 'closed by client');
  await closed(tunnel.framed.socket);
  assert.equal(await portIsFree(tunnel.port, '127.0.0.1'), true);
});

test(
  'control sockets get keepalive 10 s x 3 probes and a TCP_USER_TIMEOUT (Linux)',
  { skip: process.platform !== 'linux' && 'TCP_USER_TIMEOUT is Linux-only' },
  async () => {
    const { getKeepAliveInterval, getKeepAliveProbes, getUserTimeout } = await import('net-keepalive');
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const [client, [accepted]] = await Promise.all([
      connect((listener.address() as net.AddressInfo).port),
      once(listener, 'connection') as Promise<[net.Socket]>,
    ]);
    const logger = new CaptureLogger();
    const result = tuneControlSocket(accepted, logger, 14_500);
    assert.deepEqual(result, { keepaliveProbes: true, userTimeout: true });
    assert.equal(getKeepAliveInterval(accepted), KEEPALIVE_INTERVAL_MS);
    assert.equal(getKeepAliveProbes(accepted), KEEPALIVE_PROBES);
    assert.equal(getUserTimeout(accepted), 14_500);
    client.destroy();
    accepted.destroy();
    listener.close();
  },
);

test('one address gets at most maxTunnelsPerAddr tunnels: the next Hello gets an Error and a warn line, and a slot frees when a tunnel closes', async () => {
  const { server, logger } = await startServer({ maxTunnelsPerAddr: 3 });
  const tunnels = [await rawTunnel(server.port), await rawTunnel(server.port), await rawTunnel(server.port)];
  const extra = await rawConnect(server.port);
  extra.send({ type: 'Hello', port: 0 });
  assert.deepEqual(await extra.recv(), { type: 'Error', message: ServerErrors.tooManyTunnels });
  extra.socket.destroy();
  const refusals = logger.find('refusing client');
  assert.equal(refusals.length, 1);
  assert.equal(refusals[0]!.meta.reason, 'too many tunnels from this address (limit 3)');
  assert.equal(server.stats.tunnels, 3);

  // Data connections are not tunnels: at the cap, a public connection is still claimed.
  const pub = await connect(tunnels[1]!.port);
  const data = await rawAccept(server.port, await tunnels[1]!.nextConnection());
  pub.write('still served');
  assert.equal((await nextData(data)).toString(), 'still served');
  pub.destroy();
  data.destroy();

  tunnels[0]!.framed.socket.destroy();
  await logger.waitFor('client disconnected');
  tunnels.push(await rawTunnel(server.port));
  assert.equal(server.stats.tunnels, 3);
  for (const t of tunnels) t.framed.socket.destroy();
});

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

  const server = await startCliServer(['--min-port', '22000', '--max-port', '22199', '--log-level', 'debug'], { BORE_SECRET: secret });
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
