/**
 * Signals to the real CLI (child processes, loopback): SIGTERM's drain line counts
 * connections; SIGHUP, even the moment the process has a handler (long before its
 * first log line), never kills: `bore up` applies the reload once its tunnels run,
 * `bore local` and `bore server` log that there is nothing to reload and keep serving.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, startClient, startEchoServer, startServer } from './helpers/procs.js';

/** This file's public port range. */
const RANGE = ['--min-port', '29100', '--max-port', '29199'];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function server(args: string[] = []) {
  const s = await startServer([...RANGE, ...args]);
  cleanups.push(() => s.stop());
  return s;
}

async function echo() {
  const e = await startEchoServer();
  cleanups.push(() => e.close());
  return e;
}

test('SIGTERM with one visitor connection open: the drain line counts one connection', { timeout: 30_000 }, async () => {
  const s = await server();
  const e = await echo();
  const c = await startClient(e.port, s.controlPort, ['--drain-timeout', '30']);
  cleanups.push(() => c.stop('SIGKILL'));
  const visitor = await connect(c.publicPort);
  cleanups.push(() => Promise.resolve(visitor.destroy()));
  // Through to the local service and back: the connection is proxied.
  visitor.write('ping');
  await new Promise((r) => visitor.once('data', r));
  c.proc.kill('SIGTERM');
  const [, count] = await c.waitFor(/draining connections count=(\d+)/);
  assert.equal(count, '1', c.output);
  visitor.end();
  assert.equal(await c.exited, 0, c.output);
});
