/**
 * The server's resource bounds and its reactions to a dying control connection, on
 * real loopback sockets: the 3 s whole-handshake deadline, the per-tunnel cap on
 * unclaimed connections, quiet refusal of unknown `Accept`s, no unauthenticated path
 * to a tunnel's connections, a public port freed the moment its client is gone, the
 * control sockets' keepalive and user timeout, and the per-address cap on tunnels. The
 * cap on failed handshakes is `server-auth-limits.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import { HANDSHAKE_TIMEOUT_MS, ServerErrors } from '../src/server/server.js';
import { Authenticator } from '../src/protocol/auth.js';
import { KEEPALIVE_INTERVAL_MS, KEEPALIVE_PROBES, tuneControlSocket } from '../src/net/socket-options.js';
import { CaptureLogger, closed, nextData, portIsFree, rawAccept, rawConnect, rawTunnel, readAll } from './helpers/raw-peer.js';
import { PendingConnections, PendingGroup } from '../src/server/pending.js';
import { connect } from './helpers/procs.js';
import { libraryServers } from './helpers/library-server.js';

const RANGE = { minPort: 22000, maxPort: 22199 };
const startServer = libraryServers(RANGE);

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
