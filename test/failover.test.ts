/**
 * Failover end to end (`bore local --to a,b`): two real servers on two loopback
 * addresses (127.0.0.1 and 127.0.0.2, each with --bind-addr and --bind-tunnels on its
 * own), the client as a child process; each step waits on a log line.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { BoreProcess, connect, roundTrip, startEchoServer } from './helpers/procs.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { freePort, startHeldSink } from './helpers/held-sink.js';

const echo = await startEchoServer();
after(() => echo.close());

/** `bore server` on `addr` only (control and public listeners); on `controlPort` if given. */
async function serverOn(addr: string, args: string[] = [], controlPort = 0) {
  const proc = new BoreProcess([
    'server',
    '--bind-addr',
    addr,
    '--bind-tunnels',
    addr,
    '--control-port',
    String(controlPort),
    '--min-port',
    '25000',
    '--max-port',
    '25999',
    ...args,
  ]);
  const m = await proc.waitFor(/server listening .*port=(\d+)/);
  return Object.assign(proc, { controlPort: Number(m[1]), addr });
}

/** `bore local` to the servers `to` (`host:port,...`); resolves once it listens on the first. */
async function clientTo(localPort: number, to: string, args: string[] = []) {
  const proc = new BoreProcess(['local', String(localPort), '--to', to, ...args]);
  const first = to.split(',')[0]!.split(':')[0]!.replace(/\./g, '\\.');
  const m = await proc.waitFor(new RegExp(`listening at ${first}:(\\d+)`));
  return Object.assign(proc, { publicPort: Number(m[1]) });
}

/** Writes `text` on an open connection and waits for its echo, leaving the connection open. */
async function echoesOpen(socket: Socket, text: string): Promise<void> {
  let got = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`connection closed, got '${got}'`)));
    socket.write(text);
  });
  assert.equal(got, text);
}

async function echoes(port: number, host: string, text: string): Promise<void> {
  const reply = await roundTrip(await connect(port, host), Buffer.from(text));
  assert.equal(reply.toString(), text);
}

test('the first server killed: the tunnel moves to the second and says so in one line', async () => {
  const a = await serverOn('127.0.0.1');
  const b = await serverOn('127.0.0.2');
  const client = await clientTo(echo.port, `127.0.0.1:${a.controlPort},127.0.0.2:${b.controlPort}`);
  try {
    await echoes(client.publicPort, '127.0.0.1', 'on a');
    const mark = client.output.length;
    await a.stop('SIGKILL');
    const m = await client.waitFor(/moved to 127\.0\.0\.2: listening at 127\.0\.0\.2:(\d+)/, 15_000, mark);
    await echoes(Number(m[1]), '127.0.0.2', 'on b');
    assert.match(client.output.slice(mark), /reconnecting to 127\.0\.0\.2:\d+ in/);
  } finally {
    await client.stop();
    await a.stop();
    await b.stop();
  }
});

test('a transfer in flight on the first server when its control connection is cut completes there after the move', async () => {
  const a = await serverOn('127.0.0.1');
  const b = await serverOn('127.0.0.2');
  // The client reaches a through a relay: cutting the relay's first connection cuts the
  // control connection and nothing else; then the relay refuses new connections (a
  // unreachable for the client), while the data connection it relays goes on.
  const relay = new FlakyProxy(a.controlPort);
  const relayPort = await relay.listen();
  const total = 16 * 1024 * 1024;
  const data = randomBytes(total);
  const sink = await startHeldSink(total);
  const client = await clientTo(sink.port, `127.0.0.1:${relayPort},127.0.0.2:${b.controlPort}`, ['--pool', '0']);
  try {
    const sender = await connect(client.publicPort, '127.0.0.1');
    sender.end(data);
    await sink.quarter;
    const mark = client.output.length;
    relay.stopAccepting();
    relay.cut(0);
    await client.waitFor(/moved to 127\.0\.0\.2: listening at 127\.0\.0\.2:\d+/, 15_000, mark);
    const atMove = sink.received;
    sink.release();
    const digest = await sink.finished;
    assert.ok(atMove < total, 'the transfer was still in flight at the move');
    assert.equal(digest, createHash('sha256').update(data).digest('hex'), 'every byte arrived, in order');
  } finally {
    await client.stop();
    await relay.close();
    sink.close();
    await a.stop();
    await b.stop();
  }
});

test('both servers refuse the secret: exit 3, one line naming both', async () => {
  const a = await serverOn('127.0.0.1', ['--secret', 'right']);
  const b = await serverOn('127.0.0.2', ['--secret', 'right']);
  const to = `127.0.0.1:${a.controlPort},127.0.0.2:${b.controlPort}`;
  const client = new BoreProcess(['local', String(echo.port), '--to', to, '--secret', 'wrong', '--retry-first']);
  try {
    assert.equal(await client.exited, 3, client.output);
    const line = client.output.split('\n').find((l) => l.includes('every server failed'));
    assert.ok(line, client.output);
    assert.match(
      line,
      new RegExp(`127\\.0\\.0\\.1:${a.controlPort}: .*invalid secret.*; 127\\.0\\.0\\.2:${b.controlPort}: .*invalid secret`),
    );
    assert.doesNotMatch(client.output, /wrong/, 'the secret is never printed');
  } finally {
    await client.stop();
    await a.stop();
    await b.stop();
  }
});

test('--prefer-first: back on the first server once it has answered for a while; a connection open on the second is not cut', async () => {
  const portA = await freePort();
  let a = await serverOn('127.0.0.1', [], portA);
  const b = await serverOn('127.0.0.2');
  const client = await clientTo(echo.port, `127.0.0.1:${portA},127.0.0.2:${b.controlPort}`, ['--prefer-first']);
  try {
    const mark = client.output.length;
    await a.stop('SIGKILL');
    const onB = await client.waitFor(/moved to 127\.0\.0\.2: listening at 127\.0\.0\.2:(\d+)/, 15_000, mark);
    const held = await connect(Number(onB[1]), '127.0.0.2');
    await echoesOpen(held, 'before');
    const back = client.output.length;
    a = await serverOn('127.0.0.1', [], portA);
    const m = await client.waitFor(/moved to 127\.0\.0\.1: listening at 127\.0\.0\.1:(\d+)/, 30_000, back);
    assert.equal(Number(m[1]), client.publicPort, 'the first server gives back the port it gave before');
    await echoes(client.publicPort, '127.0.0.1', 'back on a');
    await echoesOpen(held, 'after the move');
    assert.equal((await roundTrip(held, Buffer.from('and its end'))).toString(), 'and its end', 'the held connection lived on');
  } finally {
    await client.stop();
    await a.stop();
    await b.stop();
  }
});
