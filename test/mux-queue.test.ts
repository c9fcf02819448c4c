/**
 * What a frame waits behind on a multiplexed connection whose link is slower than its
 * writers (`src/net/mux.ts`): the kernel's unsent bytes bounded (`TCP_NOTSENT_LOWAT`,
 * read back with `getsockopt`), frames of at most 64 KiB (`MUX_FRAME`), and a short write on one
 * stream reaching the wire ahead of most of another stream's bulk write. The far end
 * is a plain socket that reads the frames itself, so the test sees the bytes' order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { MUX_HEADER, MuxType, muxHeader } from '../src/protocol/mux-frames.js';
import { MUX_SOCKET_BUFFER, MUX_UNSENT, MuxSession } from '../src/net/mux.js';
import { boundUnsentBytes } from '../src/net/socket-options.js';
import { handleFd } from '../src/net/libc.js';
import { IPPROTO_TCP, TCP_NOTSENT_LOWAT, getsockoptInt } from './helpers/sockopt.js';

/** A connected loopback pair: `near` for the session, `far` read by the test. */
async function socketPair(nearOptions: net.NetConnectOpts | object = {}): Promise<{ near: net.Socket; far: net.Socket }> {
  const listener = net.createServer();
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const accepted = once(listener, 'connection');
  const near = net.connect({ ...nearOptions, port: (listener.address() as net.AddressInfo).port, host: '127.0.0.1' });
  const [far] = (await accepted) as [net.Socket];
  await once(near, 'connect');
  listener.close();
  return { near, far };
}

/** `TCP_NOTSENT_LOWAT` of a socket, read with getsockopt. */
function notSentLowat(socket: net.Socket): number {
  return getsockoptInt(handleFd(socket)!, IPPROTO_TCP, TCP_NOTSENT_LOWAT);
}

const linux = process.platform === 'linux';

test(
  'the kernel holds at most MUX_UNSENT unsent bytes of a multiplexed connection',
  { skip: !linux && 'TCP_NOTSENT_LOWAT is Linux only' },
  async () => {
    const { near, far } = await socketPair();
    const before = notSentLowat(near);
    const session = new MuxSession(near);
    assert.equal(session.unsentBounded, true);
    assert.equal(notSentLowat(near), MUX_UNSENT, `was ${before}`);
    assert.equal(boundUnsentBytes(far, 12345), true);
    assert.equal(notSentLowat(far), 12345);
    session.destroy();
    far.destroy();
  },
);

test(
  "a short write on one stream goes ahead of most of another stream's bulk write, in frames of at most 64 KiB",
  { timeout: 30_000 },
  async () => {
    const { near, far } = await socketPair();
    const session = new MuxSession(near);
    session.ready();
    const bulk = session.open();
    const short = session.open();
    for (const s of [bulk, short]) s.on('error', () => {});
    const BULK = 16 * 1024 * 1024;
    // The far end gives the bulk stream credit for all of it and reads nothing: the bulk
    // write backs up into the kernel, then into Node's queue, where the short write finds it.
    far.pause();
    far.write(muxHeader(MuxType.WINDOW, bulk.id, BULK));
    bulk.write(Buffer.alloc(BULK, 1));
    // Until the credit has been read and the bulk write has filled what the socket takes.
    while (near.bytesRead < MUX_HEADER || near.writableLength < MUX_SOCKET_BUFFER) await new Promise((resolve) => setImmediate(resolve));
    short.write(Buffer.from('x'));
    const chunks: Buffer[] = [];
    let received = 0;
    far.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
    });
    far.resume();
    while (received < BULK + 9) await once(far, 'data');
    // The frames in the order they went out: where the short write came, and their sizes.
    const wire = Buffer.concat(chunks);
    let bulkBytes = 0;
    let bulkBeforeShort = -1;
    let largest = 0;
    for (let at = 0; at + MUX_HEADER <= wire.length;) {
      const [type, stream, length] = [wire[at]!, wire.readUInt32BE(at + 1), wire.readUInt32BE(at + 5)];
      at += MUX_HEADER;
      if (type !== MuxType.DATA) continue;
      at += length;
      if (stream === bulk.id) {
        bulkBytes += length;
        largest = Math.max(largest, length);
      } else if (stream === short.id) bulkBeforeShort = bulkBytes;
    }
    assert.ok(bulkBeforeShort >= 0, 'the short write arrived');
    // Behind it at most the socket's mark and a frame in Node's queue, the kernel's
    // unsent bytes and the far end's receive buffer (128 KiB here): not the 16 MiB
    // written at once, as when every frame of a write went out together.
    assert.ok(
      bulkBeforeShort < (linux ? 1 : 8) * 1024 * 1024,
      `the short write came after ${bulkBeforeShort} bytes of the bulk write (of ${BULK})`,
    );
    assert.ok(largest <= 64 * 1024, `a frame of ${largest} bytes`);
    session.destroy();
    far.destroy();
  },
);

test("a write waiting for the socket goes on below the connection's mark, whatever the socket's own", { timeout: 30_000 }, async () => {
  // A socket whose own mark is far above the connection's: it says `drain` only once it
  // went past its own mark, which the connection's frames never reach.
  const { near, far } = await socketPair({ writableHighWaterMark: 8 * 1024 * 1024 });
  assert.ok(near.writableHighWaterMark > MUX_SOCKET_BUFFER);
  const session = new MuxSession(near);
  const stream = session.open();
  stream.on('error', () => {});
  const BULK = 16 * 1024 * 1024;
  far.write(muxHeader(MuxType.WINDOW, stream.id, BULK));
  let received = 0;
  far.on('data', (chunk: Buffer) => (received += chunk.length));
  // Written in one go, the frames fill the socket past the connection's mark at once.
  stream.end(Buffer.alloc(BULK, 2));
  while (received < BULK) await once(far, 'data');
  assert.ok(received >= BULK);
  session.destroy();
  far.destroy();
});
