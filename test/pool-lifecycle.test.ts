/**
 * The client pool's lifecycle (`src/client/pool.ts`, its `phase`) with its I/O
 * injected: no network and no timers. Each pooled connection's opening and its
 * messages are settled by the test, and the phase and the counts are read after each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { ClientPool, MAX_FAILURE_STREAK, type PoolIo } from '../src/client/pool.js';
import type { ClientFramed } from '../src/client/handshake.js';
import type { ServerMessage } from '../src/protocol/messages.js';
import { CaptureLogger } from './helpers/raw-peer.js';

const TOKEN = '00000000-0000-4000-8000-0000000000cc';
const TARGET = { to: '127.0.0.1', controlPort: 1, localHost: '127.0.0.1', localPort: 1, auth: undefined };

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** One pooled connection as the test drives it: connect, then acknowledge (idle) or fail; then messages. */
class FakeConnection {
  readonly socket = new net.Socket();
  readonly #opened = deferred<ClientFramed>();
  readonly #track: (socket: net.Socket) => void;
  #next = deferred<ServerMessage | undefined>();
  readonly framed = {
    socket: this.socket,
    recv: () => this.#next.promise,
    detach: () => Buffer.alloc(0),
  } as unknown as ClientFramed;

  constructor(track: (socket: net.Socket) => void) {
    this.#track = track;
  }
  get promise(): Promise<ClientFramed> {
    return this.#opened.promise;
  }
  /** The TCP connect succeeded (throws, as `openPooled` would then, if the pool closed meanwhile). */
  connect(): this {
    try {
      this.#track(this.socket);
    } catch (err) {
      this.socket.destroy();
      this.#opened.reject(err as Error);
    }
    return this;
  }
  ack(): void {
    this.#opened.resolve(this.framed);
  }
  fail(reason = 'refused'): void {
    this.#opened.reject(new Error(reason));
  }
  /** The server sends `msg` on the idle connection (`undefined`: it closed). */
  send(msg: ServerMessage | undefined): void {
    const current = this.#next;
    this.#next = deferred();
    current.resolve(msg);
  }
}

/** Lets the pool's promise callbacks (and one `setImmediate`) run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function harness() {
  const log = new CaptureLogger();
  const conns: FakeConnection[] = [];
  const served = new Map<string, ReturnType<typeof deferred<void>>>();
  const replies = new Map<string, () => void>();
  const closed: { id: string; error?: string }[] = [];
  const io: PoolIo = {
    open: (_target, token, track) => {
      assert.equal(token, TOKEN);
      const c = new FakeConnection(track);
      conns.push(c);
      return c.promise;
    },
    proxy: (_remote, _head, _target, onSockets, onReply) => {
      const id = `id${served.size}`;
      const d = deferred<void>();
      served.set(id, d);
      if (onReply) replies.set(id, onReply);
      onSockets?.(new net.Socket(), new net.Socket());
      return d.promise;
    },
  };
  const pool = new ClientPool(
    TARGET,
    log,
    { opened: () => {}, closed: (id, error) => closed.push(error === undefined ? { id } : { id, error }), changed: () => {} },
    io,
  );
  const debug = (message: string) => log.lines.filter((l) => l.level === 'debug' && l.message === message).length;
  return { pool, conns, served, replies, closed, debug };
}

test('closed, filling, full: a pool opens its size and is ready once every connection is acknowledged', async () => {
  const { pool, conns, debug } = harness();
  assert.equal(pool.phase, 'closed');
  pool.open(TOKEN, 2);
  assert.equal(pool.phase, 'filling');
  assert.equal(conns.length, 2);
  assert.deepEqual([pool.stats.opening, pool.stats.idle, pool.sockets], [2, 0, 0]);
  conns.forEach((c) => c.connect());
  assert.equal(pool.sockets, 2);
  conns[0]!.ack();
  await settle();
  assert.equal(pool.phase, 'filling');
  assert.equal(debug('pool: ready'), 0);
  conns[1]!.ack();
  await settle();
  assert.equal(pool.phase, 'full');
  assert.deepEqual({ ...pool.stats }, { size: 2, idle: 2, opening: 0, inUse: 0, served: 0, refills: 0, fallbacks: 0, failures: 0 });
  assert.equal(debug('pool: ready'), 1);
  // A heartbeat on an idle connection changes nothing.
  conns[0]!.send({ type: 'Heartbeat' });
  await settle();
  assert.equal(pool.phase, 'full');
  assert.equal(conns.length, 2);
  pool.close();
  assert.equal(pool.phase, 'closed');
  assert.deepEqual([pool.stats.size, pool.stats.idle, pool.sockets], [0, 0, 0]);
  assert.ok(conns.every((c) => c.socket.destroyed));
});

test('filling to paused after repeated failures; a fallback resumes it', async () => {
  const { pool, conns, debug } = harness();
  pool.open(TOKEN, 1);
  for (let i = 0; i < MAX_FAILURE_STREAK; i++) {
    assert.equal(pool.phase, 'filling');
    assert.equal(conns.length, i + 1, 'one replacement per failure');
    conns[i]!.connect().fail();
    await settle();
  }
  assert.equal(pool.phase, 'paused');
  assert.equal(conns.length, MAX_FAILURE_STREAK, 'no connection opened once paused');
  assert.deepEqual(
    [pool.stats.failures, pool.stats.refills, pool.stats.opening, pool.sockets],
    [MAX_FAILURE_STREAK, MAX_FAILURE_STREAK - 1, 0, 0],
  );
  assert.equal(debug('pool: not refilled after repeated failures, new connections take the standard path'), 1);
  pool.fallback();
  assert.equal(pool.phase, 'filling');
  assert.equal(pool.stats.fallbacks, 1);
  assert.equal(conns.length, MAX_FAILURE_STREAK + 1);
  conns.at(-1)!.connect().ack();
  await settle();
  assert.equal(pool.phase, 'full');
  // A fallback while not paused is counted and opens nothing.
  pool.fallback();
  assert.deepEqual([pool.phase, pool.stats.fallbacks, conns.length], ['full', 2, MAX_FAILURE_STREAK + 1]);
});

test('an idle connection lost is a failure and is replaced; a heartbeat ends the streak', async () => {
  const { pool, conns } = harness();
  pool.open(TOKEN, 1);
  conns[0]!.connect().ack();
  await settle();
  conns[0]!.send(undefined);
  await settle();
  assert.deepEqual([pool.phase, pool.stats.failures, pool.stats.refills, conns.length], ['filling', 1, 1, 2]);
  conns[1]!.connect().ack();
  await settle();
  // The lasting connection proves the pool works: the streak starts over.
  conns[1]!.send({ type: 'Heartbeat' });
  await settle();
  for (let i = 2; i < MAX_FAILURE_STREAK + 1; i++) {
    conns[i - 1]!.send(undefined);
    await settle();
    assert.equal(pool.phase, 'filling', `after ${i} failures, one before the heartbeat`);
    conns[i]!.connect().ack();
    await settle();
  }
});

test('full, then a public connection: in use, served, refilled; in use outlives close', async () => {
  const { pool, conns, served, closed } = harness();
  pool.open(TOKEN, 1);
  conns[0]!.connect().ack();
  await settle();
  conns[0]!.send({ type: 'Connection', id: 'visitor' });
  await settle();
  assert.deepEqual([pool.stats.opening, conns.length], [0, 1], 'the replacement waits for the next turn (off the visitor path)');
  await settle();
  assert.deepEqual({ ...pool.stats }, { size: 1, idle: 0, opening: 1, inUse: 1, served: 1, refills: 1, fallbacks: 0, failures: 0 });
  assert.equal(pool.phase, 'filling');
  pool.close();
  assert.deepEqual([pool.phase, pool.stats.inUse, pool.stats.opening, conns[0]!.socket.destroyed], ['closed', 1, 0, false]);
  served.get('id0')!.resolve();
  await settle();
  assert.equal(pool.stats.inUse, 0);
  assert.deepEqual(closed, [{ id: 'visitor' }]);
});

test("with idle connections left, the replacement waits for the local service's first reply", async () => {
  const { pool, conns, served, replies } = harness();
  pool.open(TOKEN, 2);
  conns.forEach((c) => c.connect().ack());
  await settle();
  conns[0]!.send({ type: 'Connection', id: 'visitor' });
  await settle();
  await settle();
  assert.deepEqual(
    [pool.stats.idle, pool.stats.opening, pool.stats.refills, conns.length],
    [1, 0, 0, 2],
    'no handshake during the first exchange',
  );
  replies.get('id0')!();
  await settle();
  assert.deepEqual([pool.stats.opening, pool.stats.refills, conns.length], [1, 1, 3]);
  // The end of the connection asks for no second replacement.
  served.get('id0')!.resolve();
  await settle();
  await settle();
  assert.deepEqual([pool.stats.refills, conns.length], [1, 3]);
  pool.close();
});

test('a connection of a closed session is not pooled, even when a new session is open', async () => {
  const { pool, conns } = harness();
  pool.open(TOKEN, 1);
  const old = conns[0]!.connect();
  pool.close();
  assert.ok(old.socket.destroyed);
  pool.open(TOKEN, 1);
  old.ack();
  await settle();
  assert.deepEqual([pool.phase, pool.stats.idle, pool.stats.opening], ['filling', 0, 1]);
  // One connecting after its session closed is refused at once.
  pool.close();
  pool.open(TOKEN, 1);
  const late = conns[1]!.connect();
  assert.ok(late.socket.destroyed);
  await settle();
  assert.deepEqual([pool.stats.failures, pool.stats.opening], [0, 1]);
});
