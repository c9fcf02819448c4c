/**
 * The warm pool bounded by the open-file limit (issue 18): the budget and the
 * proportional lowering, the warning line, and `bore local --pool 1024` under a limit
 * of 256 descriptors (one mapping, then two) lowering its pool, keeping that many
 * idle connections at the server, and serving visitors.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { boundPools, limitPools, poolBudget } from '../src/run/pool-bound.js';
import { BoreProcess, connect, httpGet, roundTrip, startEchoServer } from './helpers/procs.js';
import { CaptureLogger } from './helpers/raw-peer.js';
import { hasPrlimit } from './helpers/fds.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test('poolBudget: a quarter of the limit less 16', () => {
  assert.equal(poolBudget(1024), 240);
  assert.equal(poolBudget(256), 48);
  assert.equal(poolBudget(64), 0);
  assert.equal(poolBudget(20), 0);
});

test('boundPools: unchanged within the budget or without a limit, else lowered in proportion', () => {
  const pools = { web: 4, api: 8 };
  assert.equal(boundPools(pools, 1024), pools);
  assert.equal(boundPools({ a: 1024 }, undefined)?.a, 1024);
  assert.deepEqual(boundPools({ a: 1024 }, 1024), { a: 240 });
  assert.deepEqual(boundPools({ a: 1024, b: 1024 }, 1024), { a: 120, b: 120 });
  const mixed = boundPools({ a: 1000, b: 100, c: 0, d: 3 }, 256);
  assert.deepEqual(mixed, { a: 43, b: 4, c: 0, d: 0 });
  assert.ok(Object.values(mixed).reduce((x, y) => x + y) <= 48);
  assert.deepEqual(boundPools({ a: 4 }, 64), { a: 0 });
});

test('limitPools: one warning saying from what to what and why, none within the budget', () => {
  const logger = new CaptureLogger();
  assert.deepEqual(limitPools({ tunnel: 4 }, logger, 1024), { tunnel: 4 });
  assert.equal(logger.lines.length, 0);
  assert.deepEqual(limitPools({ tunnel: 1024 }, logger, 1024), { tunnel: 240 });
  assert.deepEqual(
    logger.lines.map((l) => `${l.level} ${l.message}`),
    ['warn --pool 1024 lowered to 240: the open-file limit is 1024 (ulimit -n); raise it for a larger pool'],
  );
  limitPools({ web: 1024, api: 1024, off: 0 }, logger, 1024);
  assert.equal(
    logger.lines[1]?.message,
    '--pool lowered to 240 in all over 3 tunnels (web 1024 to 120, api 1024 to 120): the open-file limit is 1024 (ulimit -n); raise it for a larger pool',
  );
});

/** `bore server` allowing pools of 1024, with metrics; resolves with its ports. */
async function poolServer() {
  const server = new BoreProcess([
    'server',
    '--control-port',
    '0',
    '--bind-addr',
    '127.0.0.1',
    '--bind-tunnels',
    '127.0.0.1',
    '--max-pool',
    '1024',
    '--metrics',
    '127.0.0.1:0',
  ]);
  cleanups.push(() => server.stop());
  const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
  const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  return { controlPort, metricsPort };
}

/** Scrapes until the server holds `n` idle pooled connections. */
async function idlePooled(metricsPort: number, n: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await httpGet(metricsPort, '/metrics')).body;
    const last = /^bore_pooled_connections_idle .*$/m.exec(body)?.[0] ?? '';
    if (last === `bore_pooled_connections_idle ${n}`) return;
    if (Date.now() > deadline) throw new Error(`expected ${n} idle pooled connections, got ${last}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'bore local --pool 1024 under a limit of 256 descriptors lowers its pool to 48 and serves visitors',
  { timeout: 60_000, skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' },
  async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const { controlPort, metricsPort } = await poolServer();
    const args = ['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(controlPort), '--local-host', '127.0.0.1'];
    const client = new BoreProcess([...args, '--pool', '1024'], {}, undefined, ['prlimit', '--nofile=256:256', '--']);
    cleanups.push(() => client.stop());
    await client.waitFor(/WARN {2}--pool 1024 lowered to 48: the open-file limit is 256 \(ulimit -n\); raise it for a larger pool/);
    const publicPort = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
    await idlePooled(metricsPort, 48);
    for (let i = 0; i < 60; i++) {
      const data = Buffer.from(`visitor ${i}`);
      assert.deepEqual(await roundTrip(await connect(publicPort), data), data);
    }
    assert.doesNotMatch(client.output, /EMFILE|ERROR|file descriptors/);
    await client.stop();
  },
);

test(
  'bore local with two mappings and --pool 1024 under a limit of 256: 48 in all',
  { timeout: 60_000, skip: hasPrlimit ? false : 'prlimit (util-linux) is not installed' },
  async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const { controlPort, metricsPort } = await poolServer();
    const client = new BoreProcess(
      [
        'local',
        `${echo.port}`,
        `${echo.port}:0`,
        '--to',
        '127.0.0.1',
        '--control-port',
        String(controlPort),
        '--local-host',
        '127.0.0.1',
        '--pool',
        '1024',
      ],
      {},
      undefined,
      ['prlimit', '--nofile=256:256', '--'],
    );
    cleanups.push(() => client.stop());
    await client.waitFor(
      /WARN {2}--pool lowered to 48 in all over 2 tunnels \(\d+ 1024 to 24, \d+:0 1024 to 24\): the open-file limit is 256/,
    );
    await client.waitFor(/all 2 tunnels listening/);
    await idlePooled(metricsPort, 48);
    await client.stop();
  },
);
