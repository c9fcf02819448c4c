/**
 * The connection manager end to end, with real processes on loopback: server restarts,
 * a silently dead network, secrets, --no-reconnect, and a transfer in flight during a
 * control reconnect.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { freePort, sendAcrossControlCut, startHeldSink } from './helpers/held-sink.js';

const RANGE = ['--min-port', '24000', '--max-port', '24999'];
const echo = await startEchoServer();
after(() => echo.close());

async function echoes(port: number, text: string): Promise<void> {
  const reply = await roundTrip(await connect(port), Buffer.from(text));
  assert.equal(reply.toString(), text);
}

test('server killed and restarted: the client is back on the same port and carries data', async () => {
  const controlPort = await freePort();
  let server = await startServer([...RANGE, '--control-port', String(controlPort)]);
  const client = await startClient(echo.port, controlPort);
  try {
    await echoes(client.publicPort, 'before');
    const mark = client.output.length;
    await server.stop('SIGKILL');
    await client.waitFor(/connection lost: server closed the connection/, 5000, mark);
    server = await startServer([...RANGE, '--control-port', String(controlPort)]);
    await client.waitFor(/reconnected/, 10_000, mark);
    const m = await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/, 5000, mark);
    assert.equal(Number(m[1]), client.publicPort, 'same public port after the restart');
    await echoes(client.publicPort, 'after');
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('silent network death: loss detected by the heartbeat deadline, tunnel restored when the network returns', async () => {
  const server = await startServer(RANGE);
  const net1 = new FlakyProxy(server.controlPort);
  const proxyPort = await net1.listen();
  const client = await startClient(echo.port, proxyPort, ['--heartbeat-timeout', '1.5']);
  try {
    await echoes(client.publicPort, 'hello');
    const mark = client.output.length;
    net1.blackhole();
    await client.waitFor(/connection lost: heartbeat timeout/, 5000, mark);
    await client.waitFor(/reconnecting in/, 1000, mark);
    net1.restore();
    await client.waitFor(/reconnected/, 15_000, mark);
    const m = await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/, 5000, mark);
    assert.equal(Number(m[1]), client.publicPort, 'same public port once the dead session is reset');
    await echoes(client.publicPort, 'back again');
  } finally {
    await client.stop();
    await server.stop();
    await net1.close();
  }
});

test('outages that catch the warm pool mid-handshake, one after another, never get the address refused', async () => {
  const server = await startServer(RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const client = await startClient(echo.port, await relay.listen(), ['--heartbeat-timeout', '1.5']);
  try {
    // Each outage starts right after a reconnect, while the new session's pooled
    // connections are connecting and joining: their handshakes go silent, then reset.
    for (let i = 0; i < 4; i++) {
      const mark = client.output.length;
      relay.blackhole();
      await client.waitFor(/connection lost: heartbeat timeout/, 5000, mark);
      relay.restore();
      await client.waitFor(/reconnected/, 20_000, mark);
    }
    await echoes(client.publicPort, 'after four outages');
    assert.doesNotMatch(server.output, /too many failed handshakes/);
  } finally {
    await client.stop();
    await server.stop();
    await relay.close();
  }
});

test('wrong secret: exits at once with the fatal status, no retry', async () => {
  const server = await startServer([...RANGE, '--secret', 'right one']);
  try {
    const client = new BoreProcess([
      'local',
      String(echo.port),
      '--to',
      '127.0.0.1',
      '--control-port',
      String(server.controlPort),
      '--secret',
      'wrong one',
    ]);
    const code = await client.exited;
    assert.equal(code, 3);
    assert.match(client.output, /server error: invalid secret/);
    assert.doesNotMatch(client.output, /reconnecting in/);
    assert.doesNotMatch(client.output + server.output, /wrong one|right one/, 'secrets never printed');
    assert.equal(server.output.match(/refusing client/g)?.length, 1, 'one attempt only');
  } finally {
    await server.stop();
  }
});

test('secret changed on the server while connected: fatal exit at the next attempt', async () => {
  const controlPort = await freePort();
  let server = await startServer([...RANGE, '--control-port', String(controlPort)], { BORE_SECRET: 'first' });
  const client = await startClient(echo.port, controlPort, [], { BORE_SECRET: 'first' });
  try {
    await server.stop('SIGKILL');
    server = await startServer([...RANGE, '--control-port', String(controlPort)], { BORE_SECRET: 'second' });
    assert.equal(await client.exited, 3);
    assert.match(client.output, /connection lost/);
    assert.match(client.output, /server error: invalid secret/);
  } finally {
    await client.stop();
    await server.stop();
  }
});

test('--no-reconnect: a loss exits with status 4', async () => {
  const server = await startServer(RANGE);
  const client = await startClient(echo.port, server.controlPort, ['--no-reconnect']);
  await server.stop('SIGKILL');
  assert.equal(await client.exited, 4);
  assert.match(client.output, /reconnect disabled/);
});

test('first attempt against a server that is not there fails fast with status 4; --retry-first waits for it', async () => {
  const controlPort = await freePort();
  const fast = new BoreProcess(['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(controlPort)]);
  assert.equal(await fast.exited, 4);
  assert.match(fast.output, /ECONNREFUSED/);
  assert.match(fast.output, /--retry-first/);

  const patient = new BoreProcess([
    'local',
    String(echo.port),
    '--to',
    '127.0.0.1',
    '--control-port',
    String(controlPort),
    '--retry-first',
  ]);
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  try {
    await patient.waitFor(/reconnecting in/);
    server = await startServer([...RANGE, '--control-port', String(controlPort)]);
    const m = await patient.waitFor(/listening at 127\.0\.0\.1:(\d+)/, 10_000);
    await echoes(Number(m[1]), 'late server');
  } finally {
    assert.equal(await patient.stop('SIGINT'), 0, 'SIGINT is a clean stop');
    await server?.stop();
  }
});

test('a 32 MiB transfer in flight during a control reconnect arrives intact', async () => {
  const server = await startServer(RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const relayPort = await relay.listen();
  const total = 32 * 1024 * 1024;
  const data = randomBytes(total);
  const sink = await startHeldSink(total);
  const client = await startClient(sink.port, relayPort);
  try {
    const { receivedAtReconnect, digest } = await sendAcrossControlCut(client, client.publicPort, relay, sink, data);
    assert.ok(receivedAtReconnect < total, `transfer was still in flight at the reconnect (${receivedAtReconnect} of ${total})`);
    assert.equal(sink.received, total);
    assert.equal(digest, createHash('sha256').update(data).digest('hex'));
  } finally {
    await client.stop();
    await server.stop();
    await relay.close();
    sink.close();
  }
});

test('SIGTERM stops the client cleanly with status 0', async () => {
  const server = await startServer(RANGE);
  const client = await startClient(echo.port, server.controlPort);
  assert.equal(await client.stop('SIGTERM'), 0);
  assert.match(client.output, /stopped/);
  await server.stop();
});
