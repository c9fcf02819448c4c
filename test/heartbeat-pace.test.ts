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
import { startClient, startEchoServer, startServer } from './helpers/procs.js';
import { ByteReader } from './helpers/replay.js';

const RANGE = ['--min-port', '29500', '--max-port', '29599'];

/** A raw peer speaking bore frames. */
function framesOf(socket: net.Socket) {
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
  return { reader, send, recv };
}

async function openRawTunnel(server: BoreServer) {
  const socket = net.connect(server.port, '127.0.0.1');
  await once(socket, 'connect');
  const control = framesOf(socket);
  control.send({ Hello: 0 });
  assert.ok(((await control.recv()) as { Hello: number }).Hello > 0);
  assert.equal(await control.recv(), 'Heartbeat');
  return { socket, ...control };
}

/** The gap between the next two heartbeats (after the one in flight), ms. */
async function heartbeatGap(control: Awaited<ReturnType<typeof openRawTunnel>>): Promise<number> {
  assert.equal(await control.recv(), 'Heartbeat');
  const from = performance.now();
  assert.equal(await control.recv(), 'Heartbeat');
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
  const a = await openRawTunnel(server);
  assert.ok((await heartbeatGap(a)) < 900, 'the Rust pace until asked');
  a.send({ HeartbeatInterval: 2000 });
  await a.recv(); // the beat already scheduled at the old pace
  const slow = await heartbeatGap(a);
  assert.ok(slow > 1800 && slow < 2600, `2 s asked, 2 s granted: ${slow.toFixed(0)} ms`);

  const b = await openRawTunnel(server);
  b.send({ HeartbeatInterval: 60_000 });
  await b.recv();
  const capped = await heartbeatGap(b);
  assert.ok(capped > 3300 && capped < 4100, `capped at a quarter of (15 s - 1 s slack): ${capped.toFixed(0)} ms`);

  // A client timeout of 3 s leaves 2 s: a quarter is below 500 ms, so nothing changes.
  const tight = await make(3000, 29510);
  const c = await openRawTunnel(tight);
  c.send({ HeartbeatInterval: 2000 });
  await c.recv();
  assert.ok((await heartbeatGap(c)) < 900, 'a tight client timeout keeps the 500 ms pace');

  const early = net.connect(server.port, '127.0.0.1');
  await once(early, 'connect');
  const e = framesOf(early);
  e.send({ HeartbeatInterval: 2000 });
  await e.reader.end();
  assert.equal(e.reader.buffered.length, 0, 'closed with no answer');
  for (const s of [a.socket, b.socket, c.socket]) s.destroy();
});

test('client: asks only a server that offered a pool; our server grants it', async (t) => {
  // A Rust-like server: Hello and heartbeats, never an offer. Everything the client sends is kept.
  const received: unknown[] = [];
  const rust = net.createServer((socket) => {
    const control = framesOf(socket);
    void (async () => {
      for (;;) {
        const msg = await control.recv().catch(() => undefined);
        if (msg === undefined) return;
        received.push(msg);
        if (typeof msg === 'object' && msg !== null && 'Hello' in msg) control.send({ Hello: 29520 });
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
  assert.deepEqual(received, [{ Hello: 0 }, { PoolRequest: 4 }], 'nothing past the pool request to a server that offered none');

  const server = await startServer([...RANGE, '--log-level', 'debug']);
  t.after(() => server.stop('SIGKILL'));
  const client = await startClient(echo.port, server.controlPort, ['--heartbeat-timeout', '12']);
  t.after(() => client.stop());
  await server.waitFor(/heartbeat interval .*requested=3000 granted=3000/);
});
