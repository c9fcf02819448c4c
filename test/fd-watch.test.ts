/**
 * Running out of file descriptors is said (issue 18): the watcher's decisions from
 * readings and a clock given by the test (warning at 80%, error at the limit or on
 * EMFILE, each at most once a minute, an info line once back below), and `bore server`
 * under a limit of 64 descriptors logging the warning and then the error as
 * connections are opened to it, with `/metrics` counting the checks at the limit.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type net from 'node:net';
import {
  FD_LIMIT_REFRESH_MS,
  FD_SYNC_BELOW,
  FdAlarm,
  type FdReading,
  fdLevel,
  parseFdLimit,
  readFdLimit,
  readFds,
  watchFds,
} from '../src/system/fd-watch.js';
import { BoreProcess, connect, httpGet } from './helpers/procs.js';
import { CaptureLogger } from './helpers/raw-peer.js';
import { hasPrlimit, socketsOf } from './helpers/fds.js';
import { waitUntil } from './helpers/poll.js';

/** The built `fd-watch` module (`npm test` builds first), for a process without tsx. */
const FD_WATCH_BUILT = fileURLToPath(new URL('../dist/src/system/fd-watch.js', import.meta.url));

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('parseFdLimit reads the soft limit of /proc/self/limits', () => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             63432                63432                processes ',
    'Max open files            1024                 524288               files     ',
  ].join('\n');
  assert.equal(parseFdLimit(text), 1024);
  assert.equal(parseFdLimit('Max open files            unlimited            unlimited            files'), undefined);
});

test('fdLevel: ok below 80%, warn from 80%, error with at most one descriptor left or none', () => {
  assert.equal(fdLevel({ open: 818, limit: 1024 }), 'ok');
  assert.equal(fdLevel({ open: 820, limit: 1024 }), 'warn');
  assert.equal(fdLevel({ open: 1022, limit: 1024 }), 'warn');
  assert.equal(fdLevel({ open: 1023, limit: 1024 }), 'error');
  assert.equal(fdLevel({ open: undefined, limit: 1024 }), 'error');
  assert.equal(fdLevel({ open: 5000, limit: undefined }), 'ok');
});

test('FdAlarm: one warning and one error a minute at most, an info line once back below', () => {
  const logger = new CaptureLogger();
  const alarm = new FdAlarm(logger);
  const lines = () => logger.lines.map((l) => `${l.level} ${l.message}`);
  const at = (open: number | undefined, now: number, limit = 1024) => alarm.update({ open, limit }, now);

  at(500, 0);
  assert.deepEqual(lines(), []);
  at(870, 1000);
  assert.deepEqual(lines(), ['warn open file descriptors at 84% of the limit (870 of 1024): raise LimitNOFILE (systemd) or ulimit -n']);
  at(900, 6000); // still high, within the minute: nothing more
  at(1023, 11_000);
  at(undefined, 16_000); // EMFILE: the error was said 5 s ago
  assert.equal(lines().length, 2);
  assert.match(lines()[1]!, /^error open file descriptors at the limit \(1023 of 1024\): new connections fail/);
  at(undefined, 71_000);
  assert.match(lines()[2]!, /^error out of file descriptors \(limit 1024\): new connections fail.*ulimit -n$/);
  assert.equal(alarm.limitReached, 3);
  at(400, 76_000);
  assert.equal(lines()[3], 'info open file descriptors back to 39% of the limit (400 of 1024)');
  at(400, 81_000);
  at(850, 82_000); // the warning was said 81 s ago
  assert.equal(lines().length, 5);
  assert.match(lines()[4]!, /^warn open file descriptors at 83%/);
  at(300, 83_000);
  at(850, 84_000); // flapping: the info line, and no second warning within the minute
  at(300, 85_000);
  assert.deepEqual(lines().slice(5), ['info open file descriptors back to 29% of the limit (300 of 1024)']);
  assert.deepEqual(logger.lines.at(-1)?.meta, { open: 300, limit: 1024 });
});

test('watchFds: checks through its reader at once and on check(); a reader without /proc stops it', async () => {
  const logger = new CaptureLogger();
  const readings: (FdReading | undefined)[] = [
    { open: 10, limit: 64 },
    { open: 60, limit: 64 },
    { open: undefined, limit: undefined },
  ];
  const seen: (number | undefined)[] = [];
  const counts: (number | undefined)[] = [];
  let t = 0;
  const watch = watchFds({
    logger,
    intervalMs: 3_600_000,
    now: () => (t += 1000),
    read: (lastLimit, lastOpen) => {
      seen.push(lastLimit);
      counts.push(lastOpen);
      return Promise.resolve(readings.shift());
    },
  });
  await watch.check(); // the first one, started at once
  await watch.check();
  await watch.check();
  assert.deepEqual(seen, [undefined, 64, 64], 'a limit that could not be read is the last one known');
  assert.deepEqual(counts, [undefined, 10, 60], 'the reader is told the last count (a failed count keeps the one before)');
  t += FD_LIMIT_REFRESH_MS;
  readings.unshift({ open: 10, limit: 64 });
  await watch.check();
  assert.equal(seen.at(-1), undefined, 'once a minute the reader is asked to read the limit again');
  assert.deepEqual(
    logger.lines.map((l) => l.level),
    ['warn', 'error', 'info'],
  );
  assert.match(logger.lines[1]!.message, /out of file descriptors \(limit 64\)/);
  assert.equal(watch.limitReached, 1);
  watch.stop();

  const none = watchFds({ logger: new CaptureLogger(), read: () => Promise.resolve(undefined) });
  await none.check();
  assert.equal(none.limitReached, 0);
});

test('readFds reads /proc/self/limits only without a limit it may keep, or when the count nears it', async (t) => {
  const limit = readFdLimit();
  if (limit === undefined) return t.skip('no /proc/self/limits here (or no limit)');
  assert.equal((await readFds())?.limit, limit);
  assert.equal((await readFds(limit + 12345))?.limit, limit + 12345, 'far below the warning level the known limit stands');
  assert.equal((await readFds(1))?.limit, limit, 'at the warning level of the known limit it is read again');
  // After a count of FD_SYNC_BELOW or more, through the thread pool: the same readings.
  assert.equal((await readFds(undefined, FD_SYNC_BELOW))?.limit, limit);
  assert.equal((await readFds(limit + 12345, FD_SYNC_BELOW))?.limit, limit + 12345);
  assert.ok(((await readFds(undefined, FD_SYNC_BELOW))?.open ?? 0) > 0);
});

test('the first check of a process with few descriptors starts no thread pool (its reads are synchronous)', (t) => {
  if (readFdLimit() === undefined) return t.skip('no /proc/self/limits here (or no limit)');
  // In a plain Node process of its own, from the build (tsx's loader, and Node 20's, read
  // files through the thread pool): its threads before and after a watch has checked.
  const script = `
    import { readdirSync } from 'node:fs';
    const threads = () => readdirSync('/proc/self/task').length;
    const { watchFds } = await import(${JSON.stringify(FD_WATCH_BUILT)});
    const before = threads();
    const watch = watchFds({ logger: { error() {}, warn() {}, info() {}, debug() {} }, intervalMs: 3_600_000 });
    await watch.check();
    console.log(JSON.stringify({ before, after: threads() }));
    watch.stop();`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const { before, after: afterCheck } = JSON.parse(out) as { before: number; after: number };
  assert.equal(afterCheck, before, "libuv's thread pool (4 threads) was started");
});

test(
  'bore server under a limit of 64 descriptors warns, then reports the error, as connections take them',
  { timeout: 60_000, skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' },
  async () => {
    const server = new BoreProcess(
      ['server', '--control-port', '0', '--bind-addr', '127.0.0.1', '--metrics', '127.0.0.1:0'],
      { BORE_FD_CHECK_MS: '50' },
      undefined,
      ['prlimit', '--nofile=64:64', '--'],
    );
    cleanups.push(() => server.stop());
    const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
    const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
    const pid = server.proc.pid!;
    assert.doesNotMatch(server.output, /file descriptors/);

    // Silent connections to the control port (each held by the server for its 3 s handshake).
    const sockets: net.Socket[] = [];
    cleanups.push(() => Promise.resolve(sockets.forEach((s) => s.destroy())));
    const fds = () => readdirSync(`/proc/${pid}/fd`).length;
    const open = async () => {
      const s = await connect(controlPort);
      s.on('error', () => {});
      sockets.push(s);
    };
    // One at a time, each until the server has accepted it (a socket more in its table;
    // other descriptors come and go), so the count passes 80% before the limit.
    while (fds() < 56) {
      const before = socketsOf(pid);
      await open();
      await waitUntil(() => socketsOf(pid) > before, 'a new socket', 5000, 5);
    }
    await server.waitFor(/WARN {2}open file descriptors at (8\d|9\d)% of the limit \(\d+ of 64\): raise LimitNOFILE/, 5000);
    assert.doesNotMatch(server.output, /ERROR/);
    // Past the limit the server's accept fails; libuv closes those connections itself.
    while (readdirSync(`/proc/${pid}/fd`).length < 64) await open();
    for (let i = 0; i < 5; i++) await open();
    await server.waitFor(/ERROR (open file descriptors at the limit|out of file descriptors).*raise LimitNOFILE/, 5000);

    // Once the connections are gone: back below, and the metrics count the checks at the limit.
    sockets.forEach((s) => s.destroy());
    await server.waitFor(/INFO {2}open file descriptors back to \d+% of the limit/, 10_000);
    const res = await httpGet(metricsPort, '/metrics');
    const reached = Number(/^bore_fd_limit_reached_total (\d+)$/m.exec(res.body)?.[1]);
    assert.ok(reached >= 1, res.body);
    assert.match(res.body, /^process_max_fds 64$/m);
    assert.match(res.body, /^process_open_fds \d+$/m);
  },
);
