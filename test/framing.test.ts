/**
 * NUL-delimited framing (PROTOCOL.md, "Framing"): split and merged frames, the
 * 256-byte limit, raw bytes after the last frame, bounded buffering, invalid UTF-8.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { FrameDecoder, MAX_FRAME_LENGTH, ProtocolError, encodeFrame } from '../src/protocol/framing.js';
import { FramedSocket, TimeoutError } from '../src/protocol/framed-socket.js';
import { type ServerMessage, decodeServerMessage } from '../src/protocol/messages.js';

const NUL = Buffer.from([0]);

/** Every complete frame the decoder holds right now. */
function drain(decoder: FrameDecoder): string[] {
  const frames: string[] = [];
  for (let f = decoder.next(); f !== undefined; f = decoder.next()) frames.push(f);
  return frames;
}

/** A JSON string literal whose text is exactly `n` bytes long. */
function jsonOfLength(n: number): string {
  return `"${'a'.repeat(n - 2)}"`;
}

test('encodeFrame writes the JSON text followed by exactly one NUL', () => {
  assert.deepEqual(encodeFrame('Heartbeat'), Buffer.from('"Heartbeat"\0'));
  assert.deepEqual(encodeFrame({ Hello: 20001 }), Buffer.from('{"Hello":20001}\0'));
  // Multi-byte text: the frame length is in bytes, not UTF-16 units.
  const frame = encodeFrame({ Error: 'é€' });
  assert.deepEqual(frame, Buffer.concat([Buffer.from('{"Error":"é€"}', 'utf8'), NUL]));
  assert.equal(frame.indexOf(0), frame.length - 1);
});

test('a frame split across many reads is reassembled', () => {
  const decoder = new FrameDecoder();
  const bytes = Buffer.from('{"Connection":"518fa307-c86d-4b48-9356-20a0fa30e064"}\0');
  const seen: string[] = [];
  for (let i = 0; i < bytes.length; i++) {
    decoder.push(bytes.subarray(i, i + 1));
    seen.push(...drain(decoder));
    if (i < bytes.length - 1) assert.deepEqual(seen, [], `no frame before the NUL (byte ${i})`);
  }
  assert.deepEqual(seen, ['{"Connection":"518fa307-c86d-4b48-9356-20a0fa30e064"}']);
  assert.equal(decoder.buffered, 0);
});

test('a multi-byte UTF-8 character split between reads decodes correctly', () => {
  const decoder = new FrameDecoder();
  const bytes = Buffer.from('{"Error":"é"}\0', 'utf8');
  const cut = bytes.indexOf(0xc3) + 1; // between the two bytes of "é"
  decoder.push(bytes.subarray(0, cut));
  assert.equal(decoder.next(), undefined);
  decoder.push(bytes.subarray(cut));
  assert.equal(decoder.next(), '{"Error":"é"}');
});

test('several frames in one read come out one at a time, in order', () => {
  const decoder = new FrameDecoder();
  decoder.push(Buffer.from('{"Hello":20001}\0"Heartbeat"\0"Heartbeat"\0{"Connection":"518fa307-c86d-4b48-9356-20a0fa30e064"}\0"Heart'));
  assert.equal(decoder.next(), '{"Hello":20001}');
  assert.equal(decoder.next(), '"Heartbeat"');
  assert.equal(decoder.next(), '"Heartbeat"');
  assert.equal(decoder.next(), '{"Connection":"518fa307-c86d-4b48-9356-20a0fa30e064"}');
  assert.equal(decoder.next(), undefined);
  decoder.push(Buffer.from('beat"\0'));
  assert.equal(decoder.next(), '"Heartbeat"');
  assert.equal(decoder.next(), undefined);
  assert.equal(decoder.buffered, 0);
});

test('an empty frame is returned as empty text (the message layer rejects it)', () => {
  const decoder = new FrameDecoder();
  decoder.push(Buffer.from('\0"Heartbeat"\0'));
  assert.equal(decoder.next(), '');
  assert.equal(decoder.next(), '"Heartbeat"');
});

test(`a frame of exactly ${MAX_FRAME_LENGTH} bytes is accepted, in one read or split`, () => {
  assert.equal(MAX_FRAME_LENGTH, 256);
  const text = jsonOfLength(256);
  const whole = new FrameDecoder();
  whole.push(Buffer.from(`${text}\0`));
  assert.equal(whole.next(), text);

  const split = new FrameDecoder();
  split.push(Buffer.from(text.slice(0, 200)));
  assert.equal(split.next(), undefined);
  split.push(Buffer.from(text.slice(200)));
  assert.equal(split.next(), undefined, 'all 256 bytes held, still waiting for the NUL');
  assert.equal(split.buffered, 256);
  split.push(NUL);
  assert.equal(split.next(), text);
});

test('a frame of 257 bytes is a ProtocolError, whether or not its NUL has arrived', () => {
  const text = jsonOfLength(257);
  const withNul = new FrameDecoder();
  withNul.push(Buffer.from(`${text}\0`));
  assert.throws(
    () => withNul.next(),
    (err: unknown) => err instanceof ProtocolError && /longer than 256 bytes/.test(err.message),
  );

  const splitWithNul = new FrameDecoder();
  splitWithNul.push(Buffer.from(text.slice(0, 100)));
  assert.equal(splitWithNul.next(), undefined);
  splitWithNul.push(Buffer.from(`${text.slice(100)}\0`));
  assert.throws(() => splitWithNul.next(), ProtocolError);

  const noNul = new FrameDecoder();
  noNul.push(Buffer.from(text));
  assert.throws(() => noNul.next(), ProtocolError);
});

test('the decoder never holds more than 256 bytes while waiting for a delimiter', () => {
  const decoder = new FrameDecoder();
  let threw = false;
  for (let i = 1; i <= 300; i++) {
    decoder.push(Buffer.from('a'));
    try {
      assert.equal(decoder.next(), undefined);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, String(err));
      assert.equal(i, 257, 'the error comes with the 257th byte, not later');
      threw = true;
      break;
    }
    assert.ok(decoder.buffered <= MAX_FRAME_LENGTH, `holding ${decoder.buffered} bytes after ${i} pushed`);
  }
  assert.ok(threw, 'an endless frame must be refused');
  assert.equal(decoder.buffered, 0, 'the oversized frame is dropped, not kept');

  // The same holds for an overlong tail after a good frame in the same read.
  const tail = new FrameDecoder();
  tail.push(Buffer.concat([Buffer.from('"Heartbeat"\0'), Buffer.alloc(300, 0x61)]));
  assert.equal(tail.next(), '"Heartbeat"');
  assert.throws(() => tail.next(), ProtocolError);
  assert.equal(tail.buffered, 0);
});

test('takeRest returns the raw bytes after the last frame read, untouched', () => {
  const decoder = new FrameDecoder();
  const raw = Buffer.from([0x70, 0x69, 0x00, 0xff, 0x00, 0x0a, 0xc3]); // NULs and invalid UTF-8 are data here
  decoder.push(Buffer.concat([Buffer.from('{"Accept":"518fa307-c86d-4b48-9356-20a0fa30e064"}\0'), raw]));
  assert.equal(decoder.next(), '{"Accept":"518fa307-c86d-4b48-9356-20a0fa30e064"}');
  assert.deepEqual(decoder.takeRest(), raw);
  assert.equal(decoder.buffered, 0);
  assert.deepEqual(decoder.takeRest(), Buffer.alloc(0));
});

test('takeRest keeps a partial frame and more than 256 raw bytes', () => {
  const decoder = new FrameDecoder();
  decoder.push(Buffer.from('{"Accept":"518fa307-c86d-4b48-9356-20a0fa30e064"}\0ping'));
  assert.equal(decoder.next(), '{"Accept":"518fa307-c86d-4b48-9356-20a0fa30e064"}');
  assert.equal(decoder.next(), undefined, '"ping" is held as a partial frame');
  const big = Buffer.alloc(4096, 0x62);
  decoder.push(big);
  assert.deepEqual(decoder.takeRest(), Buffer.concat([Buffer.from('ping'), big]));
});

test('invalid UTF-8 in a frame is a ProtocolError', () => {
  for (const bytes of [
    [0xff, 0xfe],
    [0x22, 0xc3, 0x28, 0x22], // bad continuation byte
    [0x22, 0xed, 0xa0, 0x80, 0x22], // UTF-16 surrogate encoded in UTF-8
    [0x22, 0xe2, 0x82], // truncated sequence at the end of the frame
  ]) {
    const decoder = new FrameDecoder();
    decoder.push(Buffer.from([...bytes, 0, ...Buffer.from('"Heartbeat"\0')]));
    assert.throws(
      () => decoder.next(),
      (err: unknown) => err instanceof ProtocolError && /UTF-8/.test(err.message),
      `bytes ${bytes.map((b) => b.toString(16)).join(' ')}`,
    );
  }
});

// FramedSocket: the same framing over a real loopback connection.

/** A connected loopback pair: `peer` writes, `framed` reads server messages. */
async function framedPair(): Promise<{ peer: net.Socket; framed: FramedSocket<ServerMessage, unknown>; close(): void }> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const socket = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(socket, 'connect');
  const [peer] = (await accepted) as [net.Socket];
  peer.on('error', () => {});
  const framed = new FramedSocket<ServerMessage, unknown>(socket, decodeServerMessage, (m) => m);
  return {
    peer,
    framed,
    close() {
      peer.destroy();
      socket.destroy();
      server.close();
    },
  };
}

test('FramedSocket: frames merged in one segment come out one recv at a time, then clean EOF', async () => {
  const { peer, framed, close } = await framedPair();
  try {
    peer.end('{"Hello":20001}\0"Heartbeat"\0');
    assert.deepEqual(await framed.recv(), { type: 'Hello', port: 20001 });
    assert.deepEqual(await framed.recv(), { type: 'Heartbeat' });
    assert.equal(await framed.recv(), undefined);
    assert.equal(await framed.recv(), undefined, 'EOF stays EOF');
  } finally {
    close();
  }
});

test('FramedSocket: EOF in the middle of a frame is a ProtocolError, pending recv or not', async () => {
  for (const pending of [true, false]) {
    const { peer, framed, close } = await framedPair();
    try {
      peer.end('"Heartbeat"\0{"Hello":2');
      assert.deepEqual(await framed.recv(), { type: 'Heartbeat' });
      if (!pending) await once(framed.socket, 'end'); // EOF arrives while nobody waits
      await assert.rejects(framed.recv(), (err: unknown) => err instanceof ProtocolError && /middle of a frame/.test(err.message));
    } finally {
      close();
    }
  }
});

test('FramedSocket: a reset is reported as an error, not as EOF, even after the fact', async () => {
  const { peer, framed, close } = await framedPair();
  try {
    const closed = new Promise((resolve) => framed.socket.once('close', resolve));
    peer.resetAndDestroy();
    await closed;
    await assert.rejects(framed.recv(), (err: NodeJS.ErrnoException) => err.code === 'ECONNRESET');
  } finally {
    close();
  }
});

test('FramedSocket: recv times out with a TimeoutError; a malformed frame is a ProtocolError', async () => {
  const { peer, framed, close } = await framedPair();
  try {
    await assert.rejects(
      framed.recv(50),
      (err: unknown) => err instanceof TimeoutError && err.message === 'timed out waiting for initial message',
    );
    peer.write('{"Hello":"x"}\0');
    await assert.rejects(framed.recv(), ProtocolError);
  } finally {
    close();
  }
});

test('FramedSocket: detach hands over the raw bytes read past the last frame', async () => {
  const { peer, framed, close } = await framedPair();
  try {
    const raw = Buffer.from([0x70, 0x69, 0x6e, 0x67, 0x00, 0xff, 0x0a]);
    peer.write(Buffer.concat([Buffer.from('{"Connection":"518fa307-c86d-4b48-9356-20a0fa30e064"}\0'), raw]));
    assert.deepEqual(await framed.recv(), { type: 'Connection', id: '518fa307-c86d-4b48-9356-20a0fa30e064' });
    assert.deepEqual(framed.detach(), raw);
    // The socket is ours again: later bytes come as plain data events.
    const more = once(framed.socket, 'data');
    framed.socket.resume();
    peer.write('more');
    assert.equal(String((await more)[0]), 'more');
  } finally {
    close();
  }
});
