/**
 * The rate limit on repeated warnings, with a fake clock: the first lines in full, then
 * one summary per window with the count; independent per message; info and debug
 * untouched; no timer or key left behind; a proper JSON line in `--log-format json`.
 * Then wired in: a real `bore server` flooded with garbage connections, and an embedded
 * tunnel whose local service is down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import winston from 'winston';
import { LOG_BURST, LOG_WINDOW_MS, SUPPRESSED, rateLimited } from '../src/log/rate-limit.js';
import { createLogger, withFields } from '../src/log/logger.js';
import { BoreServer } from '../src/server/server.js';
import { startTunnel } from '../src/run/tunnel.js';
import { CaptureLogger } from './helpers/raw-peer.js';
import { connect, startServer } from './helpers/procs.js';

/** A scheduler whose timers fire only when the test advances time. */
function fakeClock() {
  let now = 0;
  const timers = new Set<{ at: number; fn: () => void }>();
  return {
    schedule(fn: () => void, ms: number) {
      const t = { at: now + ms, fn };
      timers.add(t);
      return () => timers.delete(t);
    },
    advance(ms: number) {
      now += ms;
      for (const t of [...timers].sort((a, b) => a.at - b.at)) {
        if (t.at <= now && timers.delete(t)) t.fn();
      }
    },
    get pending() {
      return timers.size;
    },
  };
}

function setup(burst = 3, windowMs = 10_000, maxKeys?: number) {
  const clock = fakeClock();
  const sink = new CaptureLogger();
  const log = rateLimited(sink, { burst, windowMs, maxKeys, schedule: (fn, ms) => clock.schedule(fn, ms) });
  return { clock, sink, log };
}

test('defaults: 10 lines per message per 10 s', () => {
  assert.equal(LOG_BURST, 10);
  assert.equal(LOG_WINDOW_MS, 10_000);
});

test('N + k identical warnings: N lines in full, then one summary with k when the window closes', () => {
  const { clock, sink, log } = setup(3);
  for (let i = 0; i < 3 + 1234; i++) log.warn('closing connection', { peer: `p${i}` });
  assert.deepEqual(
    sink.lines.map((l) => l.meta.peer),
    ['p0', 'p1', 'p2'],
  );
  clock.advance(9_999);
  assert.equal(sink.lines.length, 3, 'no summary before the window closes');
  clock.advance(1);
  assert.equal(sink.lines.length, 4);
  assert.deepEqual(sink.lines[3], {
    level: 'warn',
    message: 'closing connection … 1,234 more like this in the last 10 s',
    meta: { original: 'closing connection', suppressed: 1234, intervalMs: 10_000 },
  });
  assert.equal(clock.pending, 0, 'no timer left');
  // A new window: in full again.
  log.warn('closing connection');
  assert.equal(sink.lines.length, 5);
  clock.advance(10_000);
  assert.equal(sink.lines.length, 5, 'nothing suppressed, no summary');
  assert.equal(clock.pending, 0);
});

test('error lines are limited too, and their summary is an error', () => {
  const { clock, sink, log } = setup(1);
  log.error('boom');
  log.error('boom');
  clock.advance(10_000);
  assert.deepEqual(
    sink.lines.map((l) => [l.level, l.meta.suppressed]),
    [
      ['error', undefined],
      ['error', 1],
    ],
  );
});

test('different messages are limited independently; fields do not matter', () => {
  const { clock, sink, log } = setup(2);
  for (let i = 0; i < 5; i++) log.warn('a', { i });
  log.warn('b', { i: 0 });
  log.warn('b', { i: 1 });
  assert.deepEqual(
    sink.lines.map((l) => `${l.message}${String(l.meta.i)}`),
    ['a0', 'a1', 'b0', 'b1'],
  );
  clock.advance(10_000);
  assert.deepEqual(
    sink.lines.slice(4).map((l) => [l.meta.original, l.meta.suppressed]),
    [['a', 3]],
  );
});

test('info and debug pass through unchanged and schedule nothing', () => {
  const { clock, sink, log } = setup(1);
  for (let i = 0; i < 50; i++) {
    log.info('same', { i });
    log.debug('same', { i });
  }
  assert.equal(sink.lines.length, 100);
  assert.equal(clock.pending, 0);
});

test('the keys are bounded: past maxKeys the oldest window closes early with its summary', () => {
  const { clock, sink, log } = setup(1, 10_000, 2);
  for (const m of ['a', 'b', 'c', 'd']) {
    log.warn(m);
    log.warn(m);
    assert.ok(clock.pending <= 2);
  }
  assert.deepEqual(
    sink.lines.filter((l) => l.meta.suppressed).map((l) => l.meta.original),
    ['a', 'b'],
  );
  log.flush();
  assert.equal(clock.pending, 0);
  assert.deepEqual(
    sink.lines.filter((l) => l.meta.suppressed).map((l) => l.meta.original),
    ['a', 'b', 'c', 'd'],
  );
});

test('nested, per tunnel over one per process: the same message from 184 tunnels is burst lines and one summary; a suppressed call says so', () => {
  const clock = fakeClock();
  const sink = new CaptureLogger();
  const schedule = (fn: () => void, ms: number) => clock.schedule(fn, ms);
  const shared = rateLimited(sink, { burst: 3, schedule });
  const tunnels = Array.from({ length: 184 }, (_, i) => rateLimited(withFields(shared, { tunnel: `t${i}` }), { burst: 3, schedule }));
  const results = tunnels.map((log) => log.warn('connection failed: too many tunnels'));
  assert.deepEqual(
    sink.lines.map((l) => l.meta.tunnel),
    ['t0', 't1', 't2'],
  );
  assert.deepEqual(
    results.slice(0, 4),
    [undefined, undefined, undefined, SUPPRESSED],
    'suppressed by the shared limiter, seen through the tunnel one',
  );
  assert.equal(results.filter((r) => r === SUPPRESSED).length, 181);
  // One tunnel repeating itself is held by its own limiter first.
  for (let i = 0; i < 5; i++) assert.equal(tunnels[0]!.warn('local service down'), i < 3 ? undefined : SUPPRESSED);
  clock.advance(10_000);
  const summaries = sink.lines
    .filter((l) => l.meta.suppressed !== undefined)
    .map((l) => [l.meta.original, l.meta.suppressed, l.meta.tunnel]);
  assert.deepEqual(summaries, [
    ['connection failed: too many tunnels', 181, undefined],
    ['local service down', 2, 't0'],
  ]);
});

test('flush writes the pending summaries at once; wrapping twice keeps one limiter', () => {
  const { clock, sink, log } = setup(1);
  assert.equal(rateLimited(log, { burst: 100 }), log);
  log.warn('x');
  log.warn('x');
  log.flush();
  assert.equal(sink.lines.at(-1)!.meta.suppressed, 1);
  assert.equal(clock.pending, 0);
});

test('the default timer does not keep the process alive', async () => {
  const { execFile } = await import('node:child_process');
  const code = `
    import { rateLimited } from ${JSON.stringify(new URL('../src/log/rate-limit.ts', import.meta.url).href)};
    const log = rateLimited({ error() {}, warn() {}, info() {}, debug() {} }, { windowMs: 60_000 });
    log.warn('x'); log.warn('x');`;
  const start = Date.now();
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], (err) =>
      err ? reject(new Error(err.message, { cause: err })) : resolve(),
    ),
  );
  assert.ok(Date.now() - start < 30_000, 'the process exited without waiting for the window');
});

/** Everything a winston logger from createLogger writes, as text. */
function captured(format: 'json' | 'human'): { logger: winston.Logger; text: () => string } {
  let out = '';
  const logger = createLogger({ format });
  logger.clear();
  logger.add(
    new winston.transports.Stream({
      stream: new Writable({
        write(chunk: Buffer, _enc, cb) {
          out += chunk.toString();
          cb();
        },
      }),
    }),
  );
  return { logger, text: () => out };
}

test('json format: the summary is one JSON line with the count, the window and the original message', () => {
  const clock = fakeClock();
  const { logger, text } = captured('json');
  const log = rateLimited(logger, { burst: 2, schedule: (fn, ms) => clock.schedule(fn, ms) });
  for (let i = 0; i < 1236; i++) log.warn('refusing client', { peer: '127.0.0.1:1', reason: 'invalid secret' });
  clock.advance(LOG_WINDOW_MS);
  const lines = text()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 3);
  assert.equal(lines[0]!.reason, 'invalid secret');
  const { time, ...summary } = lines[2]!;
  assert.equal(typeof time, 'string');
  assert.deepEqual(summary, {
    level: 'warn',
    message: 'refusing client … 1,234 more like this in the last 10 s',
    original: 'refusing client',
    suppressed: 1234,
    intervalMs: 10_000,
  });
});

test('human format: the summary line reads as one', () => {
  const clock = fakeClock();
  const { logger, text } = captured('human');
  const log = rateLimited(logger, { burst: 1, windowMs: 250, schedule: (fn, ms) => clock.schedule(fn, ms) });
  log.warn('removed stale connection', { port: 1 });
  log.warn('removed stale connection', { port: 1 });
  clock.advance(250);
  const last = text().trim().split('\n').at(-1)!;
  assert.match(
    last,
    /^\S+Z WARN  removed stale connection … 1 more like this in the last 0\.25 s original="removed stale connection" suppressed=1 intervalMs=250$/,
  );
});

test('bore server: 200 garbage connections log at most burst + 1 lines, the summary counting the rest', async () => {
  const server = await startServer(['--max-auth-failures', '0']); // every garbage connection is answered, none cut short
  try {
    const garbage = async () => {
      const s = await connect(server.controlPort);
      s.on('error', () => {});
      s.resume();
      const closed = once(s, 'close');
      s.end('garbage\0');
      await closed;
    };
    await Promise.all(Array.from({ length: 200 }, garbage));
    // Each was closed after its line was written (or counted); the summary of the
    // open window is flushed on shutdown, so no need to wait 10 s for it.
    const outputRead = once(server.proc, 'close');
    assert.equal(await server.stop('SIGTERM'), 0);
    await outputRead;
  } finally {
    await server.stop('SIGKILL');
  }
  const full = server.output.match(/WARN  closing connection peer=/g) ?? [];
  const summaries = [
    ...server.output.matchAll(
      /WARN  closing connection … ([\d,]+) more like this in the last 10 s original="closing connection" suppressed=(\d+)/g,
    ),
  ];
  assert.ok(
    full.length + summaries.length <= LOG_BURST + 1,
    `${full.length} full lines and ${summaries.length} summaries in:\n${server.output}`,
  );
  assert.equal(full.length + summaries.reduce((n, m) => n + Number(m[2]), 0), 200, server.output);
  assert.ok(server.output.length < 10_000, `${server.output.length} bytes of log`);
});

test('startTunnel: public connections to a dead local service log at most burst lines, then a summary (flushed on stop)', async () => {
  const logger = new CaptureLogger();
  const server = new BoreServer({ minPort: 25600, maxPort: 25699, controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1' });
  const dead = net.createServer();
  dead.listen(0, '127.0.0.1');
  await once(dead, 'listening');
  const deadPort = (dead.address() as net.AddressInfo).port;
  await new Promise((r) => dead.close(r));
  const N = 30;
  try {
    const controlPort = await server.listen();
    const tunnel = startTunnel({
      localPort: deadPort,
      localHost: '127.0.0.1',
      to: '127.0.0.1',
      controlPort,
      logger,
      logRateLimit: { burst: 5 },
      pool: 0, // the standard path's message (a pooled connection's says only "the local service")
    });
    const port = await tunnel.ready;
    const publics = await Promise.all(Array.from({ length: N }, () => connect(port)));
    for (const s of publics) s.on('error', () => {});
    // Each failed claim closes its data connection, and the server then ends its visitor.
    await Promise.all(
      publics.map((s) => new Promise((r) => (s.readableEnded || s.closed ? r(undefined) : (s.once('end', r), s.once('close', r))))),
    );
    await tunnel.stop();
    for (const s of publics) s.destroy();
  } finally {
    await server.close(0);
  }
  const message = 'public connection closed: could not reach the local service or the server';
  assert.equal(logger.find(message).length, 5);
  assert.deepEqual(
    logger.find(`${message} … 25 more like this in the last 10 s`).map((l) => l.meta),
    [{ original: message, suppressed: 25, intervalMs: 10_000 }],
  );
});
