/**
 * The inspector as a dashboard (issue 22): the books of public connections the proxies
 * actor keeps and the inspector samples, the texts of the header and the log, the
 * `/control` endpoint's refusals (another origin, no token) against the real CLI, and
 * the page in a real headless Chromium: the header, a connection in the table with its
 * bytes, "reconnect now" and "stop" doing what they say, a cross-origin form refused.
 * With `BORE_DOCS_SCREENSHOTS=1` the screenshots are written to docs/ (else to
 * test-artifacts/).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConnectionBook } from '../src/net/connection-book.js';
import { TrafficSampler } from '../src/inspector/traffic.js';
import { friendlyEvent, friendlyLogText, isRoutine, stateSentence } from '../src/inspector/page/dashboard.js';
import type { ChildSnapshotView, TrafficView } from '../src/inspector/page/wire.js';
import { BoreProcess, connect, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { launchBrowser, readEvents } from './helpers/inspect.js';

const PORTS = ['--min-port', '27800', '--max-port', '27899'];
const SCREENSHOTS = fileURLToPath(new URL(process.env.BORE_DOCS_SCREENSHOTS ? '../docs/' : '../test-artifacts/', import.meta.url));

/** Two connected loopback sockets. */
async function socketPair(): Promise<[net.Socket, net.Socket, () => void]> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[net.Socket]>;
  const near = net.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  const [far] = await accepted;
  await once(near, 'connect');
  return [near, far, () => server.close()];
}

test('the connection books: bytes from the sockets own counters, how each ended, a bounded ring of closed ones', async (t) => {
  let now = 1000;
  const book = new ConnectionBook(() => now);
  // One connection: `local` is the socket to the local service, `remote` the one to the server.
  const [remote, remotePeer, closeA] = await socketPair();
  const [local, service, closeB] = await socketPair();
  t.after(() => (closeA(), closeB()));
  const done = book.open('c1', remote, local);
  local.write(Buffer.alloc(3000)); // visitor → service
  service.write(Buffer.alloc(500)); // service → visitor
  await new Promise<void>((resolve) => {
    let got = 0;
    service.on('data', (c: Buffer) => (got += c.length) >= 3000 && resolve());
  });
  await new Promise<void>((resolve) => (local.bytesRead >= 500 ? resolve() : local.on('data', () => local.bytesRead >= 500 && resolve())));
  let s = book.sample();
  assert.deepEqual([s.open, s.opened, s.closed, s.bytesIn, s.bytesOut], [1, 1, 0, 3000, 500]);
  assert.deepEqual(
    s.openList.map((r) => [r.id, r.openedAt, r.bytesIn, r.bytesOut]),
    [['c1', 1000, 3000, 500]],
  );
  // The visitor's side ends first (the server relays its FIN).
  remotePeer.end();
  await once(remote, 'end');
  now = 4000;
  remote.destroy();
  local.destroy();
  await Promise.all([once(remote, 'close'), once(local, 'close')]);
  done();
  s = book.sample();
  assert.deepEqual([s.open, s.closed, s.bytesIn, s.bytesOut], [0, 1, 3000, 500], 'closed bytes stay in the totals');
  assert.deepEqual(s.recent, [{ id: 'c1', openedAt: 1000, closedAt: 4000, bytesIn: 3000, bytesOut: 500, end: 'visitor closed' }]);
  assert.equal(book.sockets().length, 0);

  // The ring keeps the last RECENT, newest first.
  for (let i = 0; i < ConnectionBook.RECENT + 5; i++) {
    const [a, , ca] = await socketPair();
    const [b, peer, cb] = await socketPair();
    const close = book.open(`n${i}`, a, b);
    peer.destroy(); // the service's side goes first
    await once(b, 'end').catch(() => {});
    a.destroy();
    b.destroy();
    await Promise.all([once(a, 'close'), once(b, 'close')]);
    close();
    ca();
    cb();
  }
  s = book.sample();
  assert.equal(s.recent.length, ConnectionBook.RECENT);
  assert.equal(s.recent[0]!.id, `n${ConnectionBook.RECENT + 4}`);
  assert.equal(s.recent.at(-1)!.id, 'n5');
  assert.equal(s.recent[0]!.end, 'service closed');
  assert.equal(s.closed, ConnectionBook.RECENT + 6);
});

test('the traffic sampler: a rate from two samples, the history bounded, a page first gets all of it', () => {
  let now = 0;
  const book = new ConnectionBook(() => now);
  const fake = { local: { bytesWritten: 0, bytesRead: 0 } };
  const sampler = new TrafficSampler(() => new Map([['', book]]));
  // A socket whose byte counters the test sets (it never connects).
  const socket = (bytes: { bytesWritten: number; bytesRead: number }) =>
    Object.defineProperties(new net.Socket(), {
      bytesWritten: { get: () => bytes.bytesWritten },
      bytesRead: { get: () => bytes.bytesRead },
    });
  book.open('x', socket({ bytesWritten: 0, bytesRead: 0 }), socket(fake.local));
  now = 1000;
  sampler.sample();
  fake.local.bytesWritten = 5000;
  fake.local.bytesRead = 1000;
  now = 3000;
  const ev = sampler.sample();
  const point = ev.tunnels['']!.history[0]!;
  assert.equal(ev.full, false);
  assert.equal(ev.tunnels['']!.history.length, 1, 'a broadcast carries the new point only');
  assert.deepEqual([point.inRate, point.outRate, point.open], [2500, 500, 1]);
  for (let i = 0; i < TrafficSampler.HISTORY + 10; i++) sampler.sample();
  const whole: TrafficView = sampler.whole();
  assert.equal(whole.full, true);
  assert.equal(whole.tunnels['']!.history.length, TrafficSampler.HISTORY);
});

test('the header sentence and the log: states in words, friendly event names, routine lines marked', () => {
  const view = (active: string[], context: ChildSnapshotView['context']): ChildSnapshotView => ({
    value: active[0],
    active,
    status: active[0] === 'stopped' || active[0] === 'fatal' ? 'done' : 'active',
    context: { settings: { to: 'bore.example.com', controlPort: 7835, localHost: 'localhost', localPort: 3000 }, ...context },
  });
  assert.deepEqual(stateSentence(view(['listening'], { attempt: 1 }), 0), { text: 'listening', tone: 'ok' });
  assert.deepEqual(
    stateSentence(
      view(['backoff'], {
        attempt: 3,
        nextRetryAt: 7000,
        lastError: { message: 'connection refused', code: 'connect-refused', class: 'transient' },
      }),
      100,
    ),
    { text: 'reconnecting to bore.example.com:7835 in 7 s, attempt 4: connection refused', tone: 'wait' },
  );
  assert.deepEqual(stateSentence(view(['fatal'], { lastError: { message: 'invalid secret', code: 'auth-failed', class: 'fatal' } }), 0), {
    text: 'stopped: invalid secret',
    tone: 'bad',
  });
  assert.deepEqual(stateSentence(view(['stopped'], {}), 0), { text: 'stopped', tone: 'off' });
  const refused = 'could not connect to the server at bore.example.com:7835: connection refused (ECONNREFUSED)';
  assert.equal(
    stateSentence(view(['backoff'], { attempt: 1, lastError: { message: refused, code: 'connect-refused', class: 'transient' } }), 0).text,
    'reconnecting to bore.example.com:7835, attempt 2: connection refused (ECONNREFUSED)',
    'the server is not named twice',
  );
  assert.equal(stateSentence(view(['connecting'], { attempt: 1 }), 0).text, 'connecting to bore.example.com:7835');
  assert.equal(friendlyEvent('xstate.after.retryDelay.bore.backoff'), 'retry delay over');
  assert.equal(friendlyEvent('SERVER.HEARTBEAT'), 'server heartbeat');
  assert.equal(friendlyEvent('SOMETHING.NEW'), 'SOMETHING.NEW');
  const line = { seq: 1, time: 0, count: 9, kind: 'event' as const, event: 'SERVER.HEARTBEAT' };
  assert.equal(friendlyLogText(line), 'server heartbeat  \u00d79');
  assert.ok(isRoutine(line));
  assert.ok(isRoutine({ ...line, event: 'SERVER.POOL' }));
  assert.ok(!isRoutine({ ...line, event: 'CONTROL.LOST' }));
  const pool = {
    seq: 2,
    time: 0,
    count: 1,
    kind: 'transition' as const,
    event: 'SERVER.POOL',
    from: 'listening.pool.asking',
    to: 'listening.pool.open',
  };
  assert.ok(isRoutine(pool), "a change of the pool's region leaves the tunnel listening");
  const lost = { ...pool, event: 'CONTROL.LOST', from: 'listening.pool.open', to: 'backoff' };
  assert.ok(!isRoutine(lost));
  assert.equal(friendlyLogText(lost), 'listening \u2192 backoff   (control connection lost)');
});

/** A POST to `/control` with the given headers; resolves with the status and body. */
function post(port: number, headers: Record<string, string>, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/control', method: 'POST', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The page's token, read the way a page of this origin can. */
async function pageToken(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`);
  const m = /<meta name="bore-token" content="([^"]+)">/.exec(await res.text());
  assert.ok(m, 'the page carries its token');
  return m[1]!;
}

test('POST /control: refused from another origin, without the token, or not as JSON; obeyed from the page', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  const client = await startClient(echo.port, server.controlPort, ['--inspect']);
  t.after(() => client.stop('SIGKILL'));
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const token = await pageToken(port);
  assert.equal(await pageToken(port), token, 'one token per run');
  assert.ok(token.length >= 32);
  const own = `http://127.0.0.1:${port}`;
  const json = 'application/json';
  const stop = JSON.stringify({ tunnel: '', action: 'stop' });
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['another origin, even with the token', { origin: 'http://evil.example', 'x-bore-token': token, 'content-type': json }, stop, /Origin/],
    ['another loopback port', { origin: 'http://127.0.0.1:1', 'x-bore-token': token, 'content-type': json }, stop, /Origin/],
    ['no Origin', { 'x-bore-token': token, 'content-type': json }, stop, /Origin/],
    [
      'a cross-site fetch',
      { origin: own, 'sec-fetch-site': 'cross-site', 'x-bore-token': token, 'content-type': json },
      stop,
      /Sec-Fetch-Site/,
    ],
    ['no token', { origin: own, 'content-type': json }, stop, /token/],
    ['a wrong token', { origin: own, 'x-bore-token': `${token.slice(1)}x`, 'content-type': json }, stop, /token/],
    ['a form, not JSON', { origin: own, 'x-bore-token': token, 'content-type': 'text/plain' }, stop, /application\/json/],
  ];
  for (const [what, headers, body, reason] of cases) {
    const res = await post(port, headers, body);
    assert.equal(res.status, 403, `${what}: ${res.status} ${res.body}`);
    assert.match(res.body, reason, what);
  }
  const ok = { origin: own, 'x-bore-token': token, 'content-type': json };
  assert.equal((await post(port, ok, '{"tunnel":"","action":"explode"}')).status, 400);
  const early = await post(port, ok, JSON.stringify({ tunnel: '', action: 'reconnect' }));
  assert.deepEqual([early.status, early.body.trim()], [409, 'the tunnel process is not waiting to reconnect']);
  assert.equal(client.proc.exitCode, null, 'nothing refused stopped the tunnel');
  const res = await post(port, ok, stop);
  assert.deepEqual([res.status, res.body.trim()], [202, 'the tunnel process: stopping']);
  assert.equal(await client.exited, 0, 'the tunnel stopped as asked');
});

test('the dashboard in a real browser: header, a connection with its bytes, reconnect now, stop, a cross-origin form refused', async (t) => {
  const browser = await launchBrowser(t);
  if (!browser) return;
  const echo = await startEchoServer();
  t.after(() => echo.close());
  let server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  const controlPort = server.controlPort;
  const client = await startClient(echo.port, controlPort, ['--inspect', '--local-host', '127.0.0.1']);
  t.after(() => client.stop('SIGKILL'));
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`http://127.0.0.1:${port}/`);

  // The header: local → public, the sentence, the buttons that apply.
  await page.waitForSelector('#state[data-tone="ok"]:has-text("listening")', { timeout: 10_000 });
  assert.equal(await page.textContent('#addr-local'), `127.0.0.1:${echo.port}`);
  assert.equal(await page.textContent('#addr-public'), `127.0.0.1:${client.publicPort}`);
  assert.ok(await page.isDisabled('#reconnect'), 'nothing to skip while listening');
  assert.ok(await page.isEnabled('#stop'));
  assert.ok(await page.isEnabled('#copy'));
  // Routine events are in the log but hidden until asked for.
  await page.waitForSelector('#log li.routine[data-event="SERVER.HEARTBEAT"]', { state: 'attached', timeout: 5000 });
  assert.ok(await page.isHidden('#log li.routine[data-event="SERVER.HEARTBEAT"]'));
  await page.check('#show-routine');
  assert.ok(await page.isVisible('#log li.routine[data-event="SERVER.HEARTBEAT"]'));
  await page.uncheck('#show-routine');

  // A visitor: its connection appears in the table, with its bytes each way, then how it ended.
  const visitor = await connect(client.publicPort);
  visitor.on('data', () => {});
  visitor.write(Buffer.alloc(120_000, 7));
  const row = 'table.conns tr.open';
  await page.waitForSelector(`${row} td[data-col="in"]:has-text("120 KB")`, { timeout: 10_000 });
  assert.equal(await page.textContent(`${row} td[data-col="out"]`), '120 KB', 'the echo came back');
  assert.equal(await page.textContent(`${row} td[data-col="end"]`), 'open');
  await page.waitForSelector('#traffic-stats:has-text("1 open")');
  await page.waitForSelector('#rates polyline.rate-in', { state: 'attached', timeout: 5000 });
  await page.evaluate('window.scrollTo(0, 0)');
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}inspector-dashboard.png` });
  await page.setViewportSize({ width: 400, height: 800 });
  await page.evaluate('window.scrollTo(0, 0)');
  const scrollWidth = await page.evaluate<number>('document.documentElement.scrollWidth');
  assert.ok(scrollWidth <= 400, `400 px: the page is ${scrollWidth} px wide`);
  await page.screenshot({ path: `${SCREENSHOTS}inspector-narrow.png` });
  await page.setViewportSize({ width: 1280, height: 800 });
  visitor.end();
  await page.waitForSelector('table.conns tr.closed td[data-col="end"]:has-text("visitor closed")', { timeout: 10_000 });

  // Another site's page posts a form at the inspector: refused (its Origin), the tunnel keeps listening.
  const evil = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<form method="POST" action="http://127.0.0.1:${port}/control" enctype="text/plain">
      <input name='{"tunnel":"","action":"stop","x":"' value='"}'></form><script>document.forms[0].submit()</script>`);
  });
  evil.listen(0, '127.0.0.1');
  await once(evil, 'listening');
  t.after(() => evil.close());
  const attacker = await browser.newPage();
  const refused = attacker.waitForResponse((r) => r.url().endsWith('/control'));
  await attacker.goto(`http://127.0.0.1:${(evil.address() as net.AddressInfo).port}/`);
  const answer = await refused;
  assert.equal(answer.status(), 403);
  assert.match(await answer.text(), /Origin/);
  await attacker.close();
  assert.equal(client.proc.exitCode, null);
  assert.match((await page.textContent('#state'))!, /listening/);

  // The server goes away: the client waits longer each time; "reconnect now" skips the wait.
  await server.stop('SIGKILL');
  await page.waitForSelector('#state:has-text("in 4 s"), #state:has-text("in 3 s")', { timeout: 15_000 });
  server = await new Promise<typeof server>((resolve, reject) => {
    const proc = new BoreProcess(['server', '--control-port', String(controlPort), ...PORTS]);
    proc.waitFor(/server listening/).then(() => resolve(Object.assign(proc, { controlPort })), reject);
  });
  const sentence = (await page.textContent('#state'))!;
  assert.match(sentence, new RegExp(`^reconnecting to 127\\.0\\.0\\.1:${controlPort} in \\d s, attempt \\d: `));
  const waitLeft = Number(/in (\d) s/.exec(sentence)![1]);
  assert.ok(await page.isEnabled('#reconnect'));
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: `${SCREENSHOTS}inspector.png` });
  // The statechart at its default zoom (100%, the whole width in view), scrolled to the state the tunnel waits in.
  await page.locator('#chart-wrap').scrollIntoViewIfNeeded();
  await page.screenshot({ path: `${SCREENSHOTS}inspector-chart.png` });
  await page.evaluate('window.scrollTo(0, 0)');
  const clicked = Date.now();
  await page.click('#reconnect');
  await page.waitForSelector('#control-msg:has-text("reconnecting now")', { timeout: 5000 });
  await page.waitForSelector('#state[data-tone="ok"]:has-text("listening")', { timeout: 10_000 });
  assert.ok(
    Date.now() - clicked < (waitLeft - 1) * 1000,
    `listening again ${Date.now() - clicked} ms after the click, before the ${waitLeft} s wait`,
  );
  await page.waitForSelector('#log li.event[data-event="RETRY_NOW"]', { state: 'attached' });

  // "stop": asks first, then the tunnel stops and the process exits.
  page.once('dialog', (d) => void d.accept());
  await page.click('#stop');
  await page.waitForSelector('#state[data-tone="off"]:has-text("stopped")', { timeout: 10_000 });
  assert.equal(await client.exited, 0);
  await page.waitForSelector('#conn.conn-ended');
  assert.deepEqual(errors, []);
});

test('POST /control with several tunnels: "stop" on one tunnel stops it alone; "reconnect" names a tunnel that is not waiting', async (t) => {
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer(PORTS);
  t.after(() => server.stop('SIGKILL'));
  // Both ports fixed: a random one could be 27850 (1 in 100), taken before the other asks.
  const [a, b] = [`${echo.port}:27851`, `${echo.port}:27850`];
  const local = new BoreProcess(['local', a, b, '--to', '127.0.0.1', '--control-port', String(server.controlPort), '--inspect']);
  t.after(() => local.stop('SIGKILL'));
  const port = Number((await local.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  await local.waitFor(/listening at 127\.0\.0\.1:27851 /);
  await local.waitFor(/listening at 127\.0\.0\.1:27850 /);
  // What /control acts on is the inspector's view of each tunnel's machine: wait until it
  // shows both listening (under load it can trail the log line).
  await readEvents(port, (event, data) => {
    const children = (data as { children?: Record<string, { status: string; active: string[] }> }).children;
    return (
      event === 'snapshot' && [a, b].every((name) => children?.[name]?.status === 'active' && children[name].active.includes('listening'))
    );
  });
  const headers = { origin: `http://127.0.0.1:${port}`, 'x-bore-token': await pageToken(port), 'content-type': 'application/json' };
  const ask = (tunnel: string, action: string) => post(port, headers, JSON.stringify({ tunnel, action }));
  assert.deepEqual(await ask('nope', 'stop'), { status: 409, body: 'tunnel nope is not running\n' });
  assert.deepEqual(await ask(a, 'reconnect'), { status: 409, body: `tunnel ${a} is not waiting to reconnect\n` });
  assert.deepEqual(
    await ask('', 'reconnect'),
    { status: 409, body: 'the tunnel process is not waiting to reconnect\n' },
    'the supervisor has no wait',
  );
  assert.deepEqual(await ask(b, 'stop'), { status: 202, body: `tunnel ${b}: stopping\n` });
  // The tunnel logs its stop; its public port is closed, the other one still listens.
  await local.waitFor(new RegExp(`stopped .*tunnel=${b.replace(/:/g, '\\:')}`));
  // The server closes the public port once it has seen the control connection end.
  await server.waitFor(/client disconnected port=27850/);
  const refused = net.connect({ port: 27850, host: '127.0.0.1' });
  await assert.rejects(once(refused, 'connect'), /ECONNREFUSED/);
  const snapshot = (await (await fetch(`http://127.0.0.1:${port}/snapshot`)).json()) as {
    context: { tunnels: Record<string, { state: string }> };
  };
  assert.equal(snapshot.context.tunnels[a]?.state, 'listening');
  assert.equal(snapshot.context.tunnels[b]?.state, 'stopped');
  assert.equal(local.proc.exitCode, null, 'the process keeps its other tunnel');
});
