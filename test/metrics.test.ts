/**
 * `bore server --metrics` and `--access-log`: the Prometheus exposition scraped with a
 * real HTTP client after a tunnel carried a known number of bytes and connections,
 * `/healthz` through a shutdown, usage errors for bad addresses, and the access log's
 * lines (JSON from the CLI, and unclaimed/reset endings from a BoreServer in-process),
 * each with the connection's id and its tunnel's client. (The series alerts lean on,
 * and promtool's check: `metrics-series.test.ts`.)
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { BoreServer } from '../src/server/server.js';
import { startMetrics } from '../src/server/metrics.js';
import { BoreProcess, connect, httpGet, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { CaptureLogger, closed, nextData, rawAccept, rawAuthenticate, rawConnect, rawTunnel } from './helpers/raw-peer.js';
import { parseExposition } from './helpers/exposition.js';
import { waitUntil } from './helpers/poll.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Scrapes `/metrics` on `port`. */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await httpGet(port, '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.type, /^text\/plain; version=0\.0\.4/);
  return parseExposition(res.body);
}

/** Scrapes until `ok(values)` holds (the server sees a close a moment after the visitor). */
async function scrapeUntil(port: number, ok: (v: Map<string, number>) => boolean, timeoutMs = 5000): Promise<Map<string, number>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const values = await scrape(port);
    if (ok(values) || Date.now() > deadline) return values;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test(
  'bore server --metrics: counts the bytes and connections a tunnel carried; the tunnels gauge goes 1 then 0',
  { timeout: 30_000 },
  async () => {
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const server = new BoreProcess([
      'server',
      '--control-port',
      '0',
      '--bind-addr',
      '127.0.0.1',
      '--min-port',
      '23100',
      '--max-port',
      '23199',
      '--metrics',
      '127.0.0.1:0',
      '--access-log',
      '--log-format',
      'json',
    ]);
    const controlPort = Number((await server.waitFor(/"message":"server listening".*"port":(\d+)/))[1]);
    cleanups.push(() => server.stop());
    const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);

    const before = await scrape(metricsPort);
    assert.equal(before.get('bore_tunnels_open'), 0);
    assert.equal(before.get('bore_up'), 1);
    assert.equal(before.get('bore_port_range_size'), 100);
    assert.ok((before.get('process_resident_memory_bytes') ?? 0) > 0, 'process metrics are there');

    const client = await startClient(echo.port, controlPort);
    cleanups.push(() => client.stop());
    const sizes = [1000, 25_000, 300_001];
    for (const size of sizes) {
      const data = Buffer.alloc(size, size % 251);
      const back = await roundTrip(await connect(client.publicPort), data);
      assert.equal(back.length, size);
    }
    const total = sizes.reduce((a, b) => a + b, 0);
    const during = await scrapeUntil(
      metricsPort,
      (v) => v.get('bore_public_connections_active') === 0 && v.get('bore_sent_bytes_total') === total,
    );
    assert.equal(during.get('bore_tunnels_open'), 1);
    assert.equal(during.get('bore_ports_in_use'), 1);
    assert.equal(during.get('bore_public_connections_accepted_total'), sizes.length);
    assert.equal(during.get('bore_public_connections_failed_total'), 0);
    assert.equal(during.get('bore_public_connections_active'), 0);
    assert.equal(during.get('bore_received_bytes_total'), total);
    assert.equal(during.get('bore_sent_bytes_total'), total);

    // A handshake that is not bore's: counted under its reason.
    const garbage = await connect(controlPort);
    garbage.end('this is not json\0');
    garbage.resume();
    await closed(garbage);
    const failed = await scrapeUntil(metricsPort, (v) => v.get('bore_handshake_failures_total{reason="protocol"}') === 1);
    assert.equal(failed.get('bore_handshake_failures_total{reason="protocol"}'), 1);

    // The access log: one JSON line per connection, with the bytes each way.
    const lines = server.output
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.message === 'connection');
    assert.equal(lines.length, sizes.length, server.output);
    const ids = new Set(lines.map((l) => l.id));
    assert.equal(ids.size, sizes.length, 'one id per connection');
    for (const [i, line] of lines.entries()) {
      assert.equal(line.level, 'info');
      assert.match(String(line.id), /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      assert.match(String(line.visitor), /^127\.0\.0\.1:\d+$/);
      assert.match(String(line.client), /^127\.0\.0\.1:\d+$/, "the tunnel's client");
      assert.notEqual(line.client, line.visitor);
      assert.equal(line.port, client.publicPort);
      assert.equal(line.bytesIn, sizes[i]);
      assert.equal(line.bytesOut, sizes[i]);
      assert.equal(line.ended, 'closed');
      assert.equal(typeof line.durationMs, 'number');
    }

    await client.stop();
    const gone = await scrapeUntil(metricsPort, (v) => v.get('bore_tunnels_open') === 0);
    assert.equal(gone.get('bore_tunnels_open'), 0);
    assert.equal(gone.get('bore_ports_in_use'), 0);
  },
);

test('without --access-log there are no connection lines', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  cleanups.push(() => echo.close());
  const server = await startServer(['--bind-addr', '127.0.0.1', '--min-port', '23200', '--max-port', '23299']);
  cleanups.push(() => server.stop());
  const client = await startClient(echo.port, server.controlPort);
  cleanups.push(() => client.stop());
  await roundTrip(await connect(client.publicPort), Buffer.from('hello'));
  await client.stop();
  await server.waitFor(/client disconnected/);
  assert.doesNotMatch(server.output, /INFO {2}connection /);
  assert.doesNotMatch(server.output, /metrics at/);
});

test('a bad --metrics or BORE_METRICS is a usage error (exit 2)', { timeout: 30_000 }, async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--metrics', 'nope'], {}, /invalid value for --metrics: 'nope'/],
    [['--metrics', '127.0.0.1:70000'], {}, /invalid value for --metrics: '127\.0\.0\.1:70000'/],
    [['--metrics', ':9100'], {}, /invalid value for --metrics/],
    [['--metrics', '9100'], {}, /invalid value for --metrics/],
    [[], { BORE_METRICS: 'localhost' }, /invalid value for BORE_METRICS: 'localhost'/],
  ];
  for (const [args, env, re] of cases) {
    const proc = new BoreProcess(['server', '--control-port', '0', ...args], env);
    assert.equal(await proc.exited, 2, proc.output);
    assert.match(proc.output, re);
  }
});

/** A BoreServer on loopback with its metrics listener; both closed after the tests. */
async function startInProcess(opts: ConstructorParameters<typeof BoreServer>[0] = {}) {
  const logger = new CaptureLogger();
  const server = new BoreServer({
    minPort: 23300,
    maxPort: 23399,
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    logger,
    ...opts,
  });
  await server.listen();
  const metrics = await startMetrics(server, { host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await server.close(0);
    await metrics.close();
  });
  return { server, metrics, logger };
}

test('/healthz answers 200 ok while listening and 503 once the server is closing', { timeout: 30_000 }, async () => {
  const { server, metrics } = await startInProcess();
  assert.deepEqual(await httpGet(metrics.port, '/healthz'), { status: 200, type: 'text/plain', body: 'ok\n' });
  assert.equal((await httpGet(metrics.port, '/nope')).status, 404);

  // A proxied connection keeps the close in its drain.
  const tunnel = await rawTunnel(server.port);
  const visitor = await connect(tunnel.port);
  visitor.on('error', () => {});
  const data = await rawAccept(server.port, await tunnel.nextConnection());
  data.on('error', () => {});
  visitor.write('x');
  await nextData(data);
  const closing = server.close(5000);
  const during = await httpGet(metrics.port, '/healthz');
  assert.equal(during.status, 503);
  assert.equal(during.body, 'unavailable\n');
  assert.equal((await scrape(metrics.port)).get('bore_up'), 0);
  visitor.destroy();
  data.destroy();
  await closing;
  assert.equal((await httpGet(metrics.port, '/healthz')).status, 503);
});

test('the access log says how a connection ended: unclaimed, reset', { timeout: 30_000 }, async () => {
  const { server, metrics, logger } = await startInProcess({ accessLog: true, acceptTimeoutMs: 1000 });
  const tunnel = await rawTunnel(server.port);

  // Unclaimed: the client never accepts it (the server drops it after acceptTimeoutMs).
  const early = await connect(tunnel.port);
  early.on('error', () => {});
  cleanups.push(() => Promise.resolve(early.destroy()));
  const earlyId = await tunnel.nextConnection();
  await logger.waitFor('connection');
  const [unclaimed, ...more] = logger.find('connection');
  assert.equal(more.length, 0);
  assert.equal(unclaimed?.meta.ended, 'unclaimed');
  assert.equal(unclaimed.meta.port, tunnel.port);
  assert.equal(unclaimed.meta.id, earlyId, 'the id the client was sent');
  const { localAddress, localPort } = tunnel.framed.socket;
  assert.equal(unclaimed.meta.client, `${localAddress}:${localPort}`, "the tunnel's client");
  assert.match(String(unclaimed.meta.visitor), /^127\.0\.0\.1:\d+$/);

  // Reset: the visitor sends 5 bytes, gets 3 back, then resets.
  const visitor = net.connect({ port: tunnel.port, host: '127.0.0.1' });
  visitor.on('error', () => {});
  await once(visitor, 'connect');
  const resetId = await tunnel.nextConnection();
  const data = await rawAccept(server.port, resetId);
  data.on('error', () => {});
  visitor.write('hello');
  await nextData(data);
  data.write('abc');
  await once(visitor, 'data');
  visitor.resetAndDestroy();
  await waitUntil(() => logger.find('connection').length === 2, 'two access log lines', 5000, 20);
  const reset = logger.find('connection')[1];
  assert.equal(reset?.level, 'info');
  assert.equal(reset.meta.ended, 'reset');
  assert.equal(reset.meta.id, resetId);
  assert.equal(reset.meta.bytesIn, 5);
  assert.equal(reset.meta.bytesOut, 3);

  const values = await scrapeUntil(metrics.port, (v) => v.get('bore_received_bytes_total') === 5);
  assert.equal(values.get('bore_public_connections_accepted_total'), 2);
  assert.equal(values.get('bore_public_connections_failed_total'), 1);
  assert.equal(values.get('bore_received_bytes_total'), 5);
  assert.equal(values.get('bore_sent_bytes_total'), 3);
});

test('failed handshakes are counted by reason; a peer that closes without a word is not', { timeout: 30_000 }, async () => {
  const { server, metrics } = await startInProcess({ secret: 'right', handshakeTimeoutMs: 300, maxAuthFailures: 0 });
  // A wrong secret.
  const wrong = await rawConnect(server.port);
  await rawAuthenticate(wrong, 'wrong');
  assert.deepEqual(await wrong.recv(), { type: 'Error', message: 'invalid secret' });
  // Hello without authenticating.
  const skip = await rawConnect(server.port);
  await skip.recv();
  skip.send({ type: 'Hello', port: 0 });
  assert.equal((await skip.recv())?.type, 'Error');
  // Silence until the handshake deadline.
  const silent = await rawConnect(server.port);
  silent.socket.resume();
  await closed(silent.socket);
  // Closed without a word: not a failure.
  const quiet = await connect(server.port);
  quiet.end();
  quiet.resume();
  await closed(quiet);
  const values = await scrapeUntil(metrics.port, (v) => v.get('bore_handshake_failures_total{reason="timeout"}') === 1);
  assert.equal(values.get('bore_handshake_failures_total{reason="invalid-secret"}'), 1);
  assert.equal(values.get('bore_handshake_failures_total{reason="secret-required"}'), 1);
  assert.equal(values.get('bore_handshake_failures_total{reason="timeout"}'), 1);
  assert.equal(values.get('bore_handshake_failures_total{reason="protocol"}'), 0, 'there, at 0');
  for (const s of [wrong, skip]) s.socket.destroy();
});
