/**
 * `joinStream`: sockets joined to multiplexed streams, as the server joins visitors and
 * the client its local service, on loopback. Its bytes move from reused read buffers
 * (`src/net/mux-join.ts`, `readIntoFreshWhenHeld`): these tests fail if a buffer is read
 * into while a frame or a slow socket still holds its bytes (the bytes that arrive are
 * then not those sent), and check what each side gets byte for byte, with readers that
 * stop and go so that credit runs out and writes queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { MuxSession, type MuxStream } from '../src/net/mux.js';
import { joinStream } from '../src/net/mux-join.js';

const HOST = '127.0.0.1';

/** A connected pair of loopback sockets (half-open allowed): `[accepted, connected]`. */
async function socketPair(): Promise<[Socket, Socket]> {
  const listener = net.createServer({ allowHalfOpen: true }).listen(0, HOST);
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const connected = net.connect({ port: (listener.address() as net.AddressInfo).port, host: HOST, allowHalfOpen: true });
  const [socket] = (await accepted) as [Socket];
  await once(connected, 'connect');
  listener.close();
  return [socket, connected];
}

/**
 * The sha256 of everything `socket` reads until its end, pausing 2 ms every 7 chunks
 * when `slow`. Read with events: a `for await` loop would destroy the socket at its end,
 * cutting the writes still going the other way.
 */
function digestOf(socket: Socket, slow: boolean): Promise<{ bytes: number; hash: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  let n = 0;
  socket.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    bytes += chunk.length;
    if (slow && ++n % 7 === 0) {
      socket.pause();
      setTimeout(() => socket.resume(), 2);
    }
  });
  return once(socket, 'end').then(() => ({ bytes, hash: hash.digest('hex') }));
}

/** Writes `body` to `socket` in pieces of varied size, respecting backpressure, then half-closes it. */
async function writeAll(socket: Socket, body: Buffer): Promise<void> {
  for (let at = 0, step = 1; at < body.length; step = (step * 7 + 13) % 200_000) {
    const piece = body.subarray(at, at + 1 + step);
    at += piece.length;
    if (!socket.write(piece)) await once(socket, 'drain');
  }
  socket.end();
  await once(socket, 'finish');
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('streams joined to sockets on both ends carry bytes both ways intact, with slow readers, credit waits and half-closes', async (t) => {
  const [serverMux, clientMux] = await socketPair();
  t.after(() => (serverMux.destroy(), clientMux.destroy()));
  // The client's end: each stream joined to a "local service" socket whose far end reads slowly on odd streams.
  const services: Promise<{ id: number; got: { bytes: number; hash: string }; sentHash: string }>[] = [];
  const sizes = [1, 70_000, 600_000, 3_000_000, 5_000_000, 9_000_000];
  let ready!: () => void;
  const acknowledged = new Promise<void>((r) => (ready = r));
  const client = new MuxSession(clientMux, {
    onReady: ready,
    onStream: (stream: MuxStream) => {
      services.push(
        (async () => {
          const [local, service] = await socketPair();
          joinStream(local, stream);
          const size = sizes[(stream.id - 1) % sizes.length]!;
          const reply = randomBytes(size);
          const [got] = await Promise.all([digestOf(service, stream.id % 2 === 1), writeAll(service, reply)]);
          return { id: stream.id, got, sentHash: sha(reply) };
        })(),
      );
    },
  });
  const server = new MuxSession(serverMux);
  server.ready();
  await acknowledged;
  // The server's end: each stream joined to a "visitor" socket, whose far end sends a body and reads the reply.
  const visitors = await Promise.all(
    Array.from({ length: 12 }, async (_, i) => {
      const [visitorSide, visitor] = await socketPair();
      const stream = server.open();
      joinStream(visitorSide, stream);
      const body = randomBytes(sizes[(i + 3) % sizes.length]!);
      const [got] = await Promise.all([digestOf(visitor, i % 3 === 0), writeAll(visitor, body)]);
      visitor.destroy();
      return { id: stream.id, got, sentHash: sha(body), sentBytes: body.length };
    }),
  );
  const local = new Map((await Promise.all(services)).map((s) => [s.id, s]));
  assert.equal(local.size, 12, 'every stream reached the client');
  for (const v of visitors) {
    // Each stream carried its visitor's body to its service, and the service's reply back.
    const service = local.get(v.id)!;
    assert.equal(service.got.bytes, v.sentBytes, `stream ${v.id}: bytes the service got`);
    assert.equal(service.got.hash, v.sentHash, `stream ${v.id}: the service got other bytes than the visitor sent`);
    assert.equal(v.got.hash, service.sentHash, `stream ${v.id}: the visitor got other bytes than the service sent`);
  }
  void client;
});

test('a visitor that sent before it was joined: those bytes go first, then the rest, in order', async (t) => {
  const [serverMux, clientMux] = await socketPair();
  t.after(() => (serverMux.destroy(), clientMux.destroy()));
  // What the client's stream received, once it ended (its stream arrives with the OPEN).
  let received!: (got: Promise<Buffer>) => void;
  const arrived = new Promise<Buffer>((r) => (received = r));
  let ready!: () => void;
  const acknowledged = new Promise<void>((r) => (ready = r));
  new MuxSession(clientMux, {
    onReady: ready,
    onStream: (stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      received(once(stream, 'end').then(() => (stream.end(), Buffer.concat(chunks))));
    },
  });
  const server = new MuxSession(serverMux);
  server.ready();
  await acknowledged;
  const [visitorSide, visitor] = await socketPair();
  visitorSide.pause();
  // Less than a paused socket reads ahead (its high-water mark): all of it in Node's buffers before the join.
  const early = randomBytes(8000);
  visitor.write(early);
  while (visitorSide.readableLength < early.length) await new Promise((r) => setImmediate(r));
  joinStream(visitorSide, server.open());
  const late = randomBytes(2_000_000);
  await writeAll(visitor, late);
  const got = await arrived;
  assert.equal(got.length, early.length + late.length);
  assert.ok(got.equals(Buffer.concat([early, late])), 'the early bytes, then the rest, in order');
  visitor.destroy();
});
