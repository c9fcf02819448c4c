/**
 * The visitors of the churn soak (`bench/churn.ts`), run as their own process: `total`
 * public connections, at most `concurrency` at a time, of the kinds in {@link MIX}
 * against a tunnel to `bench/services.ts` (`port`) and a tunnel whose local service
 * refuses (`refusePort`).
 *
 * Talks to the harness in lines. Out (stdout, JSON): `{"checkpoint":n,...}` once the
 * first n connections are done and none is in flight (then it waits for `go` on
 * stdin), `{"cut":k}` when the harness should cut the control connection (the
 * connections in flight go on, new ones wait for `healed` on stdin), `{"done":true,...}`
 * at the end. A connection whose life overlaps a cut counts its failure as during a cut.
 *
 * Usage: node --import tsx bench/churn-load.ts '{"port":1,"refusePort":2,"total":100000,...}'
 */
import net, { type Socket } from 'node:net';
import { createHash, randomFillSync } from 'node:crypto';
import { createInterface } from 'node:readline';

/** The job the harness passes on argv. */
export interface ChurnJob {
  port: number;
  refusePort: number;
  total: number;
  concurrency: number;
  /** Connection counts after which to stop, drain and report. */
  checkpoints: number[];
  /** Connection counts after which to ask for a control-connection cut. */
  cutsAt: number[];
}

/** What one public connection does. */
export type Kind = 'echo' | 'halfClose' | 'sink' | 'slowReader' | 'connectClose' | 'reset' | 'refused' | 'hang';

/** How many of every 100 connections are of each kind. */
export const MIX: Record<Kind, number> = {
  echo: 40,
  halfClose: 14,
  sink: 8,
  slowReader: 2,
  connectClose: 20,
  reset: 12,
  refused: 2,
  hang: 2,
};

/** Outcomes of one kind: `expected` is a refused or hanging service given up on after {@link GIVE_UP_MS}. */
export interface KindStats {
  ok: number;
  expected: number;
  failed: number;
  failedDuringCut: number;
}

/** Running totals, in every line to the harness. */
export interface ChurnTotals {
  elapsedS: number;
  failed: number;
  failedDuringCut: number;
  expected: number;
}

/** A line to the harness. */
export type ChurnMessage =
  | { cut: number }
  | ({ checkpoint: number } & ChurnTotals)
  | ({ done: true; stats: Record<Kind, KindStats>; failures: Record<string, number> } & ChurnTotals);

/** How long a visitor waits for a refusing or hanging service before it gives up. */
const GIVE_UP_MS = 500;
/** Longest any other connection may take before it counts as failed. */
const TIMEOUT_MS = 30_000;
const KiB = 1024;
const MiB = 1024 * KiB;

/** A seeded PRNG (mulberry32): the same sizes and order in every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const random = prng(10);
const block = randomFillSync(Buffer.allocUnsafe(4 * MiB));

/** A random slice of `block`, `min` to `max` bytes long. */
function payload(min: number, max: number): Buffer {
  const size = min + Math.floor(random() * (max - min + 1));
  const at = Math.floor(random() * (block.length - size));
  return block.subarray(at, at + size);
}

/** Mostly small, sometimes up to 2 MiB: 70% up to 4 KiB, 25% up to 128 KiB, 5% up to 2 MiB. */
function transferPayload(): Buffer {
  const r = random();
  return r < 0.7 ? payload(1, 4 * KiB) : r < 0.95 ? payload(4 * KiB, 128 * KiB) : payload(128 * KiB, 2 * MiB);
}

function sha256(...parts: (Buffer | string)[]): string {
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true, noDelay: true });
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/**
 * Reads `socket` until the peer's EOF (at `slowMBps` MB/s if given); resolves with the
 * sha256 of what came. Calls `onBytes` with the running count. Rejects on an error or
 * a close without EOF.
 */
function readToEnd(socket: Socket, onBytes?: (count: number) => void, slowMBps = 0): Promise<string> {
  const hash = createHash('sha256');
  let count = 0;
  const start = performance.now();
  return new Promise((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      count += chunk.length;
      onBytes?.(count);
      const ahead = slowMBps > 0 ? count / (slowMBps * 1000) - (performance.now() - start) : 0;
      if (ahead > 1) {
        socket.pause();
        setTimeout(() => socket.resume(), ahead);
      }
    });
    socket.once('end', () => resolve(hash.digest('hex')));
    // Whether anything came back tells a connection cut while it waited for the client from one cut later.
    socket.once('error', (err) => reject(new Error(`${err.message} after ${count === 0 ? 'no' : 'some'} bytes back`)));
    socket.once('close', () => reject(new Error(`closed without EOF after ${count} bytes`)));
  });
}

/**
 * Waits `ms` for a refusing or hanging service, which must send nothing. The tunnel
 * closing the connection is fine for a refusing one (`closeIsFine`), not for a hanging one.
 */
async function giveUp(socket: Socket, ms: number, closeIsFine: boolean): Promise<'expected'> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    new Promise<string>((r) => (timer = setTimeout(() => r('quiet'), ms))),
    new Promise<string>((r) => socket.once('data', () => r('answered'))),
    new Promise<string>((r) => socket.once('end', () => r(closeIsFine ? 'quiet' : 'closed'))),
  ]);
  clearTimeout(timer);
  if (outcome !== 'quiet') throw new Error(`the tunnel to a ${closeIsFine ? 'refusing' : 'hanging'} service ${outcome}`);
  return 'expected';
}

/** Runs connection number `i` of kind `kind`; resolves with its outcome, rejects on a failure. */
async function visit(kind: Kind, i: number, job: ChurnJob, opened: (s: Socket) => void): Promise<'ok' | 'expected'> {
  const socket = await open(kind === 'refused' ? job.refusePort : job.port);
  socket.on('error', () => {});
  opened(socket);
  try {
    switch (kind) {
      case 'echo': {
        const data = transferPayload();
        const reply = readToEnd(socket, (n) => {
          if (n === data.length + 1) socket.end();
        });
        socket.write('E');
        socket.write(data);
        if ((await reply) !== sha256('E', data)) throw new Error(`echo of ${data.length} bytes came back different`);
        return 'ok';
      }
      case 'halfClose':
      case 'slowReader': {
        const data = kind === 'halfClose' ? transferPayload() : payload(256 * KiB, MiB);
        const reply = readToEnd(socket, undefined, kind === 'slowReader' ? 20 : 0);
        socket.write('E');
        socket.end(data);
        if ((await reply) !== sha256('E', data)) throw new Error(`${kind} echo of ${data.length} bytes came back different`);
        return 'ok';
      }
      case 'sink': {
        const data = payload(64 * KiB, 4 * MiB);
        const reply = readToEnd(socket);
        socket.write('S');
        socket.end(data);
        if ((await reply) !== sha256(`${data.length}\n`)) throw new Error(`sink did not count ${data.length} bytes`);
        return 'ok';
      }
      case 'connectClose':
        if (i % 2 === 0) return 'ok'; // destroyed below, right after the connect
        socket.end();
        if ((await readToEnd(socket)) !== sha256()) throw new Error('bytes came back from an empty connection');
        return 'ok';
      case 'reset': {
        const data = payload(1, 16 * KiB);
        socket.write('E');
        socket.write(data);
        if (i % 2 === 0) {
          const answered = await new Promise<boolean>((r) => {
            socket.once('data', () => r(true));
            socket.once('close', () => r(false));
          });
          if (!answered) throw new Error('closed before the echo');
        }
        socket.resetAndDestroy();
        return 'ok';
      }
      case 'refused':
        return await giveUp(socket, GIVE_UP_MS, true);
      case 'hang':
        socket.write('H');
        socket.write(payload(1, 4 * KiB));
        return await giveUp(socket, GIVE_UP_MS, false);
    }
  } finally {
    socket.destroy();
  }
}

/** `visit`, failed (and its socket destroyed) after {@link TIMEOUT_MS}. */
async function visitWithTimeout(kind: Kind, i: number, job: ChurnJob): Promise<'ok' | 'expected'> {
  let socket: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      socket?.destroy();
      reject(new Error('timed out'));
    }, TIMEOUT_MS);
  });
  try {
    return await Promise.race([visit(kind, i, job, (s) => (socket = s)), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The order of kinds in every 100 connections: {@link MIX}, shuffled once. */
function kindOrder(): Kind[] {
  const order = (Object.entries(MIX) as [Kind, number][]).flatMap(([kind, n]) => Array<Kind>(n).fill(kind));
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '') as ChurnJob;
  const order = kindOrder();
  const stats = Object.fromEntries(Object.keys(MIX).map((k) => [k, { ok: 0, expected: 0, failed: 0, failedDuringCut: 0 }])) as Record<
    Kind,
    KindStats
  >;
  const failures: Record<string, number> = {};
  const t0 = performance.now();
  const out = (line: ChurnMessage) => process.stdout.write(`${JSON.stringify(line)}\n`);
  const totals = (): ChurnTotals => {
    const all = Object.values(stats);
    const sum = (k: keyof KindStats) => all.reduce((s, x) => s + x[k], 0);
    return {
      elapsedS: Math.round(performance.now() - t0) / 1000,
      failed: sum('failed'),
      failedDuringCut: sum('failedDuringCut'),
      expected: sum('expected'),
    };
  };

  let cutting = false;
  let cuts = 0;
  let healed: Promise<void> = Promise.resolve();
  let heal: (() => void) | undefined;
  let go: (() => void) | undefined;
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'healed') {
      cutting = false;
      heal?.();
    } else if (line === 'go') go?.();
  });

  let next = 0;
  let done = 0;
  const run = async (end: number): Promise<void> => {
    while (next < end) {
      await healed;
      if (next >= end) break;
      const i = next++;
      const kind = order[i % order.length]!;
      const cutsBefore = cuts;
      try {
        stats[kind][await visitWithTimeout(kind, i, job)]++;
      } catch (err) {
        const duringCut = cutting || cuts !== cutsBefore;
        stats[kind][duringCut ? 'failedDuringCut' : 'failed']++;
        const what = `${kind}${duringCut ? ' (during a cut)' : ''}: ${(err as Error).message.replace(/\d+/g, 'N')}`;
        failures[what] = (failures[what] ?? 0) + 1;
      }
      done++;
      if (done % (job.total / 10) === 0) process.stderr.write(`churn: ${done} connections ${JSON.stringify(totals())}\n`);
      if (job.cutsAt.includes(done)) {
        cutting = true;
        cuts++;
        healed = new Promise((r) => (heal = r));
        out({ cut: cuts });
      }
    }
  };
  for (const checkpoint of job.checkpoints) {
    await Promise.all(Array.from({ length: job.concurrency }, () => run(checkpoint)));
    const resumed = new Promise<void>((r) => (go = r));
    out({ checkpoint, ...totals() });
    await resumed;
  }
  out({ done: true, ...totals(), stats, failures });
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: Error) => {
    process.stderr.write(`churn-load: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
