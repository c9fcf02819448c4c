/**
 * The hot path (`src/net/proxy.ts`) on real loopback sockets: bytes arrive intact both
 * ways, half-close is passed through, a failure closes both sides, and a slow reader
 * never makes the proxying process's memory grow with the amount sent (checked on the
 * RSS of a real bore server and client carrying 256 MiB to a reader at 64 MB/s).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { BULK_READ_BUFFER_SIZE, READ_BUFFER_SIZE, proxy, readIntoBuffer } from '../src/net/proxy.js';
import { connect, roundTrip, sha256, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { rssMb, sampleRss } from './helpers/memory.js';
import { TestCerts } from './helpers/tls-certs.js';

const MiB = 1 << 20;

/**
 * A front listener whose connections are proxied to `targetPort` in this process,
 * the way the server and client use `proxy()`.
 */
async function startFront(targetPort: number, reuseBuffers: boolean, head?: Buffer) {
  const done: Promise<void>[] = [];
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (inbound) => {
    const outbound = net.connect({ port: targetPort, host: '127.0.0.1', allowHalfOpen: true });
    outbound.once('connect', () => done.push(proxy(inbound, outbound, head, { reuseBuffers })));
    outbound.once('error', () => inbound.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as net.AddressInfo).port, server, done };
}

/** Writes `total` bytes of `block` as fast as `socket` takes them, then half-closes. */
async function writeFast(socket: Socket, block: Buffer, total: number): Promise<void> {
  for (let left = total; left > 0; left -= block.length) {
    if (!socket.write(left >= block.length ? block : block.subarray(0, left))) await once(socket, 'drain');
  }
  socket.end();
}

/** Reads `socket` to EOF at no more than `mbPerS` MB/s; resolves with the byte count. */
function readSlowly(socket: Socket, mbPerS: number): Promise<number> {
  const start = performance.now();
  let count = 0;
  socket.on('data', (chunk: Buffer) => {
    count += chunk.length;
    const ahead = count / (mbPerS * 1000) - (performance.now() - start);
    if (ahead > 1) {
      socket.pause();
      setTimeout(() => socket.resume(), ahead);
    }
  });
  return once(socket, 'end').then(() => count);
}

/** A connected pair of loopback sockets. */
async function socketPair(): Promise<{ a: Socket; b: Socket; close(): void }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const a = await connect((server.address() as net.AddressInfo).port);
  const [b] = await accepted;
  return { a, b, close: () => server.close() };
}

test('a read buffer grows to 512 KiB on a bulk transfer, stays at 64 KiB for small exchanges, and loses no byte', async () => {
  const { a, b, close } = await socketPair();
  try {
    const seen: { size: number; bytes: number }[] = [];
    const got: Buffer[] = [];
    let total = 0;
    let waiter: { bytes: number; resolve: () => void } | undefined;
    /** Resolves once `bytes` have been read in all. */
    const readUpTo = (bytes: number) => new Promise<void>((resolve) => (total >= bytes ? resolve() : (waiter = { bytes, resolve })));
    const restart = readIntoBuffer(
      b,
      Buffer.allocUnsafeSlow(READ_BUFFER_SIZE),
      (chunk) => {
        seen.push({ size: chunk.buffer.byteLength, bytes: chunk.length });
        got.push(Buffer.from(chunk));
        total += chunk.length;
        if (waiter && total >= waiter.bytes) waiter.resolve();
        return true;
      },
      () => Buffer.allocUnsafeSlow(BULK_READ_BUFFER_SIZE),
    );
    assert.ok(restart, 'this Node has the internals the proxy uses');
    // Small exchanges: 1 KiB at a time, each read before the next is sent.
    const small = randomBytes(1024);
    for (let i = 1; i <= 10; i++) {
      a.write(small);
      await readUpTo(i * small.length);
    }
    assert.deepEqual(new Set(seen.map((s) => s.size)), new Set([READ_BUFFER_SIZE]));
    // Bulk: 32 MiB as fast as the socket takes it.
    const bulk = randomBytes(32 * MiB);
    const ended = once(b, 'end');
    await writeFast(a, bulk, bulk.length);
    await ended;
    assert.equal(sha256(Buffer.concat(got)), sha256(Buffer.concat([...Array(10).fill(small), bulk])));
    assert.ok(
      seen.some((s) => s.size === BULK_READ_BUFFER_SIZE),
      'some read went into the bulk buffer',
    );
    assert.ok(seen.every((s) => s.bytes <= BULK_READ_BUFFER_SIZE));
  } finally {
    a.destroy();
    b.destroy();
    close();
  }
});

test('a TLS source to a reader that holds off: every byte intact (a TLS socket is never read into a reused buffer)', async (t) => {
  const certs = new TestCerts().make('server', 'localhost', 'IP:127.0.0.1', 1);
  t.after(() => certs.remove());
  const pem = (name: string) => readFileSync(certs.path(name));
  const tlsServer = tls.createServer({ cert: pem('server.pem'), key: pem('server.key') });
  tlsServer.listen(0, '127.0.0.1');
  await once(tlsServer, 'listening');
  t.after(() => tlsServer.close());
  const secured = once(tlsServer, 'secureConnection') as Promise<[Socket]>;
  const sender = tls.connect({ port: (tlsServer.address() as net.AddressInfo).port, host: '127.0.0.1', ca: pem('ca.pem') });
  await once(sender, 'secureConnect');
  const [inbound] = await secured;
  const { a: out, b: reader, close } = await socketPair();
  t.after(() => {
    for (const s of [sender, inbound, out, reader]) s.destroy();
    close();
  });
  const done = proxy(inbound, out);
  // The reader takes a quarter, then holds off until the proxy's writes to it queue up.
  const data = randomBytes(32 * MiB);
  const got: Buffer[] = [];
  let received = 0;
  let held = false;
  reader.on('data', (chunk: Buffer) => {
    got.push(chunk);
    received += chunk.length;
    if (!held && received >= data.length / 4) {
      held = true;
      reader.pause();
    }
  });
  const ended = once(reader, 'end');
  const sent = writeFast(sender, data, data.length);
  for (let turns = 0; !(held && out.writableLength > 0); turns++) {
    assert.ok(turns < 1_000_000, 'the proxy never had to wait for the reader');
    await new Promise((r) => setImmediate(r));
  }
  reader.resume();
  await sent;
  await ended;
  assert.equal(received, data.length);
  assert.equal(sha256(Buffer.concat(got)), sha256(data));
  reader.end();
  await done;
});

for (const reuseBuffers of [true, false]) {
  const mode = reuseBuffers ? 'reused read buffers' : 'pipe fallback';

  test(`${mode}: 8 MiB echoed intact, head first, half-close passed through`, async () => {
    const echo = await startEchoServer();
    const head = Buffer.from('head:');
    const front = await startFront(echo.port, reuseBuffers, head);
    try {
      const payload = randomBytes(8 * MiB);
      const back = await roundTrip(await connect(front.port), payload);
      // The echo service sees head + payload and sends all of it back.
      assert.equal(back.length, head.length + payload.length);
      assert.equal(sha256(back), sha256(Buffer.concat([head, payload])));
      await Promise.all(front.done);
    } finally {
      front.server.close();
      await echo.close();
    }
  });

  test(`${mode}: many small writes both ways on several connections at once`, async () => {
    const echo = await startEchoServer();
    const front = await startFront(echo.port, reuseBuffers);
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, async () => {
          const socket = await connect(front.port);
          const chunks: Buffer[] = [];
          socket.on('data', (c: Buffer) => chunks.push(c));
          const ended = once(socket, 'end');
          const sent: Buffer[] = [];
          for (let i = 0; i < 200; i++) {
            const piece = randomBytes(1 + (i % 700));
            sent.push(piece);
            if (!socket.write(piece)) await once(socket, 'drain');
          }
          socket.end();
          await ended;
          return sha256(Buffer.concat(chunks)) === sha256(Buffer.concat(sent));
        }),
      );
      assert.deepEqual(results, Array(20).fill(true));
    } finally {
      front.server.close();
      await echo.close();
    }
  });

  test(`${mode}: a reset on one side destroys the other`, async () => {
    const target = net.createServer();
    const upstream = new Promise<Socket>((resolve) => {
      // Resolves once the first byte came through the proxy, so the proxy is running.
      target.once('connection', (s: Socket) => {
        s.on('error', () => {});
        s.once('data', () => resolve(s));
      });
    });
    target.listen(0, '127.0.0.1');
    await once(target, 'listening');
    const front = await startFront((target.address() as net.AddressInfo).port, reuseBuffers);
    try {
      const socket = await connect(front.port);
      socket.on('error', () => {});
      // The proxy destroys its side: the client sees EOF (or a reset).
      const closed = new Promise((resolve) => {
        socket.once('end', resolve);
        socket.once('close', resolve);
      });
      socket.write('x');
      (await upstream).resetAndDestroy();
      await closed;
      await Promise.all(front.done);
      assert.equal(front.done.length, 1);
    } finally {
      front.server.close();
      target.close();
    }
  });
}

test('a slow reader keeps the RSS of a real bore server and client bounded (256 MiB at 64 MB/s)', async (t) => {
  const total = 256 * MiB;
  const sink = net.createServer({ allowHalfOpen: true }, (s) => {
    void readSlowly(s, 64).then((n) => s.end(`${n}`));
  });
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const server = await startServer(['--min-port', '23000', '--max-port', '23999']);
  const client = await startClient((sink.address() as net.AddressInfo).port, server.controlPort, ['--local-host', '127.0.0.1']);
  try {
    const pids = [server.proc.pid!, client.proc.pid!];
    const before = pids.map(rssMb);
    const sampler = sampleRss(pids);
    const socket = await connect(client.publicPort);
    const reply: Buffer[] = [];
    socket.on('data', (c: Buffer) => reply.push(c));
    const ended = once(socket, 'end');
    const t0 = performance.now();
    await writeFast(socket, randomBytes(MiB), total);
    await ended;
    const seconds = (performance.now() - t0) / 1000;
    const peaks = sampler.stop();
    assert.equal(Number(Buffer.concat(reply).toString()), total, 'the reader got every byte');
    // The reader set the pace, so the writer was held back all along the way.
    assert.ok(seconds > (total / 1e6 / 64) * 0.9, `took ${seconds.toFixed(1)} s, faster than the reader reads`);
    // Without backpressure a proxy would queue most of the 256 MiB in memory.
    const growth = peaks.map((p, i) => p - before[i]!);
    t.diagnostic(`${seconds.toFixed(1)} s; RSS growth server ${growth[0]!.toFixed(1)} MB, client ${growth[1]!.toFixed(1)} MB`);
    for (const [i, name] of ['server', 'client'].entries()) {
      assert.ok(growth[i]! < 40, `${name} RSS grew by ${growth[i]!.toFixed(1)} MB (from ${before[i]!.toFixed(1)} MB)`);
    }
  } finally {
    await Promise.all([client.stop(), server.stop()]);
    sink.close();
  }
});
