/**
 * The series of `/metrics` that alerts and dashboards lean on, from a BoreServer
 * in-process and its metrics listener, over real sockets: `promtool check metrics`
 * passes on a real scrape (and fails on prom-client's defaults, which is what it would
 * catch), every labelled series is there at 0 from the start, tunnels are counted
 * opened and closed by reason, connection setup and duration are histograms, and the
 * bytes of a connection still open show in the byte counters before it closes.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { BoreServer } from '../src/server/server.js';
import { startMetrics } from '../src/server/metrics.js';
import { HANDSHAKE_FAILURE_REASONS, TUNNEL_CLOSE_REASONS } from '../src/server/reasons.js';
import { connect, httpGet } from './helpers/procs.js';
import { CaptureLogger, closed, nextData, rawAccept, rawTunnel } from './helpers/raw-peer.js';
import { parseExposition } from './helpers/exposition.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;
const NO_PROMTOOL = 'promtool not installed (Debian/Ubuntu: apt-get install prometheus)';

/** A BoreServer on loopback with its metrics listener (version `9.9.9-test`); both closed after the tests. */
async function startInProcess(opts: ConstructorParameters<typeof BoreServer>[0] = {}) {
  const server = new BoreServer({
    minPort: 23400,
    maxPort: 23499,
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    logger: new CaptureLogger(),
    ...opts,
  });
  await server.listen();
  const metrics = await startMetrics(server, { host: '127.0.0.1', port: 0, version: '9.9.9-test' });
  cleanups.push(async () => {
    await server.close(0);
    await metrics.close();
  });
  const scrapeText = async () => {
    const res = await httpGet(metrics.port, '/metrics');
    assert.equal(res.status, 200);
    return res.body;
  };
  return { server, metrics, scrapeText, scrape: async () => parseExposition(await scrapeText()) };
}

/** Runs `promtool check metrics` on `text`: its exit status and what it said. */
function promtool(text: string): { status: number | null; said: string } {
  const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: check.status, said: `${check.stdout}${check.stderr}`.trim() };
}

test(
  'promtool check metrics fails on prom-client defaults (the check works) and passes on a scrape of ours',
  { skip: !hasPromtool && NO_PROMTOOL },
  async () => {
    const defaults = new Registry();
    collectDefaultMetrics({ register: defaults });
    const control = promtool(await defaults.metrics());
    assert.notEqual(control.status, 0, 'promtool accepts prom-client defaults: the check below proves nothing');
    assert.match(control.said, /nodejs_active_handles_total non-counter metrics should not have "_total" suffix/);

    const { server, scrapeText } = await startInProcess();
    // Some traffic first, so that every histogram and counter has samples.
    const tunnel = await rawTunnel(server.port);
    const visitor = await connect(tunnel.port);
    const data = await rawAccept(server.port, await tunnel.nextConnection());
    visitor.write('ping');
    await nextData(data);
    visitor.destroy();
    await closed(data);
    const ours = promtool(await scrapeText());
    assert.deepEqual(ours, { status: 0, said: '' });
    tunnel.framed.socket.destroy();
  },
);

test('every labelled series is there at 0 from the start, bore_build_info says the version, docs/operations.md names each', async () => {
  const { scrape, scrapeText } = await startInProcess();
  const values = await scrape();
  const docs = readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8');
  const families = [...(await scrapeText()).matchAll(/^# TYPE (bore_\w+) /gm)].map((m) => m[1] ?? '');
  assert.ok(families.length > 20, families.join());
  for (const name of families) assert.ok(docs.includes(`\`${name}`), `${name} is not in docs/operations.md`);
  assert.equal(values.get('bore_build_info{version="9.9.9-test"}'), 1);
  for (const reason of HANDSHAKE_FAILURE_REASONS) {
    assert.equal(values.get(`bore_handshake_failures_total{reason="${reason}"}`), 0, reason);
  }
  for (const reason of TUNNEL_CLOSE_REASONS) assert.equal(values.get(`bore_tunnels_closed_total{reason="${reason}"}`), 0, reason);
  assert.equal(values.get('bore_tunnels_opened_total'), 0);
  assert.equal(values.get('bore_connection_duration_seconds_count'), 0);
  assert.equal(values.get('bore_connection_setup_seconds_bucket{le="+Inf"}'), 0);
  for (const gone of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    assert.equal(values.get(gone), undefined, gone);
  }
});

test('tunnels are counted when they open and, by reason, when they close', async () => {
  const { server, scrape } = await startInProcess();
  const first = await rawTunnel(server.port);
  const second = await rawTunnel(server.port);
  const closedByClient = once(server, 'tunnelClosed');
  first.framed.socket.end();
  await closedByClient;
  const values = await scrape();
  assert.equal(values.get('bore_tunnels_opened_total'), 2);
  assert.equal(values.get('bore_tunnels_closed_total{reason="client"}'), 1);
  assert.equal(values.get('bore_tunnels_closed_total{reason="shutdown"}'), 0);
  await server.close(0);
  const after = await scrape();
  assert.equal(after.get('bore_tunnels_closed_total{reason="shutdown"}'), 1);
  assert.equal(after.get('bore_tunnels_closed_total{reason="client"}'), 1);
  second.framed.socket.destroy();
});

test('setup (accept to claim) and duration (accept to close) are histograms in seconds', async () => {
  const { server, scrape } = await startInProcess();
  const tunnel = await rawTunnel(server.port);
  const visitor = await connect(tunnel.port);
  const id = await tunnel.nextConnection();
  const accepted = performance.now();
  // The client takes its time to claim the connection: that is the setup measured.
  await new Promise((r) => setTimeout(r, 300));
  const data = await rawAccept(server.port, id);
  visitor.write('x');
  await nextData(data);
  const claimed = performance.now() - accepted;
  const setup = await scrape();
  assert.equal(setup.get('bore_connection_setup_seconds_count'), 1);
  assert.equal(setup.get('bore_connection_setup_seconds_bucket{le="0.25"}'), 0);
  assert.equal(setup.get('bore_connection_setup_seconds_bucket{le="+Inf"}'), 1);
  const setupSeconds = setup.get('bore_connection_setup_seconds_sum') ?? 0;
  assert.ok(setupSeconds >= 0.3 && setupSeconds <= claimed / 1000 + 0.05, `setup ${setupSeconds} s, claimed after ${claimed} ms`);
  assert.equal(setup.get('bore_connection_duration_seconds_count'), 0, 'not closed yet');

  const ended = once(server, 'connectionClosed');
  visitor.destroy();
  await closed(data); // the visitor's FIN, passed on
  data.end();
  await ended;
  const done = await scrape();
  assert.equal(done.get('bore_connection_duration_seconds_count'), 1);
  assert.ok((done.get('bore_connection_duration_seconds_sum') ?? 0) >= setupSeconds);
  assert.equal(done.get('bore_connection_duration_seconds_bucket{le="0.1"}'), 0);
  assert.equal(done.get('bore_connection_duration_seconds_bucket{le="+Inf"}'), 1);
  data.destroy();
  tunnel.framed.socket.destroy();
});

test('the bytes of a connection held open show in the byte counters before it closes, and are not counted twice', async () => {
  const { server, scrape } = await startInProcess();
  const tunnel = await rawTunnel(server.port);
  const visitor = await connect(tunnel.port);
  visitor.on('error', () => {});
  const data = await rawAccept(server.port, await tunnel.nextConnection());
  data.on('error', () => {});

  /** Sends `n` bytes each way through the open connection and waits until both ends have them. */
  const exchange = async (n: number) => {
    let toData = 0;
    let toVisitor = 0;
    const both = new Promise<void>((resolve) => {
      const check = () => toData >= n && toVisitor >= n && resolve();
      data.on('data', (b: Buffer) => ((toData += b.length), check()));
      visitor.on('data', (b: Buffer) => ((toVisitor += b.length), check()));
    });
    data.resume();
    visitor.write(Buffer.alloc(n, 1));
    data.write(Buffer.alloc(n, 2));
    await both;
    data.removeAllListeners('data');
    visitor.removeAllListeners('data');
  };

  await exchange(100_000);
  const first = await scrape();
  assert.equal(first.get('bore_public_connections_active'), 1);
  assert.equal(first.get('bore_received_bytes_total'), 100_000);
  assert.equal(first.get('bore_sent_bytes_total'), 100_000);
  await exchange(50_000);
  const second = await scrape();
  assert.equal(second.get('bore_received_bytes_total'), 150_000, 'the counter rose while the connection stayed open');
  assert.equal(second.get('bore_sent_bytes_total'), 150_000);

  const ended = once(server, 'connectionClosed');
  visitor.end();
  await closed(data);
  data.end();
  await ended;
  const third = await scrape();
  assert.equal(third.get('bore_public_connections_active'), 0);
  assert.equal(third.get('bore_received_bytes_total'), 150_000);
  assert.equal(third.get('bore_sent_bytes_total'), 150_000);
  data.destroy();
  tunnel.framed.socket.destroy();
});
