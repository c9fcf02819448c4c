/**
 * The multiplexed data connection (`src/net/mux.ts`, `src/protocol/mux-frames.ts`):
 * the frame decoder on split and joined chunks, and two sessions over a real loopback
 * TCP connection: many streams echoed, half-close, per-stream flow control against a
 * reader that stops, resets both ways, the connection's loss, a protocol violation.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { MUX_HEADER, MUX_MAX_DATA, MUX_WINDOW, MuxDecoder, MuxType, muxHeader } from '../src/protocol/mux-frames.js';
import { MUX_MAX_WINDOW, MuxSession, type MuxStream } from '../src/net/mux.js';

test('the decoder: headers and payloads split anywhere, several frames in one chunk, bad frames refused', () => {
  const frames: string[] = [];
  const decoder = new MuxDecoder({
    control: (type, stream, length) => frames.push(`${type}:${stream}:${length}`),
    data: (stream, bytes) => frames.push(`data:${stream}:${bytes.toString()}`),
  });
  const wire = Buffer.concat([
    muxHeader(MuxType.OPEN, 7, 0),
    muxHeader(MuxType.DATA, 7, 11),
    Buffer.from('hello world'),
    muxHeader(MuxType.WINDOW, 7, 65536),
    muxHeader(MuxType.FIN, 7, 0),
  ]);
  // One byte at a time: every header split, the payload handed on byte by byte.
  for (const byte of wire) decoder.push(Buffer.from([byte]));
  const payload = frames.filter((f) => f.startsWith('data:')).map((f) => f.slice('data:7:'.length));
  assert.equal(payload.join(''), 'hello world');
  assert.deepEqual(
    frames.filter((f) => !f.startsWith('data:')),
    ['1:7:0', '5:7:65536', '3:7:0'],
  );
  frames.length = 0;
  decoder.push(wire);
  assert.deepEqual(frames, ['1:7:0', 'data:7:hello world', '5:7:65536', '3:7:0'], 'in one chunk');
  assert.throws(
    () => new MuxDecoder({ control() {}, data() {} }).push(Buffer.from([9, 0, 0, 0, 1, 0, 0, 0, 0])),
    /unknown multiplexed frame type 9/,
  );
  assert.throws(
    () => new MuxDecoder({ control() {}, data() {} }).push(muxHeader(MuxType.DATA, 1, MUX_MAX_DATA + 1)),
    /DATA frame of 1048577 bytes/,
  );
  assert.equal(MUX_HEADER, 9);
});

/** A server session and a client session over one loopback connection; `onStream` gets the client's streams. */
async function pair(onStream: (s: MuxStream) => void, firstStreamId?: number) {
  const listener = net.createServer({ allowHalfOpen: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const clientSocket = net.connect({ port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [serverSocket] = (await accepted) as [net.Socket];
  await once(clientSocket, 'connect');
  listener.close();
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const client = new MuxSession(clientSocket, { onStream, onReady: ready });
  const server = new MuxSession(serverSocket, { firstStreamId });
  server.ready();
  await isReady;
  return { server, client, serverSocket, clientSocket };
}

/** Everything a stream reads until its end. */
async function readAll(stream: MuxStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The client's stream number `id`, once its `OPEN` has arrived (`streams`: where `pair`'s `onStream` puts them). */
async function clientStream(streams: MuxStream[], id: number): Promise<MuxStream> {
  for (;;) {
    const found = streams.find((s) => s.id === id);
    if (found) return found;
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * A round trip on a stream of its own: every frame either side sent before it has been
 * handled by the other when it returns (frames keep their order on the connection).
 */
async function barrier(server: MuxSession, streams: MuxStream[]): Promise<void> {
  const s = server.open();
  s.on('error', () => {});
  const c = await clientStream(streams, s.id);
  c.on('error', () => {});
  c.write('x');
  await once(s, 'data');
  s.write('y');
  await once(c, 'data');
  s.destroy();
}

/** What `reader` holds once a round trip changes it no more (no frame that adds to it is on its way). */
async function settled(server: MuxSession, streams: MuxStream[], reader: MuxStream): Promise<number> {
  for (let last = -1; ; last = reader.readableLength) {
    await barrier(server, streams);
    if (reader.readableLength === last) return last;
  }
}

test('many streams at once, each echoed by the client and ended by a half-close from each side', async (t) => {
  const { server, clientSocket } = await pair((s) => s.pipe(s));
  t.after(() => clientSocket.destroy());
  const results = await Promise.all(
    Array.from({ length: 100 }, async (_, i) => {
      const stream = server.open();
      const body = randomBytes(1000 + i * 997);
      const echoed = readAll(stream);
      stream.end(body);
      return Buffer.compare(await echoed, body) === 0;
    }),
  );
  assert.equal(results.filter(Boolean).length, 100, 'every stream came back whole');
  await new Promise((r) => setImmediate(r));
  assert.equal(server.size, 0, 'ended streams are forgotten');
});

test('flow control: a reader that stops holds at most a window of its stream; the rest waits, then arrives whole', async (t) => {
  const streams: MuxStream[] = [];
  const p = await pair((s) => streams.push(s));
  t.after(() => p.clientSocket.destroy());
  const sender = p.server.open();
  sender.on('error', () => {}); // reset at the end, when the reader's loop destroys its stream
  const reader = await clientStream(streams, sender.id);
  reader.on('error', () => {}); // reset when the test closes the connection
  const body = randomBytes(8 * MUX_WINDOW);
  let written = false;
  sender.end(body, () => (written = true));
  // Nothing reads the client's stream: what it buffers stops growing at the window.
  const held = await settled(p.server, streams, reader);
  assert.ok(held <= MUX_WINDOW, `the receiver buffered ${held} bytes`);
  assert.ok(held >= MUX_WINDOW / 2, `the sender stopped early: ${held} bytes`);
  assert.equal(written, false, 'the sender is held back');
  const received = await readAll(reader);
  assert.equal(createHash('sha256').update(received).digest('hex'), createHash('sha256').update(body).digest('hex'));
});

test('a reset passes to the peer; the loss of the connection resets every stream; garbage closes the connection', async (t) => {
  const client: MuxStream[] = [];
  const p = await pair((s) => client.push(s));
  t.after(() => p.clientSocket.destroy());
  const a = p.server.open();
  const b = p.server.open();
  while (client.length < 2) await new Promise((r) => setImmediate(r));
  const aError = once(a, 'error');
  client[0]!.destroy();
  const [err] = (await aError) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNRESET');
  const bError = once(client[1]!, 'error');
  const bServerError = once(b, 'error');
  p.serverSocket.destroy();
  assert.equal(((await bError)[0] as NodeJS.ErrnoException).code, 'ECONNRESET');
  assert.equal(((await bServerError)[0] as NodeJS.ErrnoException).code, 'ECONNRESET');

  const q = await pair(() => {});
  const closed = once(q.clientSocket, 'close');
  q.serverSocket.write(Buffer.from([42, 0, 0, 0, 1, 0, 0, 0, 0]));
  await closed;
  assert.match(q.client.failure ?? '', /unknown multiplexed frame type 42/);
});

test('stream numbers wrap after 2^32 - 1 to 1, and the streams on both sides of the wrap work', async (t) => {
  const p = await pair((s) => s.pipe(s), 0xffff_fffe);
  t.after(() => p.clientSocket.destroy());
  const a = p.server.open();
  const b = p.server.open();
  const c = p.server.open();
  assert.deepEqual([a.id, b.id, c.id], [0xffff_fffe, 0xffff_ffff, 1]);
  const echoed = await Promise.all(
    [a, b, c].map(async (s, i) => {
      const back = readAll(s);
      s.end(`stream ${i}`);
      return (await back).toString();
    }),
  );
  assert.deepEqual(echoed, ['stream 0', 'stream 1', 'stream 2']);
});

test('a reader that keeps up grows its window (to the cap); stopping then holds at most the grown window', async (t) => {
  const streams: MuxStream[] = [];
  const p = await pair((s) => streams.push(s));
  t.after(() => p.clientSocket.destroy());
  const sender = p.server.open();
  sender.on('error', () => {});
  const reader = await clientStream(streams, sender.id);
  reader.on('error', () => {});
  // 16 MiB read as it comes: the window doubles while the reader keeps up.
  let read = 0;
  const caughtUp = new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      read += c.length;
      if (read >= 16 * MUX_WINDOW) {
        reader.off('data', onData);
        reader.pause();
        resolve();
      }
    };
    reader.on('data', onData);
  });
  sender.write(randomBytes(16 * MUX_WINDOW));
  await caughtUp;
  // Now the reader stops and the sender goes on: what piles up is past the first window, within the cap.
  sender.write(randomBytes(2 * MUX_MAX_WINDOW));
  const held = await settled(p.server, streams, reader);
  // (Without growth it holds the first window and what was buffered when it stopped: about 320 KiB.)
  assert.ok(held > 2 * MUX_WINDOW, `the window did not grow: ${held} buffered`);
  assert.ok(held <= MUX_MAX_WINDOW + MUX_MAX_DATA, `past the cap: ${held} buffered`);
});
