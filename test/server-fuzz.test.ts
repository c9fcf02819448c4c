/**
 * Hostile peers against a live tunnel (real CLI server and client, real sockets):
 * connections sending random bytes while the tunnel carries data, and thousands of
 * connections that send nothing (or drip one byte at a time). The tunnel keeps working,
 * the server stays up, and the idle ones are closed at the handshake deadline.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { type BoreProcess, connect, roundTrip, sha256, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { closed } from './helpers/raw-peer.js';

// Every fuzzing and silent peer is a failed handshake from 127.0.0.1, the address of
// the live tunnel too: without the cool-down the server must keep serving it.
const SERVER_ARGS = ['--min-port', '22200', '--max-port', '22399', '--max-auth-failures', '0'];
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let server: BoreProcess & { controlPort: number };
let client: BoreProcess & { publicPort: number };

before(async () => {
  echo = await startEchoServer();
  server = await startServer(SERVER_ARGS);
  client = await startClient(echo.port, server.controlPort);
});

after(async () => {
  await client?.stop();
  await server?.stop();
  await echo?.close();
});

/** One verified round trip of `size` random bytes through the tunnel. */
async function tunnelRoundTrip(size: number): Promise<void> {
  const data = randomBytes(size);
  const back = await roundTrip(await connect(client.publicPort), data);
  assert.equal(sha256(back), sha256(data), `${size} bytes came back intact`);
}

/** Opens a connection to the control port without waiting for it. */
function dial(port: number): { socket: net.Socket; connected: Promise<unknown> } {
  const socket = net.connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  socket.resume();
  return { socket, connected: once(socket, 'connect') };
}

const frame = (text: string) => Buffer.from(`${text}\0`, 'utf8');

/** What a fuzzing peer sends: noise, near-misses of real messages, oversized and broken frames. */
const garbage: fc.Arbitrary<Buffer[]> = fc
  .oneof(
    fc.uint8Array({ minLength: 1, maxLength: 4000 }).map((a) => Buffer.from(a)),
    fc.string({ unit: 'binary', maxLength: 300 }).map(frame),
    fc.jsonValue({ maxDepth: 3 }).map((v) => frame(JSON.stringify(v))),
    fc
      .constantFrom('"Heartbeat"', '{"Authenticate":"00"}', '{"Hello":70000}', '{"Hello":-1}', '{"Accept":42}', '{"Hello":1,"Accept":2}')
      .map(frame),
    fc.constant(null).map(() => frame(JSON.stringify({ Accept: randomUUID() }))),
    fc.integer({ min: 257, max: 5000 }).map((n) => Buffer.alloc(n, 0x7b)),
    fc.constant(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0])),
    fc
      .tuple(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }))
      .map(([a, b]) => Buffer.concat([frame('{"Accept":"'), a, b])),
  )
  .chain((bytes) => fc.array(fc.nat(bytes.length), { maxLength: 5 }).map((cuts) => splitAt(bytes, cuts)));

function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts)].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    if (p > from) parts.push(bytes.subarray(from, p));
    from = p;
  }
  return parts;
}

/** Sends the pieces (each in its own write), half-closes, and waits for the server to close. */
async function fuzzOnce(pieces: Buffer[]): Promise<void> {
  const { socket, connected } = dial(server.controlPort);
  await connected;
  for (const p of pieces) socket.write(p);
  socket.end();
  await closed(socket);
  socket.destroy();
}

test('random bytes on the control port never take the server down or disturb a live tunnel', { timeout: 120_000 }, async () => {
  const samples = fc.sample(garbage, { numRuns: 600, seed: Date.now() });
  let fuzzing = true;
  let trips = 0;
  const traffic = (async () => {
    while (fuzzing) {
      await tunnelRoundTrip(64 * 1024 + Math.floor(Math.random() * 256 * 1024));
      trips++;
    }
  })();
  for (let i = 0; i < samples.length; i += 50) {
    await Promise.all(samples.slice(i, i + 50).map(fuzzOnce));
  }
  fuzzing = false;
  await traffic;
  assert.ok(trips > 0, 'the tunnel carried data during the fuzzing');
  assert.equal(server.proc.exitCode, null, 'the server is still running');
  assert.equal(client.proc.exitCode, null, 'the client is still running');
  await tunnelRoundTrip(1 << 20);
});

test(
  '2,000 silent connections (and some that drip bytes) do not delay the tunnel and are all closed at the deadline',
  { timeout: 60_000 },
  async () => {
    const IDLE = 2000;
    const DRIP = 20;
    const idle: { socket: net.Socket; openedAt: number; closedAt?: number }[] = [];
    for (let i = 0; i < IDLE; i += 250) {
      // Timed from before the dial: the server's clock for a connection cannot start earlier.
      const openedAt = Date.now();
      const batch = Array.from({ length: Math.min(250, IDLE - i) }, () => dial(server.controlPort));
      await Promise.all(batch.map((b) => b.connected));
      for (const b of batch) idle.push({ socket: b.socket, openedAt });
    }
    const drips = Array.from({ length: DRIP }, () => dial(server.controlPort));
    await Promise.all(drips.map((d) => d.connected));
    const dripStart = Date.now();
    // One byte of a plausible Hello every 400 ms: each byte on time, the whole far too slow.
    const text = frame('{"Hello":0}');
    let at = 0;
    const dripTimer = setInterval(() => {
      for (const d of drips) if (!d.socket.destroyed) d.socket.write(text.subarray(at, at + 1));
      at++;
    }, 400);
    let firstClose = Infinity;
    const allClosed = Promise.all(
      idle.map(async (c) => {
        await closed(c.socket);
        c.closedAt = Date.now();
        firstClose = Math.min(firstClose, c.closedAt);
      }),
    );

    // While all of them are pending, the tunnel takes new connections as usual.
    await Promise.all([tunnelRoundTrip(256 * 1024), tunnelRoundTrip(256 * 1024), tunnelRoundTrip(256 * 1024)]);
    const servedAt = Date.now();
    assert.ok(servedAt < firstClose, 'served while every idle connection was still open');

    await allClosed;
    await Promise.all(drips.map((d) => closed(d.socket)));
    clearInterval(dripTimer);
    const dripElapsed = Date.now() - dripStart;
    for (const c of idle) {
      const lived = c.closedAt! - c.openedAt;
      assert.ok(lived >= 2950, `an idle connection was closed after ${lived} ms, before the 3 s deadline`);
    }
    assert.ok(at < text.length, `drippers were cut off after ${at} bytes (${dripElapsed} ms), before completing Hello`);
    assert.equal(server.proc.exitCode, null, 'the server is still running');
    await tunnelRoundTrip(64 * 1024);
  },
);
