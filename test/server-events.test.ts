/**
 * `BoreServer` as a typed `EventEmitter`: `tunnelOpened`, `connection`,
 * `connectionClosed` and `tunnelClosed` for a tunnel's life, driven by a hand-written
 * client on loopback; `error` for a failure of the control listener, logged always and
 * emitted only to a listener (so an unhandled one does not throw).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  BoreServer,
  type ConnectionClosedEvent,
  type ConnectionEvent,
  type ServerEvents,
  type TunnelClosedEvent,
  type TunnelOpenedEvent,
} from 'bore-ts';
import { CaptureLogger, nextData, portIsFree, rawAccept, rawTunnel, readAll } from './helpers/raw-peer.js';
import { connect } from './helpers/procs.js';

const RANGE = { minPort: 25700, maxPort: 25799 };
const servers: BoreServer[] = [];

after(async () => {
  await Promise.all(servers.map((s) => s.close(0)));
});

/** A server on loopback; with `captureControl`, also the `net.Server` of its control listener. */
async function startServer(captureControl = false) {
  const logger = new CaptureLogger();
  let control: net.Server | undefined;
  const createServer = net.createServer;
  if (captureControl) {
    net.createServer = ((...args: Parameters<typeof createServer>) => (control = createServer(...args))) as typeof createServer;
  }
  try {
    const server = new BoreServer({ ...RANGE, controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', logger });
    servers.push(server);
    await server.listen();
    return { server, logger, control };
  } finally {
    net.createServer = createServer;
  }
}

/** The next `event` of `server`, typed by its event map. */
async function next<K extends keyof ServerEvents>(server: BoreServer, event: K): Promise<ServerEvents[K][0]> {
  const [payload] = (await once(server, event)) as ServerEvents[K];
  return payload;
}

test('a tunnel life: tunnelOpened, connection, connectionClosed with bytes and duration, tunnelClosed with the port free', async () => {
  const { server } = await startServer();
  const seen: string[] = [];
  for (const name of ['tunnelOpened', 'tunnelClosed', 'connection', 'connectionClosed'] as const) server.on(name, () => seen.push(name));

  const opened = next(server, 'tunnelOpened');
  const tunnel = await rawTunnel(server.port);
  const control = tunnel.framed.socket;
  const peer = `127.0.0.1:${control.localPort}`; // read now: a closed socket forgets it
  assert.deepEqual<TunnelOpenedEvent>(await opened, { port: tunnel.port, peer });

  const visitor = await connect(tunnel.port);
  const visitorAddr = `127.0.0.1:${visitor.localPort}`;
  const id = await tunnel.nextConnection();
  const started = next(server, 'connection');
  const data = await rawAccept(server.port, id);
  assert.deepEqual<ConnectionEvent>(await started, { port: tunnel.port, visitor: visitorAddr, id });

  visitor.write('hello');
  assert.equal((await nextData(data)).toString(), 'hello');
  const ended = next(server, 'connectionClosed');
  data.end('world!!');
  assert.equal((await readAll(visitor)).toString(), 'world!!');
  const { durationMs, ...rest } = await ended;
  assert.deepEqual<Omit<ConnectionClosedEvent, 'durationMs'>>(rest, {
    port: tunnel.port,
    visitor: visitorAddr,
    id,
    bytesIn: 5,
    bytesOut: 7,
    ended: 'closed',
  });
  assert.ok(durationMs >= 0 && durationMs < 10_000, `durationMs ${durationMs}`);
  data.destroy();

  const closed = next(server, 'tunnelClosed');
  control.destroy();
  assert.deepEqual<TunnelClosedEvent>(await closed, {
    port: tunnel.port,
    peer,
    reason: 'closed by client',
  });
  assert.ok(await portIsFree(tunnel.port, '127.0.0.1'), 'the public port is free');
  assert.deepEqual(seen, ['tunnelOpened', 'connection', 'connectionClosed', 'tunnelClosed']);
});

test('close() ends every tunnel with tunnelClosed, reason server shutting down', async () => {
  const { server } = await startServer();
  const tunnels = [await rawTunnel(server.port), await rawTunnel(server.port)];
  const closed: TunnelClosedEvent[] = [];
  server.on('tunnelClosed', (e) => closed.push(e));
  await server.close(0);
  assert.deepEqual(closed.map((e) => [e.port, e.reason]).sort(), tunnels.map((t) => [t.port, 'server shutting down']).sort());
});

test('a control listener error is logged and emitted as error to a listener; the server keeps accepting', async () => {
  const { server, logger, control } = await startServer(true);
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE' });
  const errors: Error[] = [];
  server.on('error', (err) => errors.push(err));
  control!.emit('error', emfile);
  assert.deepEqual(errors, [emfile]);
  assert.deepEqual(
    logger.find('control listener error').map((l) => [l.level, l.meta]),
    [['error', { reason: 'accept EMFILE', code: 'EMFILE' }]],
  );
  const tunnel = await rawTunnel(server.port);
  tunnel.framed.socket.destroy();
});

test('with no error listener a control listener error is only logged: nothing throws, unlike a plain EventEmitter', async () => {
  const { server, logger, control } = await startServer(true);
  assert.equal(server.listenerCount('error'), 0);
  control!.emit('error', Object.assign(new Error('accept ENFILE'), { code: 'ENFILE' }));
  assert.equal(logger.find('control listener error').length, 1);
  assert.ok(server.listening);
});

/**
 * Run in a process of its own, where an uncaught exception can be watched: a
 * `tunnelOpened` listener throws, then a public connection is opened on the tunnel.
 */
const THROWING_LISTENER = `
import net from 'node:net';
import { BoreServer } from 'bore-ts';
const server = new BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', minPort: 25800, maxPort: 25899 });
server.on('tunnelOpened', () => { throw new Error('listener bug'); });
const control = net.connect({ port: await server.listen(), host: '127.0.0.1' });
let text = '';
let uncaught = false;
let dialed = false;
// Once both the exception and the Hello reply are in, a visitor dials the public port.
const dial = () => {
  const port = /"Hello":(\\d+)/.exec(text)?.[1];
  if (!uncaught || !port || dialed) return;
  dialed = true;
  net.connect({ port: Number(port), host: '127.0.0.1' });
};
control.on('data', (chunk) => {
  text += chunk;
  if (text.includes('"Connection"')) {
    console.log('announced a connection');
    process.exit(0);
  }
  dial();
});
control.write('{"Hello":0}\\0');
process.on('uncaughtException', (err) => {
  console.log('uncaught:', err.message, 'tunnels:', server.tunnelCount);
  uncaught = true;
  dial();
});
`;

test('a listener that throws surfaces as an uncaught exception and leaves the tunnel working', async () => {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', THROWING_LISTENER], {
    cwd: root,
    timeout: 10_000,
  });
  assert.equal(stdout, 'uncaught: listener bug tunnels: 1\nannounced a connection\n');
});

test('listeners are typed by the event map', () => {
  const server = new BoreServer();
  server.on('tunnelOpened', ({ port, peer }) => void [port.toFixed(), peer.toUpperCase()]);
  // @ts-expect-error -- no such event
  server.on('tunnelOpen', () => {});
  // @ts-expect-error -- the payload of tunnelClosed has no bytes
  server.on('tunnelClosed', ({ bytesIn }) => bytesIn);
});
