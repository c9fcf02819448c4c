/**
 * The heartbeat extension between our client and our server: a client that was offered
 * a pool asks for a slower pace (`HeartbeatInterval`, a quarter of its heartbeat
 * timeout); the server grants it within what its own dead-client bound allows. A Rust
 * peer never sees it: a server that offers no pool is never asked.
 */
import { type TestContext, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { BoreServer } from '../src/server/server.js';
import { heartbeatGrant } from '../src/server/sessions.js';
import { HEARTBEAT_INTERVAL_MS } from '../src/protocol/constants.js';
import { heartbeatIntervalFor } from '../src/client/actors.js';
import { FramedSocket } from '../src/protocol/framed-socket.js';
import { type ClientMessage, type ServerMessage, decodeClientMessage, serverMessageJson } from '../src/protocol/messages.js';
import { startClient, startEchoServer, startServer } from './helpers/procs.js';
import { type RawFramed, rawConnect, rawTunnel } from './helpers/raw-peer.js';

const RANGE = ['--min-port', '29500', '--max-port', '29599'];

test('a quarter of the heartbeat timeout is asked for', () => {
  assert.equal(heartbeatIntervalFor(8000), 2000);
  assert.equal(heartbeatIntervalFor(1000), 250);
});

test('the grant: up to a quarter of the client timeout less its slack, paid for out of TCP_USER_TIMEOUT', () => {
  assert.deepEqual(heartbeatGrant(2000, 15_000), { grantedMs: 2000, userTimeoutMs: 12_500 });
  assert.deepEqual(heartbeatGrant(60_000, 15_000), { grantedMs: 3500, userTimeoutMs: 11_000 }, 'capped');
  assert.deepEqual(heartbeatGrant(100, 15_000), { grantedMs: 500 }, 'never faster than the protocol');
  assert.deepEqual(heartbeatGrant(2000, 3000), { grantedMs: 500 }, 'a tight client timeout keeps the 500 ms pace');
  // The whole bound stays within the client timeout: the wait for the first beat plus TCP_USER_TIMEOUT.
  for (const [asked, timeout] of [
    [2000, 15_000],
    [60_000, 15_000],
    [4000, 30_000],
  ] as const) {
    const { grantedMs, userTimeoutMs } = heartbeatGrant(asked, timeout);
    assert.ok(grantedMs + userTimeoutMs! <= timeout - HEARTBEAT_INTERVAL_MS, `${asked} ms asked of ${timeout} ms`);
  }
});

/**
 * The heartbeats the server sends over `ms` of its (mocked) interval timers after the
 * tunnel's pace was set: the client half-closes, which ends the tunnel, and counts what
 * came before the EOF.
 */
async function heartbeatsOver(t: TestContext, control: RawFramed, ms: number): Promise<number> {
  for (let at = 0; at < ms; at += 250) {
    t.mock.timers.tick(250);
    // Let each beat's write leave before the next (a beat is skipped while one is queued).
    await new Promise((resolve) => setImmediate(resolve));
  }
  control.socket.end();
  let beats = 0;
  for (let msg = await control.recv(); msg !== undefined; msg = await control.recv()) if (msg.type === 'Heartbeat') beats++;
  return beats;
}

/** A raw tunnel that asked for `ms` between heartbeats, once the server has acted on it (its pool offer follows). */
async function pacedTunnel(server: BoreServer, ms: number): Promise<RawFramed> {
  const { framed } = await rawTunnel(server.port);
  assert.equal((await framed.recv())?.type, 'Heartbeat', 'the first beat, at Hello');
  framed.send({ type: 'HeartbeatInterval', ms }, { type: 'PoolRequest', size: 1 });
  assert.equal((await framed.recv())?.type, 'PoolOffer');
  return framed;
}

test('server: HeartbeatInterval sets the pace, capped by the client timeout; before Hello it is a protocol error', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const make = async (clientTimeoutMs: number, minPort: number) => {
    const server = new BoreServer({
      controlPort: 0,
      bindAddr: '127.0.0.1',
      bindTunnels: '127.0.0.1',
      minPort,
      maxPort: minPort + 9,
      clientTimeoutMs,
    });
    await server.listen();
    t.after(() => server.close(0));
    return server;
  };
  const server = await make(15_000, 29500);
  assert.equal(await heartbeatsOver(t, await pacedTunnel(server, 500), 7000), 14, 'the protocol pace: 14 in 7 s');
  assert.equal(await heartbeatsOver(t, await pacedTunnel(server, 2000), 7000), 3, '2 s asked, 2 s granted');
  assert.equal(await heartbeatsOver(t, await pacedTunnel(server, 60_000), 7000), 2, 'capped at 3.5 s');
  const tight = await make(3000, 29510);
  assert.equal(await heartbeatsOver(t, await pacedTunnel(tight, 2000), 7000), 14, 'a tight client timeout keeps 500 ms');

  const early = await rawConnect(server.port);
  early.send({ type: 'HeartbeatInterval', ms: 2000 });
  assert.equal(await early.recv(), undefined, 'closed with no answer');
  early.socket.destroy();
});

test('client: asks only a server that offered a pool; our server grants it', async (t) => {
  // A Rust-like server: Hello and heartbeats, never an offer. Everything the client sends is kept.
  const received: ClientMessage[] = [];
  const rust = net.createServer((socket) => {
    const control = new FramedSocket<ClientMessage, ServerMessage>(socket, decodeClientMessage, serverMessageJson);
    void (async () => {
      for (;;) {
        const msg = await control.recv().catch(() => undefined);
        if (msg === undefined) return;
        received.push(msg);
        if (msg.type === 'Hello') control.send({ type: 'Hello', port: 29520 });
      }
    })();
  });
  rust.listen(0, '127.0.0.1');
  await once(rust, 'listening');
  const echo = await startEchoServer();
  t.after(async () => {
    rust.close();
    await echo.close();
  });
  const rustPort = (rust.address() as net.AddressInfo).port;
  const quiet = await startClient(echo.port, rustPort, ['--log-level', 'debug']);
  t.after(() => quiet.stop());
  await quiet.waitFor(/the server offered no connection pool/);
  assert.deepEqual(
    received,
    [
      { type: 'Hello', port: 0 },
      { type: 'PoolRequest', size: 4 },
    ],
    'nothing past the pool request to a server that offered none',
  );

  const server = await startServer([...RANGE, '--log-level', 'debug']);
  t.after(() => server.stop('SIGKILL'));
  const client = await startClient(echo.port, server.controlPort, ['--heartbeat-timeout', '12']);
  t.after(() => client.stop());
  await server.waitFor(/heartbeat interval .*requested=3000 granted=3000/);
});
