/**
 * The heartbeat extension between our client and our server: a client that was offered
 * a pool asks for a slower pace (`HeartbeatInterval`, a quarter of its heartbeat
 * timeout); the server grants it within what its own dead-client bound allows. A Rust
 * peer never sees it: a server that offers no pool is never asked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { BoreServer } from '../src/server/server.js';
import { heartbeatIntervalFor } from '../src/client/actors.js';
import { FramedSocket } from '../src/protocol/framed-socket.js';
import { type ClientMessage, type ServerMessage, decodeClientMessage, serverMessageJson } from '../src/protocol/messages.js';
import { startClient, startEchoServer, startServer } from './helpers/procs.js';
import { type RawFramed, rawConnect, rawTunnel } from './helpers/raw-peer.js';

const RANGE = ['--min-port', '29500', '--max-port', '29599'];

/** The gap between the next two heartbeats, ms. */
async function heartbeatGap(control: RawFramed): Promise<number> {
  assert.equal((await control.recv(10_000))?.type, 'Heartbeat');
  const from = performance.now();
  assert.equal((await control.recv(10_000))?.type, 'Heartbeat');
  return performance.now() - from;
}

test('a quarter of the heartbeat timeout is asked for', () => {
  assert.equal(heartbeatIntervalFor(8000), 2000);
  assert.equal(heartbeatIntervalFor(1000), 250);
});

test('server: HeartbeatInterval slows the heartbeats, capped by the client timeout; before Hello it is a protocol error', async (t) => {
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
  const a = (await rawTunnel(server.port)).framed;
  assert.ok((await heartbeatGap(a)) < 900, 'the Rust pace until asked');
  a.send({ type: 'HeartbeatInterval', ms: 2000 });
  await a.recv(); // the beat already scheduled at the old pace
  const slow = await heartbeatGap(a);
  assert.ok(slow > 1800 && slow < 2600, `2 s asked, 2 s granted: ${slow.toFixed(0)} ms`);

  const b = (await rawTunnel(server.port)).framed;
  b.send({ type: 'HeartbeatInterval', ms: 60_000 });
  await b.recv(10_000);
  const capped = await heartbeatGap(b);
  assert.ok(capped > 3300 && capped < 4100, `capped at a quarter of (15 s - 1 s slack): ${capped.toFixed(0)} ms`);

  // A client timeout of 3 s leaves 2 s: a quarter is below 500 ms, so nothing changes.
  const tight = await make(3000, 29510);
  const c = (await rawTunnel(tight.port)).framed;
  c.send({ type: 'HeartbeatInterval', ms: 2000 });
  await c.recv();
  assert.ok((await heartbeatGap(c)) < 900, 'a tight client timeout keeps the 500 ms pace');

  const early = await rawConnect(server.port);
  early.send({ type: 'HeartbeatInterval', ms: 2000 });
  assert.equal(await early.recv(), undefined, 'closed with no answer');
  for (const f of [a, b, c, early]) f.socket.destroy();
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
