/**
 * Graceful shutdown of the real CLI server: on SIGTERM it stops accepting (control and
 * public ports), lets an in-flight transfer finish intact within `--drain-timeout`, and
 * exits 0; a connection that outlives the drain is cut and the server still exits 0.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { type BoreProcess, connect, sha256, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { closed } from './helpers/raw-peer.js';

const RANGE = ['--min-port', '22400', '--max-port', '22599'];
const cleanup: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

/** A local service that sends `payload` in 64 KiB pieces, one every `everyMs`, then ends. */
async function startSlowSource(payload: Buffer, everyMs: number) {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    let at = 0;
    const timer = setInterval(() => {
      s.write(payload.subarray(at, at + 65536));
      at += 65536;
      if (at >= payload.length) {
        clearInterval(timer);
        s.end();
      }
    }, everyMs);
    s.on('close', () => clearInterval(timer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (server.address() as net.AddressInfo).port;
}

/** Whether a TCP connection to `port` is refused. */
async function refused(port: number): Promise<boolean> {
  const s = net.connect({ port, host: '127.0.0.1' });
  try {
    await once(s, 'connect');
    s.destroy();
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}

async function tunnel(localPort: number, serverArgs: string[]) {
  const server = await startServer([...RANGE, ...serverArgs]);
  const client = await startClient(localPort, server.controlPort);
  cleanup.push(
    () => server.stop('SIGKILL'),
    () => client.stop('SIGKILL'),
  );
  return { server, client };
}

test('SIGTERM: no new connections, the in-flight transfer completes intact, exit 0', { timeout: 30_000 }, async () => {
  const payload = randomBytes(4 * 1024 * 1024);
  const source = await startSlowSource(payload, 20); // about 1.3 s of transfer
  const { server, client } = await tunnel(source, ['--drain-timeout', '10']);

  const pub = await connect(client.publicPort);
  const chunks: Buffer[] = [];
  pub.on('data', (c: Buffer) => chunks.push(c));
  const ended = once(pub, 'end');
  await once(pub, 'data');
  const signalledAt = Date.now();
  server.proc.kill('SIGTERM');
  await server.waitFor(/draining connections count=1/);

  assert.ok(await refused(server.controlPort), 'the control port no longer accepts');
  assert.ok(await refused(client.publicPort), 'the public port no longer accepts');
  await ended;
  pub.end(); // our half-close completes the connection, as any client would
  assert.equal(sha256(Buffer.concat(chunks)), sha256(payload), 'all 4 MiB arrived intact');
  assert.equal(await (server as BoreProcess).exited, 0);
  const took = Date.now() - signalledAt;
  assert.ok(took < 10_000, `exited once the transfer was done (${took} ms), not at the drain deadline`);
  assert.doesNotMatch(server.output, /drain timed out/);
});

test('SIGTERM: a connection that outlives --drain-timeout is closed and the server still exits 0', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  cleanup.push(() => echo.close());
  const { server, client } = await tunnel(echo.port, ['--drain-timeout', '1']);
  const pub = await connect(client.publicPort);
  pub.on('error', () => {});
  pub.write('ping');
  await once(pub, 'data');
  server.proc.kill('SIGTERM');
  await server.waitFor(/draining connections count=1/);
  assert.equal(await server.exited, 0);
  assert.match(server.output, /drain timed out, closing connections count=1/);
  await closed(pub);
});
