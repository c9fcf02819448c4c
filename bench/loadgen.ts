/**
 * The benchmark's load generator, run as its own process so it never shares an event
 * loop with the bore server or client. Takes one job as JSON on argv, runs it against
 * a `bench/services.ts` port (directly or through a tunnel) and prints the result as
 * one JSON line. The `concurrency` job prints `{"holding":...}` once every connection
 * has finished its echoes and keeps them open until a line arrives on stdin, so the
 * harness can read the bore processes' memory at 1,000 open connections.
 *
 * Usage: node --import tsx bench/loadgen.ts '{"kind":"throughput","port":1234,"bytes":1073741824}'
 */
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { randomFillSync } from 'node:crypto';

/** A job for the load generator. */
export type Job = (
  | { kind: 'throughput'; port: number; bytes: number; slow?: boolean }
  | { kind: 'setup'; port: number; count: number }
  | { kind: 'rtt'; port: number; count: number }
  | { kind: 'concurrency'; port: number; conns: number; messages: number; size: number; timeoutMs: number }
) & {
  /** Address to connect to (default 127.0.0.1). */
  host?: string;
};

let host = '127.0.0.1';
const CHUNK = 1 << 20;

function open(port: number): Promise<Socket> {
  const socket = net.connect({ port, host, allowHalfOpen: true, noDelay: true });
  return once(socket, 'connect').then(() => socket);
}

/** Milliseconds since `t0` (a `process.hrtime.bigint()`). */
function since(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

/** Sends `bytes` to a sink as fast as the connection takes them; times it until the sink's count comes back. */
async function throughput(port: number, bytes: number, slow: boolean): Promise<object> {
  const block = randomFillSync(Buffer.allocUnsafe(CHUNK));
  const t0 = process.hrtime.bigint();
  const socket = await open(port);
  const reply: Buffer[] = [];
  socket.on('data', (c: Buffer) => reply.push(c));
  const ended = once(socket, 'end');
  socket.write(slow ? 'L' : 'S');
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, CHUNK);
    left -= n;
    if (!socket.write(n === CHUNK ? block : block.subarray(0, n))) await once(socket, 'drain');
  }
  socket.end();
  await ended;
  const ms = since(t0);
  const received = Number(Buffer.concat(reply).toString().trim());
  socket.destroy();
  if (received !== bytes) throw new Error(`sink received ${received} bytes, expected ${bytes}`);
  return { bytes, ms, mbps: bytes / 1e6 / (ms / 1000) };
}

/** Counts the bytes arriving on a socket; `until(n)` resolves once `n` have arrived in all. */
class Counter {
  got = 0;
  #want = 0;
  #waiter: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(readonly socket: Socket) {
    socket.on('data', (c: Buffer) => {
      this.got += c.length;
      if (this.#waiter && this.got >= this.#want) this.#settle();
    });
    socket.on('close', () => this.#settle(new Error(`closed after ${this.got} of ${this.#want} bytes`)));
  }

  until(want: number): Promise<void> {
    this.#want = want;
    if (this.got >= want) return Promise.resolve();
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }));
  }

  #settle(err?: Error): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    if (err) w?.reject(err);
    else w?.resolve();
  }
}

/** Connect + first echoed byte, `count` times in a row; each connection is closed before the next. */
async function setup(port: number, count: number): Promise<object> {
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    const socket = await open(port);
    const counter = new Counter(socket);
    socket.write('E');
    await counter.until(1);
    samples.push(since(t0));
    const closed = once(socket, 'close');
    socket.end();
    await closed;
  }
  return { samples };
}

/** `count` one-byte ping-pongs on one connection. */
async function rtt(port: number, count: number): Promise<object> {
  const socket = await open(port);
  const counter = new Counter(socket);
  socket.write('E');
  await counter.until(1);
  const ping = Buffer.from('p');
  const samples: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    socket.write(ping);
    await counter.until(i + 2);
    samples.push(since(t0));
  }
  socket.destroy();
  return { samples };
}

/** `conns` connections at once, each echoing `messages` x `size` bytes one after another. */
async function concurrency(job: Extract<Job, { kind: 'concurrency' }>): Promise<void> {
  const payload = randomFillSync(Buffer.allocUnsafe(job.size));
  const sockets: Socket[] = [];
  const errors = new Map<string, number>();
  const one = async (): Promise<void> => {
    const socket = await open(job.port);
    sockets.push(socket);
    socket.on('error', () => {});
    const counter = new Counter(socket);
    socket.write('E');
    for (let m = 1; m <= job.messages; m++) {
      socket.write(payload);
      await counter.until(1 + m * job.size);
    }
  };
  const t0 = process.hrtime.bigint();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), job.timeoutMs)));
  const outcomes = await Promise.all(
    Array.from({ length: job.conns }, () =>
      Promise.race([one().then(() => 'ok' as const), timeout]).catch((err: Error) => err.message.replace(/\d+/g, 'N')),
    ),
  );
  const ms = since(t0);
  clearTimeout(timer);
  for (const o of outcomes) if (o !== 'ok') errors.set(o, (errors.get(o) ?? 0) + 1);
  const failures = outcomes.filter((o) => o !== 'ok').length;
  const open_ = sockets.filter((s) => !s.destroyed).length;
  process.stdout.write(`${JSON.stringify({ holding: true, ms, failures, open: open_, errors: Object.fromEntries(errors) })}\n`);
  await once(process.stdin, 'data');
  await Promise.all(
    sockets.map((s) => {
      if (s.closed) return Promise.resolve();
      const closed = once(s, 'close');
      s.end();
      return closed;
    }),
  );
  process.stdout.write(`${JSON.stringify({ released: true })}\n`);
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as Job;
  host = job.host ?? host;
  switch (job.kind) {
    case 'throughput':
      process.stdout.write(`${JSON.stringify(await throughput(job.port, job.bytes, job.slow ?? false))}\n`);
      break;
    case 'setup':
      process.stdout.write(`${JSON.stringify(await setup(job.port, job.count))}\n`);
      break;
    case 'rtt':
      process.stdout.write(`${JSON.stringify(await rtt(job.port, job.count))}\n`);
      break;
    case 'concurrency':
      await concurrency(job);
      break;
  }
  process.exit(0);
}

main().catch((err: Error) => {
  process.stderr.write(`loadgen: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
