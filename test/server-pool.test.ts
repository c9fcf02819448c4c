/**
 * The server's pool of one tunnel (`src/server/pool.ts`) with real loopback sockets: an
 * added connection is acknowledged, idle ones get the control connections' socket
 * options at their first pool heartbeat and lose them when handed a visitor, anything
 * sent on an idle one closes it, and closing the pool closes the idle ones.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { POOL_HEARTBEAT_MS, TunnelPool } from '../src/server/pool.js';
import { clearControlTuning, tuneControlSocket } from '../src/net/socket-options.js';
import { silentLogger } from '../src/log/logger.js';
import { ByteReader } from './helpers/replay.js';

/** A connected pair on loopback: the server's side and the client's. */
async function pair(listener: net.Server): Promise<{ server: net.Socket; client: net.Socket; reader: ByteReader }> {
  const accepted = once(listener, 'connection') as Promise<[net.Socket]>;
  const client = net.connect((listener.address() as net.AddressInfo).port, '127.0.0.1');
  const [server] = await accepted;
  return { server, client, reader: new ByteReader(client) };
}

test('idle pooled connections: acknowledged, tuned at their first heartbeat, untuned when handed out, closed with the pool', async (t) => {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.after(() => listener.close());
  const applied: net.Socket[] = [];
  const cleared: net.Socket[] = [];
  const pool = new TunnelPool(2, { apply: (s) => applied.push(s), clear: (s) => cleared.push(s) });
  assert.match(pool.token, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, 'a random (v4) UUID');

  const a = await pair(listener);
  const b = await pair(listener);
  const c = await pair(listener);
  assert.equal(pool.add(a.server, true), true);
  assert.equal(pool.add(b.server, true), true);
  assert.equal(pool.add(c.server, true), false, 'no more than the size offered');
  assert.equal((await a.reader.read(12)).toString(), '"Heartbeat"\0', 'the join is acknowledged');
  assert.equal(pool.idle, 2);

  for (let ms = 500; ms < POOL_HEARTBEAT_MS; ms += 500) pool.beat(500);
  assert.equal(applied.length, 0, 'not before the first pool heartbeat');
  pool.beat(500);
  assert.deepEqual(new Set(applied), new Set([a.server, b.server]));
  assert.equal((await a.reader.read(12)).toString(), '"Heartbeat"\0');

  const taken = pool.take();
  assert.equal(taken, b.server, 'the newest first');
  assert.deepEqual(cleared, [b.server], 'a data connection like any other once it carries a visitor');
  assert.equal(pool.idle, 1);

  // Anything sent on an idle connection closes it.
  a.client.write('x');
  await once(a.server, 'close');
  assert.equal(pool.idle, 0);
  assert.equal(pool.take(), undefined);

  const d = await pair(listener);
  assert.equal(pool.add(d.server, true), true);
  pool.close();
  await once(d.server, 'close');
  assert.equal(pool.add(c.server, true), false, 'a closed pool takes nothing');
  for (const p of [a, b, c, d]) p.client.destroy();
  c.server.destroy();
});

test('clearControlTuning undoes tuneControlSocket: no TCP_USER_TIMEOUT left on a data connection (Linux)', async (t) => {
  if (process.platform !== 'linux') return t.skip('TCP_USER_TIMEOUT is Linux only');
  const { getUserTimeout } = await import('net-keepalive');
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.after(() => listener.close());
  const { server, client } = await pair(listener);
  t.after(() => {
    server.destroy();
    client.destroy();
  });
  tuneControlSocket(server, silentLogger, 14_000);
  assert.equal(getUserTimeout(server), 14_000);
  clearControlTuning(server, silentLogger);
  assert.equal(getUserTimeout(server), 0);
});
