/**
 * The session actor against a scripted server on loopback: the events it reports, what
 * it logs of the server's messages after the handshake (as the Rust client does), and
 * that stopping it closes the control connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { type EventObject, createActor, setup } from 'xstate';
import { ClientRuntime, type SessionEvent, sessionActor } from '../src/client/actors.js';
import { Authenticator } from '../src/protocol/auth.js';
import { ERROR_CLASSES } from '../src/client/errors.js';
import { FramedSocket } from '../src/protocol/framed-socket.js';
import { type ClientMessage, type ServerMessage, decodeClientMessage, serverMessageJson } from '../src/protocol/messages.js';
import { CaptureLogger } from './helpers/raw-peer.js';

type ServerSide = FramedSocket<ClientMessage, ServerMessage>;

/** A one-connection server on loopback that runs `script` on the connection it accepts. */
async function scriptedServer(script: (framed: ServerSide) => Promise<void>) {
  const done: Promise<void>[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    done.push(script(new FramedSocket(socket, decodeClientMessage, serverMessageJson)));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const close = () => {
    for (const socket of sockets) socket.destroy();
    return new Promise((r) => server.close(r));
  };
  return { port, done: () => Promise.all(done), close };
}

/** Runs the session actor under a parent that records what it reports. */
function runSession(port: number, runtime: ClientRuntime) {
  const events: SessionEvent[] = [];
  const waiters: { type: string; resolve: () => void }[] = [];
  const parent = setup({ actors: { session: sessionActor } }).createMachine({
    invoke: { id: 'session', src: 'session', input: { host: '127.0.0.1', port, requestedPort: 0, poolSize: 0, runtime } },
    on: {
      '*': {
        actions: ({ event }: { event: EventObject }) => {
          events.push(event as SessionEvent);
          for (const w of waiters.filter((x) => x.type === event.type)) w.resolve();
        },
      },
    },
  });
  const actor = createActor(parent).start();
  const next = (type: SessionEvent['type']) =>
    events.some((e) => e.type === type) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ type, resolve }));
  return { actor, events, next };
}

const ID = '518fa307-c86d-4b48-9356-20a0fa30e064';

test('reports the handshake and every message but a heartbeat within a second of the last (a Connection goes to the proxies); logs a server error and an unexpected hello or challenge', async (t) => {
  const server = await scriptedServer(async (framed) => {
    assert.deepEqual(await framed.recv(), { type: 'Hello', port: 0 });
    framed.send({ type: 'Hello', port: 20001 });
    framed.send({ type: 'Error', message: 'something broke' });
    framed.send({ type: 'Hello', port: 20002 }, { type: 'Challenge', id: ID }, { type: 'Heartbeat' }, { type: 'Connection', id: ID });
    framed.socket.end();
  });
  t.after(() => server.close());
  const logger = new CaptureLogger();
  const runtime = new ClientRuntime(logger, undefined);
  const served: string[] = [];
  runtime.serve = (id) => served.push(id);
  const session = runSession(server.port, runtime);
  await session.next('CONTROL.LOST');
  session.actor.stop();
  assert.deepEqual(served, [ID], 'a Connection goes straight to the proxies (the runtime), not to the machine');
  assert.deepEqual(session.events, [
    { type: 'CONNECTED' },
    { type: 'OPENED', port: 20001 },
    { type: 'SERVER.ERROR', message: 'something broke' },
    // The unexpected hello and challenge prove the server alive, each passed on; the plain
    // heartbeat right after them is not (at most one a second: HEARTBEAT_COALESCE_MS).
    { type: 'SERVER.HEARTBEAT' },
    { type: 'SERVER.HEARTBEAT' },
    { type: 'CONTROL.LOST', code: 'server-closed', message: 'server closed the connection' },
  ]);
  assert.deepEqual(
    logger.lines.map(({ level, message }) => [level, message]),
    [
      ['error', 'server error: something broke'],
      ['warn', 'unexpected hello'],
      ['warn', 'unexpected challenge'],
    ],
  );
  await server.done();
});

test('without TLS or a secret, Hello is written before the machine hears CONNECTED (its first transition runs while the server answers)', async (t) => {
  const server = await scriptedServer(async (framed) => {
    assert.deepEqual(await framed.recv(), { type: 'Hello', port: 0 });
    framed.send({ type: 'Hello', port: 20004 });
  });
  t.after(() => server.close());
  // What the machine had heard when the first bytes went to the server.
  let heardAtFirstWrite: string[] | undefined;
  const write = net.Socket.prototype.write;
  net.Socket.prototype.write = function (this: net.Socket, ...args: Parameters<net.Socket['write']>) {
    if (this.remotePort === server.port) heardAtFirstWrite ??= session.events.map((e) => e.type);
    return write.apply(this, args);
  } as net.Socket['write'];
  t.after(() => (net.Socket.prototype.write = write));
  const session = runSession(server.port, new ClientRuntime(new CaptureLogger(), undefined));
  await session.next('OPENED');
  session.actor.stop();
  assert.deepEqual(heardAtFirstWrite, []);
  assert.deepEqual(
    session.events.map((e) => e.type),
    ['CONNECTED', 'OPENED'],
  );
  await server.done();
});

test('with a secret: answers the challenge, says so, then asks for the port', async (t) => {
  const auth = new Authenticator('session-test-secret');
  const server = await scriptedServer(async (framed) => {
    framed.send({ type: 'Challenge', id: ID });
    const answer = await framed.recv();
    assert.ok(answer?.type === 'Authenticate' && auth.validate(ID, answer.tag), 'a valid answer');
    assert.deepEqual(await framed.recv(), { type: 'Hello', port: 0 });
    framed.send({ type: 'Hello', port: 20003 });
  });
  t.after(() => server.close());
  const session = runSession(server.port, new ClientRuntime(new CaptureLogger(), auth));
  await session.next('OPENED');
  session.actor.stop();
  assert.deepEqual(
    session.events.map((e) => e.type),
    ['CONNECTED', 'CHALLENGE.ANSWERED', 'OPENED'],
  );
  await server.done();
});

test('a refusal is one FAILED event, classified', async (t) => {
  const server = await scriptedServer(async (framed) => {
    await framed.recv();
    framed.send({ type: 'Error', message: 'port already in use' });
  });
  t.after(() => server.close());
  const session = runSession(server.port, new ClientRuntime(new CaptureLogger(), undefined));
  await session.next('FAILED');
  session.actor.stop();
  assert.deepEqual(session.events.at(-1), { type: 'FAILED', code: 'port-in-use', message: 'server error: port already in use' });
  await server.done();
});

test('stopping the session closes the control connection, and it reports nothing more', async (t) => {
  let closed!: () => void;
  const serverSawClose = new Promise<void>((r) => (closed = r));
  const server = await scriptedServer(async (framed) => {
    await framed.recv();
    framed.send({ type: 'Hello', port: 20004 });
    assert.equal(await framed.recv(0), undefined, 'EOF from the client');
    closed();
  });
  t.after(() => server.close());
  const session = runSession(server.port, new ClientRuntime(new CaptureLogger(), undefined));
  await session.next('OPENED');
  const count = session.events.length;
  session.actor.stop();
  await serverSawClose;
  await new Promise((r) => setImmediate(r));
  assert.equal(session.events.length, count, 'no CONTROL.LOST after the stop');
  await server.done();
});

test('a server that closes before its challenge is server-closed (retriable), said as such; and its cool-down refusal is retriable too', async (t) => {
  const auth = new Authenticator('session-test-secret');
  const server = await scriptedServer((framed) => {
    framed.socket.end();
    return Promise.resolve();
  });
  t.after(() => server.close());
  const session = runSession(server.port, new ClientRuntime(new CaptureLogger(), auth));
  await session.next('FAILED');
  session.actor.stop();
  assert.deepEqual(session.events.at(-1), {
    type: 'FAILED',
    code: 'server-closed',
    message: 'server closed the connection before its authentication challenge (it may be refusing this address after failed handshakes)',
  });
  assert.equal(ERROR_CLASSES['server-closed'], 'retriable');

  const coolingDown = await scriptedServer(async (framed) => {
    framed.send({ type: 'Challenge', id: ID });
    await framed.recv();
    await framed.recv();
    framed.send({ type: 'Error', message: 'too many failed handshakes from this address, try again later' });
  });
  t.after(() => coolingDown.close());
  const refused = runSession(coolingDown.port, new ClientRuntime(new CaptureLogger(), auth));
  await refused.next('FAILED');
  refused.actor.stop();
  assert.equal((refused.events.at(-1) as { code: string }).code, 'address-cooling-down');
  assert.equal(ERROR_CLASSES['address-cooling-down'], 'retriable');
});
