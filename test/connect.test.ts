/**
 * `connectTcp` on loopback, with and without a caller's signal: the error it gives for a
 * refused connect, its deadline, an abort, and what it leaves behind. A connect that
 * never completes is made by filling a stopped listener's accept queue (its count read
 * from /proc/net/tcp, no timing): the kernel then drops further SYNs, as a server behind
 * a firewall that drops them would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { connectTcp } from '../src/client/connect.js';
import { TunnelError } from '../src/client/errors.js';

const HOST = '127.0.0.1';

/** A port nothing listens on (a listener opened and closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer().listen(0, HOST);
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/**
 * Connections waiting in the accept queue of the listener on 127.0.0.1:`port`, from
 * /proc/net/tcp (a listening socket's rx_queue). Linux counts the queue full, and drops
 * SYNs, once it holds more than the backlog.
 */
function acceptQueue(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === '0A') return parseInt(fields[4]!.split(':')[1]!, 16);
  }
  throw new Error(`no listener on port ${port} in /proc/net/tcp`);
}

/** The backlog of {@link fullListener}'s listener. */
const BACKLOG = 1;

/** Why the tests that need a full accept queue cannot run here, if they cannot. */
const noQueueCount = existsSync('/proc/net/tcp') ? false : 'needs /proc/net/tcp (Linux) to see a full accept queue';

/**
 * A listener that never accepts, its accept queue full: a connect to it hangs. The
 * listener is a child process, stopped (SIGSTOP) once it listens: the kernel queues
 * connections for it until its backlog is full, then drops the SYNs.
 */
async function fullListener(): Promise<{ port: number; close: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `require('net').createServer().listen({ port: 0, host: '${HOST}', backlog: ${BACKLOG} }, function () { console.log(this.address().port); })`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  child.kill('SIGSTOP');
  // Stopped before the first connection, so it accepts none.
  while (/\) (\S)/.exec(readFileSync(`/proc/${child.pid}/stat`, 'utf8'))?.[1] !== 'T') await new Promise(setImmediate);
  const held: Socket[] = [];
  const close = () => {
    for (const s of held) s.destroy();
    child.kill('SIGKILL');
  };
  // Connections, each completed into the queue, until the kernel counts it full.
  for (let queued = acceptQueue(port); queued <= BACKLOG; queued = acceptQueue(port)) {
    if (held.length >= 64) {
      close();
      assert.fail('the accept queue never filled');
    }
    const socket = net.connect(port, HOST);
    socket.on('error', () => {});
    held.push(socket);
    await once(socket, 'connect');
    // The listener's side has it once the handshake's last ACK is in: the count goes up.
    while (acceptQueue(port) === queued) await new Promise(setImmediate);
  }
  return { port, close };
}

test('a refused connect names what it was connecting to, where, and why', async () => {
  const port = await closedPort();
  const err = await connectTcp({ host: HOST, port, peer: 'the local service' }).then(
    () => assert.fail('connected to a closed port'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TunnelError, `not a TunnelError: ${String(err)}`);
  assert.match(err.message, new RegExp(`^could not connect to the local service at 127\\.0\\.0\\.1:${port}: .*\\(ECONNREFUSED\\)$`));
  // The same through the path with a caller's signal.
  const withSignal = await connectTcp({ host: HOST, port, signal: new AbortController().signal }).then(
    () => assert.fail('connected to a closed port'),
    (e: unknown) => e as Error,
  );
  assert.match(withSignal.message, new RegExp(`^could not connect to the server at 127\\.0\\.0\\.1:${port}: .*\\(ECONNREFUSED\\)$`));
});

test(
  'a connect that hangs fails at its deadline, on both paths, and leaves no socket open',
  { skip: noQueueCount, timeout: 30_000 },
  async (t) => {
    const target = await fullListener();
    t.after(target.close);
    const sockets = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
    const before = sockets();
    for (const signal of [undefined, new AbortController().signal]) {
      const started = performance.now();
      const err = await connectTcp({ host: HOST, port: target.port, timeoutMs: 300, signal }).then(
        () => assert.fail('connected past a full accept queue'),
        (e: unknown) => e,
      );
      const took = performance.now() - started;
      assert.ok(err instanceof TunnelError && err.code === 'connect-timeout', `expected connect-timeout, got ${String(err)}`);
      assert.match(err.message, /timed out after 300 ms/);
      assert.ok(took >= 290, `failed after ${took.toFixed(0)} ms, before its deadline`);
    }
    // A destroyed socket's handle is closed in the loop's close phase: after the next check phase.
    for (let i = 0; i < 2; i++) await new Promise(setImmediate);
    assert.equal(sockets(), before, 'a timed-out connect left its socket open');
  },
);

test("a caller's abort ends a connect that hangs with the caller's reason", { skip: noQueueCount, timeout: 30_000 }, async (t) => {
  const target = await fullListener();
  t.after(target.close);
  const abort = new AbortController();
  const connecting = connectTcp({ host: HOST, port: target.port, timeoutMs: 0, signal: abort.signal });
  abort.abort(new Error('tunnel stopped'));
  await assert.rejects(connecting, /tunnel stopped/);
  await assert.rejects(connectTcp({ host: HOST, port: target.port, signal: abort.signal }), /tunnel stopped/);
});

test('a connect that succeeds resolves with an open, half-open-capable socket and no timer left behind', async (t) => {
  const server = net.createServer((s) => s.end('hi')).listen(0, HOST);
  await once(server, 'listening');
  t.after(() => server.close());
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const socket = await connectTcp({ host: HOST, port: (server.address() as net.AddressInfo).port, timeoutMs: 60_000 });
  assert.equal(socket.allowHalfOpen, true);
  assert.equal(socket.listenerCount('error'), 0, 'settle left its error listener on the socket');
  assert.equal(timers(), before, 'the connect deadline is still pending after the connect');
  const data = await once(socket, 'data');
  assert.equal(String(data[0]), 'hi');
  socket.destroy();
});
