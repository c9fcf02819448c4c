/**
 * The multiplexed connection end to end with the real CLI: by default it takes the
 * visitors of a burst past the pool; with `--mux-first` every visitor (plaintext with a
 * secret, and TLS, several mappings); a transfer in flight across a control reconnect,
 * a client without a pool offer that never asks; the server's side against raw sockets
 * (the acknowledgement, a visitor's stream, a malformed frame closing only the
 * multiplexed connection); and the client's side against a bore-ts server that does
 * not know `MuxJoin` (it keeps to the pool).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BoreServer } from '../src/server/server.js';
import { ClientMux } from '../src/client/mux.js';
import { MUX_HEADER, MuxType, muxHeader } from '../src/protocol/mux-frames.js';
import { relayedTunnel, sendAcrossControlCut } from './helpers/held-sink.js';
import { readEvents } from './helpers/inspect.js';
import {
  BoreProcess,
  connect,
  httpGet,
  roundTrip,
  serverPoolIdle,
  sha256,
  startClient,
  startEchoServer,
  startServer,
} from './helpers/procs.js';
import { ByteReader } from './helpers/replay.js';

const RANGE = ['--min-port', '26700', '--max-port', '26799'];
const SECRET = 'mux-test-secret-7d1e';

/** `count` visitors at once, each a sha256-checked echo of its own bytes (one of them 4 MiB): how many came back whole. */
async function echoes(port: number, count: number): Promise<number> {
  const ok = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const data = randomBytes(i === 0 ? 4 * 1024 * 1024 : 1000 + i * 331);
      return sha256(await roundTrip(await connect(port), data)) === sha256(data);
    }),
  );
  return ok.filter(Boolean).length;
}

test('by default: no multiplexed connection until a visitor finds the pool empty; then a burst past the pool rides it', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--log-level', 'debug']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--pool', '2', '--log-level', 'debug', '--inspect=0']);
  t.after(() => client.stop());
  const inspect = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const poolFull = () =>
    readEvents(inspect, (event, data) => event === 'snapshot' && data.context?.pool?.idle === 2 && data.context.pool.size === 2);
  await poolFull();
  await serverPoolIdle(server, 2);
  // Two visitors for a pool of two: each finds an idle pooled connection; no multiplexed connection is opened.
  for (let i = 0; i < 2; i++) assert.equal(await echoes(client.publicPort, 1), 1);
  assert.doesNotMatch(client.output, /opening the multiplexed connection/);
  // A burst: those past the pool take the standard path, and the first of them opens it.
  const said = (re: RegExp) => server.output.match(re)?.length ?? 0;
  assert.equal(await echoes(client.publicPort, 20), 20);
  assert.ok(said(/new connection port=/g) >= 1, 'the burst found the pool empty');
  await client.waitFor(/multiplexed connection ready/);
  await poolFull();
  await serverPoolIdle(server, 2);
  // The next burst: the pool's two first, the rest multiplexed, none on the standard path.
  const before = {
    standard: said(/new connection port=/g),
    pooled: said(/new connection, through the pool/g),
    mux: said(/new connection, multiplexed/g),
  };
  assert.equal(await echoes(client.publicPort, 40), 40);
  assert.equal(said(/new connection port=/g), before.standard, 'none took the standard path');
  // (The pool refills as its visitors are answered, so it may serve a few more.)
  const pooled = said(/new connection, through the pool/g) - before.pooled;
  assert.ok(pooled >= 2, `the idle pooled connections first: ${pooled}`);
  const multiplexed = said(/new connection, multiplexed/g) - before.mux;
  assert.equal(pooled + multiplexed, 40);
  assert.ok(multiplexed >= 20, `most of the burst multiplexed: ${multiplexed}`);
});

test('--mux-first with a secret: 50 visitors at once over one multiplexed connection, none through the pool', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--log-level', 'debug', '--metrics', '127.0.0.1:0'], { BORE_SECRET: SECRET });
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--mux-first', '--pool', '1', '--log-level', 'debug', '--inspect=0'], {
    BORE_SECRET: SECRET,
  });
  t.after(() => client.stop());
  await client.waitFor(/multiplexed connection ready/);
  await server.waitFor(/multiplexed connection joined/);
  assert.equal(await echoes(client.publicPort, 50), 50);
  // The view counts them (read when asked, as the pool's counts are).
  const inspect = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const snap = JSON.parse((await httpGet(inspect, '/snapshot')).body) as { context: { pool: { multiplexed: unknown; served: number } } };
  assert.deepEqual(snap.context.pool.multiplexed, { ready: true, served: 50 });
  assert.equal(snap.context.pool.served, 0);
  // The server counts them apart from the pool's.
  const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
  const metrics = (await httpGet(metricsPort, '/metrics')).body;
  assert.match(metrics, /^bore_public_connections_multiplexed_total 50$/m);
  assert.match(metrics, /^bore_public_connections_pooled_total 0$/m);
  assert.match(metrics, /^bore_public_connections_accepted_total 50$/m);
  assert.equal(server.output.match(/new connection, multiplexed/g)?.length, 50);
  assert.doesNotMatch(server.output, /through the pool/);
  assert.doesNotMatch(client.output, /pool: public connection/);
});

test("--mux over TLS: the multiplexed connection is the tunnel's TLS, visitors come back whole", async (t) => {
  const echo = await startEchoServer();
  const dir = mkdtempSync(join(tmpdir(), 'bore-mux-tls-'));
  const server = await startServer([...RANGE, '--tls-self-signed', dir, '--require-tls', '--log-level', 'debug']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const pin = (await server.waitFor(/--tls-fingerprint (sha256:[0-9A-F]{64})/))[1]!;
  const client = await startClient(echo.port, server.controlPort, [
    '--tls',
    '--tls-fingerprint',
    pin,
    '--mux-first',
    '--log-level',
    'debug',
  ]);
  t.after(() => client.stop());
  await client.waitFor(/multiplexed connection ready/);
  assert.equal(await echoes(client.publicPort, 20), 20);
  assert.equal(server.output.match(/new connection, multiplexed/g)?.length, 20);
  // --require-tls refuses plaintext: the multiplexed connection, accepted, was TLS.
  assert.doesNotMatch(server.output, /refused|plaintext/i);
});

test('--mux-first: a transfer in flight across a control reconnect arrives intact; the next session multiplexes again', async (t) => {
  const { server, relay, sink, client, data } = await relayedTunnel(t, RANGE, ['--mux-first', '--log-level', 'debug']);
  const total = data.length;
  await client.waitFor(/multiplexed connection ready/);
  const mark = client.output.length;
  const { receivedAtReconnect, digest } = await sendAcrossControlCut(client, client.publicPort, relay, sink, data);
  assert.ok(receivedAtReconnect < total, `in flight at the reconnect (${receivedAtReconnect} of ${total})`);
  assert.equal(digest, sha256(data));
  assert.match(server.output, /new connection, multiplexed/);
  await client.waitFor(/multiplexed connection ready/, 10_000, mark);
  assert.equal(server.output.match(/multiplexed connection joined/g)?.length, 2, 'a new session, a new multiplexed connection');
});

test('--mux-first with several mappings in one process: each tunnel multiplexes its own visitors', async (t) => {
  const echo = await startEchoServer();
  const other = await startEchoServer();
  const server = await startServer([...RANGE, '--log-level', 'debug']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
    await other.close();
  });
  const client = new BoreProcess(
    [
      'local',
      String(echo.port),
      String(other.port),
      '--to',
      '127.0.0.1',
      '--control-port',
      String(server.controlPort),
      '--mux-first',
      '--log-level',
      'debug',
    ],
    {},
  );
  t.after(() => client.stop());
  await client.waitFor(/listening at [\s\S]*listening at /);
  await server.waitFor(/multiplexed connection joined[\s\S]*multiplexed connection joined/);
  const listening = [...client.output.matchAll(/listening at 127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
  assert.equal(new Set(listening).size, 2, client.output);
  for (const port of listening) assert.equal(await echoes(port, 10), 10);
  assert.equal(server.output.match(/new connection, multiplexed/g)?.length, 20);
});

test('the multiplexed connection with no pool offered (--max-pool 0, as a server that does not know the pool): never asked, the standard path works', async (t) => {
  const echo = await startEchoServer();
  const server = await startServer([...RANGE, '--max-pool', '0', '--log-level', 'debug']);
  t.after(async () => {
    await server.stop('SIGKILL');
    await echo.close();
  });
  const client = await startClient(echo.port, server.controlPort, ['--mux', '--log-level', 'debug']);
  t.after(() => client.stop());
  assert.equal(await echoes(client.publicPort, 5), 5);
  assert.doesNotMatch(server.output, /multiplexed/);
  assert.doesNotMatch(client.output, /multiplexed/);
});

/** Frames read off a raw multiplexed connection, header by header. */
async function frame(reader: ByteReader): Promise<{ type: number; stream: number; length: number; payload?: Buffer }> {
  const h = await reader.read(MUX_HEADER);
  const f = { type: h[0]!, stream: h.readUInt32BE(1), length: h.readUInt32BE(5) };
  return f.type === MuxType.DATA ? { ...f, payload: await reader.read(f.length) } : f;
}

test('server, raw: MuxJoin is acknowledged, a visitor is a stream both ways, a malformed frame closes only that connection', async (t) => {
  const logs: string[] = [];
  const log = (level: string) => (msg: string, fields?: object) => logs.push(`${level} ${msg} ${JSON.stringify(fields ?? {})}`);
  const server = new BoreServer({
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    minPort: 26700,
    maxPort: 26799,
    logger: { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug') },
  });
  await server.listen();
  t.after(() => server.close(0));
  const raw = async () => {
    const socket = net.connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    const reader = new ByteReader(socket);
    const recv = async () => {
      let text = '';
      for (let b = await reader.read(1); b[0] !== 0; b = await reader.read(1)) text += b.toString('latin1');
      return JSON.parse(text) as unknown;
    };
    return { socket, reader, send: (v: unknown) => socket.write(`${JSON.stringify(v)}\0`), recv };
  };
  const control = await raw();
  control.send({ Hello: 0 });
  const { Hello: port } = (await control.recv()) as { Hello: number };
  control.send({ PoolRequest: 1 });
  let offer: unknown;
  while ((offer = await control.recv()) === 'Heartbeat');
  const { token } = (offer as { PoolOffer: { token: string } }).PoolOffer;

  const mux = await raw();
  mux.send({ MuxJoin: token });
  assert.deepEqual(await frame(mux.reader), { type: MuxType.WINDOW, stream: 0, length: 0 }, 'the acknowledgement');
  const visitor = await connect(port);
  assert.deepEqual(await frame(mux.reader), { type: MuxType.OPEN, stream: 1, length: 0 });
  visitor.write('to the client');
  assert.deepEqual(await frame(mux.reader), { type: MuxType.DATA, stream: 1, length: 13, payload: Buffer.from('to the client') });
  mux.socket.write(Buffer.concat([muxHeader(MuxType.DATA, 1, 14), Buffer.from('to the visitor'), muxHeader(MuxType.FIN, 1, 0)]));
  const chunks: Buffer[] = [];
  visitor.on('data', (c: Buffer) => chunks.push(c));
  await once(visitor, 'end');
  assert.equal(Buffer.concat(chunks).toString(), 'to the visitor');

  // Garbage: the multiplexed connection closes, with a warning; the tunnel goes on.
  const closed = once(mux.socket, 'close');
  mux.socket.write(Buffer.from([77, 0, 0, 0, 0, 0, 0, 0, 0]));
  await closed;
  assert.ok(
    logs.some((l) => /warn multiplexed connection closed .*unknown multiplexed frame type 77/.test(l)),
    logs.join('\n'),
  );
  assert.equal(control.socket.destroyed, false, 'the control connection is untouched');
  const next = await connect(port);
  let msg: unknown;
  while ((msg = await control.recv()) === 'Heartbeat');
  assert.ok((msg as { Connection?: string }).Connection, 'the next visitor takes the standard path');
  next.destroy();
});

test('client: a server that closes the connection at MuxJoin (one that does not know it): --mux-first opens the pool instead, said once', async (t) => {
  const listener = net.createServer((s) => s.once('data', () => s.destroy()));
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.after(() => listener.close());
  const lines: string[] = [];
  let said!: () => void;
  const saying = new Promise<void>((resolve) => (said = resolve));
  const logger = {
    error() {},
    warn() {},
    info: (m: string) => {
      lines.push(m);
      said();
    },
    debug() {},
  };
  const mux = new ClientMux(
    { to: '127.0.0.1', controlPort: (listener.address() as net.AddressInfo).port, localHost: '127.0.0.1', localPort: 1, auth: undefined },
    logger,
    { opened() {} },
    true,
  );
  let refused = 0;
  mux.open('00000000-0000-4000-8000-000000000000', () => refused++);
  await saying;
  assert.deepEqual(lines, ['the server does not multiplex connections (--mux-first): using the pool']);
  assert.equal(refused, 1, 'the pool is opened instead');
  assert.equal(mux.ready, false);
  mux.close();
});
