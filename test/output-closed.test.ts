/**
 * A reader of the CLI's output that goes away (`bore server 2>&1 | head`, a `tee` that is
 * restarted) costs the log lines, never the tunnels: the next write fails with EPIPE and
 * `outliveOutput` (`src/cli/process.ts`) keeps that from stopping the process. Before it,
 * the server exited with status 1 at its next log line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';

test('a server whose output pipe is closed runs on: it logs into the closed pipe, then serves a client', { timeout: 30_000 }, async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1']);
  t.after(() => server.stop());
  // The reader goes away: our ends of the child's stdout and stderr pipes are closed.
  server.proc.stdout!.destroy();
  server.proc.stderr!.destroy();

  // A line to log into the closed pipe: a connection that sends garbage is refused with a warning.
  const bad = net.connect(server.controlPort, '127.0.0.1');
  await once(bad, 'connect');
  bad.on('error', () => {});
  bad.end(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
  await once(bad, 'close');

  // The server still answers: a client gets a tunnel through it, and bytes cross it.
  const client = await startClient(echo.port, server.controlPort, ['--local-host', '127.0.0.1']);
  t.after(() => client.stop());
  const visitor = await connect(client.publicPort);
  assert.equal((await roundTrip(visitor, Buffer.from('still here'))).toString(), 'still here');
  visitor.destroy();
  assert.equal(server.proc.exitCode, null, 'the server is running');
  assert.equal(await server.stop(), 0, 'and stops cleanly on SIGTERM');
});
