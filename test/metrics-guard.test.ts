/**
 * The metrics listener cannot be turned against the server (issue 18): `bore server
 * --metrics` under 200 slow requests holds at most 64 of them (counted in the server's
 * own descriptor table), closes the rest at once and the held ones within seconds, and
 * still answers `/metrics`; a request whose `Host` is a name it was not told of is
 * refused (DNS rebinding), while IP addresses, `localhost` and `--metrics-host` names work.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import { BoreProcess, httpGet } from './helpers/procs.js';
import { METRICS_MAX_CONNECTIONS, METRICS_TIMEOUT_MS, isAllowedHost } from '../src/server/metrics-guard.js';
import { socketsOf } from './helpers/fds.js';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** `bore server --metrics 127.0.0.1:0` with `args`; resolves with it and the metrics port. */
async function serverWithMetrics(args: string[] = []) {
  const server = new BoreProcess(['server', '--control-port', '0', '--bind-addr', '127.0.0.1', '--metrics', '127.0.0.1:0', ...args]);
  cleanups.push(() => server.stop());
  const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  return { server, metricsPort };
}

/** Connects to 127.0.0.1:`port` (not half-open: the server closing it closes it). */
async function connect(port: number): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  await once(socket, 'connect');
  return socket;
}

/** Resolves once `count()` reaches `n`, checked on each socket close; rejects after `timeoutMs`. */
function closedAtLeast(sockets: net.Socket[], n: number, timeoutMs: number, what: string): Promise<void> {
  const count = () => sockets.filter((s) => s.closed).length;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: ${count()} of ${sockets.length} closed after ${timeoutMs} ms`)), timeoutMs);
    const check = () => {
      if (count() < n) return;
      clearTimeout(timer);
      resolve();
    };
    for (const s of sockets) s.once('close', check);
    check();
  });
}

/** GET `path` on 127.0.0.1:`port` with the `Host` header `host`; resolves with status and body. */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host }, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test(
  'bore server --metrics: 200 slow requests are capped at 64, closed within seconds, and /metrics still answers',
  { timeout: 60_000 },
  async () => {
    const { server, metricsPort } = await serverWithMetrics();
    const pid = server.proc.pid!;
    assert.equal((await httpGet(metricsPort, '/healthz')).status, 200);
    const baseline = socketsOf(pid);

    const started = Date.now();
    const slow: net.Socket[] = [];
    for (let i = 0; i < 200; i++) {
      const socket = await connect(metricsPort);
      socket.on('error', () => {});
      socket.resume();
      // A request that never ends: headers sent one at a time, the last never comes.
      socket.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${metricsPort}\r\n`);
      slow.push(socket);
    }
    cleanups.push(() => Promise.resolve(slow.forEach((s) => s.destroy())));
    // Past the cap, the oldest are closed as the new ones come (today: none is).
    await closedAtLeast(slow, 200 - METRICS_MAX_CONNECTIONS, 5000, 'connections past the cap');
    const held = socketsOf(pid) - baseline;
    assert.ok(held <= METRICS_MAX_CONNECTIONS, `the server holds ${held} more sockets than before the attack`);

    // A scrape during the attack gets through (it takes the place of the oldest slow one).
    const during = await httpGet(metricsPort, '/metrics');
    assert.equal(during.status, 200);
    assert.match(during.body, /^bore_up 1$/m);

    // The held ones time out in seconds (Node's defaults: 60 s for the headers, checked every 30 s).
    await closedAtLeast(slow, 200, METRICS_TIMEOUT_MS + 3000, 'slow connections');
    const elapsed = Date.now() - started;
    assert.ok(elapsed < METRICS_TIMEOUT_MS + 3000, `the last slow connection closed after ${elapsed} ms`);
    assert.ok(socketsOf(pid) <= baseline + 1, 'the slow connections are gone from the server');
    assert.equal((await httpGet(metricsPort, '/healthz')).status, 200);
  },
);

test('an idle connection that sends nothing is closed within seconds too', { timeout: 15_000 }, async () => {
  const { metricsPort } = await serverWithMetrics();
  const idle = await connect(metricsPort);
  idle.on('error', () => {});
  idle.resume();
  const started = Date.now();
  await once(idle, 'close');
  assert.ok(Date.now() - started < METRICS_TIMEOUT_MS + 2000, `closed after ${Date.now() - started} ms`);
});

test('the metrics listener answers only an expected Host (DNS rebinding)', { timeout: 30_000 }, async () => {
  const { metricsPort } = await serverWithMetrics();
  const evil = await getWithHost(metricsPort, '/metrics', 'evil.example');
  assert.equal(evil.status, 421);
  assert.match(evil.body, /unexpected Host header/);
  assert.doesNotMatch(evil.body, /bore_/);
  assert.equal((await getWithHost(metricsPort, '/healthz', `evil.example:${metricsPort}`)).status, 421);
  assert.equal((await getWithHost(metricsPort, '/metrics', `127.0.0.1.nip.io:${metricsPort}`)).status, 421);
  assert.equal((await getWithHost(metricsPort, '/metrics', 'metrics.internal')).status, 421);
  for (const host of [`127.0.0.1:${metricsPort}`, '127.0.0.1', `localhost:${metricsPort}`, `[::1]:${metricsPort}`]) {
    const res = await getWithHost(metricsPort, '/metrics', host);
    assert.equal(res.status, 200, `Host: ${host}`);
    assert.match(res.body, /^bore_up 1$/m);
  }
});

test('--metrics-host allows names (any case, with a port or a final dot)', { timeout: 30_000 }, async () => {
  const { metricsPort } = await serverWithMetrics(['--metrics-host', 'metrics.internal,Prom.Example.']);
  for (const host of ['metrics.internal:9100', 'prom.example', 'PROM.example.', `127.0.0.1:${metricsPort}`]) {
    assert.equal((await getWithHost(metricsPort, '/metrics', host)).status, 200, `Host: ${host}`);
  }
  assert.equal((await getWithHost(metricsPort, '/metrics', 'evil.example')).status, 421);
});

test('isAllowedHost: IP literals, localhost and the allowed names, nothing else', () => {
  assert.equal(isAllowedHost(undefined), true);
  assert.equal(isAllowedHost('10.1.2.3:9100'), true);
  assert.equal(isAllowedHost('[fe80::1]'), true);
  assert.equal(isAllowedHost('LOCALHOST'), true);
  assert.equal(isAllowedHost('metrics.internal', ['metrics.internal']), true);
  assert.equal(isAllowedHost('metrics.internal'), false);
  assert.equal(isAllowedHost('localhost.evil.example'), false);
  assert.equal(isAllowedHost('[evil.example]'), false);
  assert.equal(isAllowedHost('127.0.0.1:9100:1'), false);
  assert.equal(isAllowedHost(''), false);
});

test('a bad --metrics-host or BORE_METRICS_HOST is a usage error naming it (exit 2)', { timeout: 30_000 }, async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--metrics-host', 'bad name'], {}, /invalid value for --metrics-host: 'bad name' \('bad name' is not a host name/],
    [['--metrics-host', ','], {}, /invalid value for --metrics-host: ','/],
    [[], { BORE_METRICS_HOST: 'ok.example,under_score' }, /invalid value for BORE_METRICS_HOST: .*'under_score' is not a host name/],
  ];
  for (const [args, env, re] of cases) {
    const proc = new BoreProcess(['server', '--control-port', '0', '--metrics', '127.0.0.1:0', ...args], env);
    assert.equal(await proc.exited, 2, proc.output);
    assert.match(proc.output, re);
  }
});
