/**
 * Visitors served during a cool-down attack (issue 18): a tunnel is up, then ten wrong
 * secrets from its own address (127.0.0.1: another user of the host, a NAT, a client
 * with a stale secret) start the server's cool-down, and visitors come at 5 a second
 * for `--seconds` (default 10), each a new connection echoing 1 KiB. Run for the pool
 * off and on. `BORE_CLI=<path of an older build's bore.mjs>` measures another build
 * with the same script (the before of a change).
 *
 * Usage: node --import tsx bench/cooldown.ts [--seconds 10] [--json]
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { Authenticator } from '../src/protocol/auth.js';
import { FramedSocket } from '../src/protocol/framed-socket.js';
import { clientMessageJson, decodeServerMessage } from '../src/protocol/messages.js';
import { connect, roundTrip, startClient, startEchoServer, startServer } from '../test/helpers/procs.js';

const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = secondsArg > 0 ? Number(process.argv[secondsArg + 1]) : 10;
const SECRET = 'cool-down-bench-secret';
const VISITORS_PER_SECOND = 5;

/** One wrong answer to the server's challenge, then whatever the server does. */
async function wrongSecret(port: number): Promise<void> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const framed = new FramedSocket(socket, decodeServerMessage, clientMessageJson);
  const ch = await framed.recv(3000).catch(() => undefined);
  if (ch?.type === 'Challenge') framed.send({ type: 'Authenticate', tag: new Authenticator('stale').answer(ch.id) });
  framed.send({ type: 'Hello', port: 0 });
  await framed.recv(3000).catch(() => undefined);
  socket.destroy();
}

/** One visitor: a new connection that echoes 1 KiB; true if it came back whole. */
async function visit(port: number): Promise<boolean> {
  const payload = randomBytes(1024);
  let socket: net.Socket | undefined;
  const timeout = new Promise<Buffer>((resolve) => setTimeout(() => resolve(Buffer.alloc(0)), 3000));
  try {
    socket = await connect(port);
    return (await Promise.race([roundTrip(socket, payload), timeout])).equals(payload);
  } catch {
    return false;
  } finally {
    socket?.destroy();
  }
}

/** Visitors served of those sent during the attack, with the pool of `pool` connections. */
async function measure(pool: number): Promise<{ pool: number; served: number; sent: number }> {
  const echo = await startEchoServer();
  const server = await startServer(['--min-port', '27400', '--max-port', '27499'], { BORE_SECRET: SECRET });
  const client = await startClient(echo.port, server.controlPort, ['--pool', String(pool)], { BORE_SECRET: SECRET });
  try {
    for (let i = 0; i < 10; i++) await wrongSecret(server.controlPort);
    await server.waitFor(/too many failed handshakes, refusing address/);
    const results: Promise<boolean>[] = [];
    const sent = SECONDS * VISITORS_PER_SECOND;
    for (let i = 0; i < sent; i++) {
      results.push(visit(client.publicPort));
      await new Promise((r) => setTimeout(r, 1000 / VISITORS_PER_SECOND));
    }
    const served = (await Promise.all(results)).filter(Boolean).length;
    return { pool, served, sent };
  } finally {
    await Promise.all([client.stop(), server.stop()]);
    await echo.close();
  }
}

const rows = [await measure(0), await measure(4)];
if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
else for (const r of rows) console.log(`pool ${r.pool}: ${r.served} of ${r.sent} visitors served during the cool-down`);
