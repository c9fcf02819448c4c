/**
 * `--inspect` over HTTP: where the inspector listens, its caps on page streams, the
 * library's `startInspector`, and the contract (`/snapshot`, `/graph`, `/events`)
 * against the real CLI. The chart and the hub are `inspector-graph.test.ts`, the page
 * in Chromium `inspector-browser.test.ts`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { assign, createActor, createMachine } from 'xstate';
import { clientMachine } from '../machines/client.js';
import { supervisorMachine } from '../machines/supervisor.js';
import { type InspectorGraph, machineGraph } from '../src/inspector/graph.js';
import { type PublicSnapshot } from '../src/inspector/hub.js';
import { INSPECTOR_MAX_STREAMS, INSPECTOR_STREAM_QUEUE_BYTES, startInspector } from '../src/inspector/server.js';
import { httpGet, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { readEvents } from './helpers/inspect.js';

const SECRET = 'inspector-test-secret-7f3a91';
const PORTS = ['--min-port', '27500', '--max-port', '27599'];

const get = httpGet;

test('the inspector only listens on 127.0.0.1 and reports a taken port clearly', async () => {
  const a = await startInspector({ machine: clientMachine });
  try {
    assert.match(a.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await assert.rejects(
      startInspector({ machine: clientMachine, port: a.port }),
      /inspector could not listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/,
    );
    assert.equal((await get(a.port, '/snapshot')).status, 503);
    assert.equal((await get(a.port, '/nope')).status, 404);
    // A rebound DNS name pointing at 127.0.0.1 is refused (no reading the inspector from a web page).
    const rebound = await new Promise<number>((resolve, reject) =>
      http
        .get({ host: '127.0.0.1', port: a.port, path: '/snapshot', headers: { host: `evil.example:${a.port}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        })
        .on('error', reject),
    );
    assert.equal(rebound, 403);
  } finally {
    await a.close();
  }
});

test("the library's startInspector: with the supervisor, /graph carries the client machine's chart as child", async (t) => {
  const { startInspector: libraryInspector } = await import('../src/index.js');
  const multi = await libraryInspector({ machine: supervisorMachine });
  t.after(() => multi.close());
  const graph = JSON.parse((await get(multi.port, '/graph')).body) as InspectorGraph;
  assert.equal(graph.id, 'supervisor');
  assert.deepEqual(graph.child, JSON.parse(JSON.stringify(machineGraph(clientMachine))));
  const single = await libraryInspector();
  t.after(() => single.close());
  assert.equal((JSON.parse((await get(single.port, '/graph')).body) as InspectorGraph).child, undefined, 'one tunnel: no child chart');
});

/** Opens `/events` on its own connection; resolves once the response head arrives. */
function openEvents(port: number): Promise<{ req: http.ClientRequest; res: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => resolve({ req, res }));
    req.on('error', reject);
  });
}

/** Status of a fresh `/events` request; the stream is closed right away. */
async function eventsStatus(port: number): Promise<number> {
  const { req, res } = await openEvents(port);
  req.destroy();
  return res.statusCode ?? 0;
}

test('the inspector serves at most maxStreams page streams; a closed one frees its place', async (t) => {
  const insp = await startInspector({ machine: clientMachine });
  t.after(() => insp.close());
  const open = await Promise.all(Array.from({ length: INSPECTOR_MAX_STREAMS }, () => openEvents(insp.port)));
  t.after(() => open.forEach((s) => s.req.destroy()));
  assert.deepEqual(new Set(open.map((s) => s.res.statusCode)), new Set([200]));

  const refused = await openEvents(insp.port);
  assert.equal(refused.res.statusCode, 503);
  assert.equal(refused.res.headers['retry-after'], '1');
  let body = '';
  refused.res.setEncoding('utf8').on('data', (c: string) => (body += c));
  await once(refused.res, 'end');
  assert.match(body, new RegExp(`too many inspector pages open \\(at most ${INSPECTOR_MAX_STREAMS}\\)`));

  // A page goes away: its place is given to the next one (once the server has seen the close).
  open.shift()!.req.destroy();
  let status = 503;
  for (let tries = 0; status === 503 && tries < 100; tries++) {
    const s = await openEvents(insp.port);
    status = s.res.statusCode ?? 0;
    if (status === 200) open.push(s);
    else s.req.destroy();
  }
  assert.equal(status, 200, 'a closed stream frees its place');
  assert.equal(await eventsStatus(insp.port), 503, 'and the cap still holds');
});

test('a page stream that stops reading is closed once its queue passes the bound', async (t) => {
  const insp = await startInspector({ machine: clientMachine, maxStreams: 1 });
  t.after(() => insp.close());
  // A page that reads the head and the hello, then stops reading.
  const page = net.connect(insp.port, '127.0.0.1');
  page.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${insp.port}\r\n\r\n`);
  const head = await new Promise<string>((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('event: hello')) return;
      page.off('data', onData).pause();
      resolve(text);
    };
    page.on('data', onData);
  });
  assert.match(head, /^HTTP\/1\.1 200/);
  t.after(() => page.destroy());
  assert.equal(await eventsStatus(insp.port), 503, 'the stalled page holds the only place');

  // Big snapshots (256 KiB of context each) fill the kernel's buffers, then the queue.
  const blob = 'x'.repeat(INSPECTOR_STREAM_QUEUE_BYTES);
  const machine = createMachine({
    types: {} as { context: { blob: string; n: number } },
    context: { blob: '', n: 0 },
    on: { GROW: { actions: assign({ blob, n: ({ context }) => context.n + 1 }) } },
  });
  const actor = createActor(machine, { inspect: insp.inspect }).start();
  t.after(() => actor.stop());
  let freed = false;
  let sent = 0;
  // 400 updates are 100 MiB: far more than loopback buffers hold.
  for (; !freed && sent < 400; sent++) {
    actor.send({ type: 'GROW' });
    await new Promise((r) => setImmediate(r)); // the hub delivers on setImmediate
    freed = (await eventsStatus(insp.port)) === 200;
  }
  assert.ok(freed, `the stalled stream was still open after ${sent} updates of ${blob.length} bytes`);
  // The server closed the connection: reading again reaches its end.
  page.resume();
  await once(page, 'close');
});

test('bore local --inspect: /snapshot, /graph and /events follow the tunnel; no secret, no CDN', async (t) => {
  const server = await startServer([...PORTS, '--secret', SECRET]);
  const echo = await startEchoServer();
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect', '--secret', SECRET]);
  t.after(() => client.stop());
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);

  // Our server offers the pool the client asks for (4 by default), and its connections prove the secret.
  await readEvents(port, (event, data) => event === 'snapshot' && data.context?.pool?.idle === 4);
  const snap = await get(port, '/snapshot');
  assert.equal(snap.status, 200);
  assert.match(snap.type, /application\/json/);
  const body = JSON.parse(snap.body);
  assert.deepEqual(body.value, { listening: { heartbeat: 'alive', pool: 'open' } });
  assert.deepEqual({ size: body.context.pool.size, idle: body.context.pool.idle }, { size: 4, idle: 4 });
  assert.doesNotMatch(snap.body, /token/, 'the pool token is never shown');
  assert.equal(body.context.publicPort, client.publicPort);
  assert.equal(body.context.attempt, 1);
  assert.equal(body.context.control, undefined, 'no connection objects in the context');
  assert.equal(body.context.runtime, undefined);

  const page = await get(port, '/');
  assert.match(page.type, /text\/html/);
  // offline: every resource the page loads is ours
  const refs = [...page.body.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(refs.sort(), ['/app.css', '/app.js']);
  for (const asset of ['/app.js', '/app.css']) {
    const r = await get(port, asset);
    assert.equal(r.status, 200);
    assert.doesNotMatch(
      r.body,
      /https?:\/\/(?!127\.0\.0\.1|www\.w3\.org\/2000\/svg)[a-z]/i,
      `${asset} must not load anything from the internet`,
    );
  }
  const graph = JSON.parse((await get(port, '/graph')).body);
  assert.deepEqual(graph, JSON.parse(JSON.stringify(machineGraph(clientMachine))));

  // the server dies: the stream shows the loss and the retry schedule
  const stream = readEvents(port, (event, data) => event === 'snapshot' && data.value === 'backoff');
  await server.stop('SIGKILL');
  const text = await stream;
  const backoff = JSON.parse((await get(port, '/snapshot')).body);
  assert.ok(['backoff', 'connecting'].includes(backoff.value), `state after the loss: ${JSON.stringify(backoff.value)}`);
  assert.equal(backoff.context.lastError.class, 'retriable');
  assert.match(text, /"kind":"transition"[^}]*"to":"backoff"/);
  for (const out of [snap.body, text, JSON.stringify(backoff), client.output])
    assert.ok(!out.includes(SECRET), 'the secret never leaves the process');
});

test('bore local --inspect: when the tunnel gives up, open pages get the final state (fatal), then the end', async (t) => {
  const server = await startServer(PORTS);
  const echo = await startEchoServer();
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--inspect', '--no-reconnect']);
  t.after(() => client.stop());
  const port = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const stream = readEvents(port, (event) => event === 'end');
  await client.waitFor(/listening at/);
  // Once the page has its first snapshot, the server goes away: no reconnecting, the tunnel gives up.
  await readEvents(port, (event) => event === 'snapshot');
  await server.stop('SIGKILL');
  const text = await stream;
  const snapshots = [...text.matchAll(/^event: snapshot\ndata: (.*)$/gm)].map((m) => JSON.parse(m[1]!) as PublicSnapshot);
  const last = snapshots[snapshots.length - 1]!;
  assert.equal(last.value, 'fatal', `the last snapshot before the end: ${JSON.stringify(last.value)}`);
  assert.equal(last.status, 'done');
  assert.ok(text.indexOf('event: end') > text.lastIndexOf('event: snapshot'), 'the end comes after the final snapshot');
  assert.notEqual(await client.exited, 0);
});

test('bore local --inspect rejects a bad port with a usage error', async () => {
  const { BoreProcess } = await import('./helpers/procs.js');
  const p = new BoreProcess(['local', '3000', '--to', '127.0.0.1', '--inspect=99999']);
  assert.equal(await p.exited, 2);
  assert.match(p.output, /invalid value for --inspect: '99999'/);
});
