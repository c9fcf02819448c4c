/**
 * A tunnel over TLS through what the plaintext tests put it through, with the real CLI
 * and openssl-made certificates: the warm pool (every connection TLS, the data
 * connections resuming the control connection's session, read off the wire), a server
 * restart, a transfer in flight across a cut of the control connection (the new one
 * resumes the session), and a server that never answers the TLS handshake (the
 * machine's `securing` deadline). What the view shows of TLS is read from `/snapshot`.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { BoreProcess, connect, httpGet, roundTrip, serverPoolIdle, startClient, startEchoServer } from './helpers/procs.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { freePort, sendAcrossControlCut, startHeldSink } from './helpers/held-sink.js';
import { type EventData, readEvents } from './helpers/inspect.js';
import { TestCerts } from './helpers/tls-certs.js';
import { serverResumed, startsTls } from './helpers/tls-wire.js';

const RANGE = ['--min-port', '25400', '--max-port', '25499'];
let certs: TestCerts;
let echo: Awaited<ReturnType<typeof startEchoServer>>;

before(async () => {
  certs = new TestCerts().make('server', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2);
  echo = await startEchoServer();
});
after(async () => {
  certs.remove();
  await echo.close();
});

/** The client's TLS flags: verify the test server with the test CA. */
const TLS = () => ['--tls-ca', certs.path('ca.pem')];

/** Asserts `text` comes back through `publicPort`. */
async function echoes(publicPort: number, text: string): Promise<void> {
  const visitor = await connect(publicPort);
  assert.equal((await roundTrip(visitor, Buffer.from(text))).toString(), text);
  visitor.destroy();
}

/** The test server's fingerprint as the view shows it: `sha256:` and hex without colons. */
const viewFingerprint = () => `sha256:${certs.x509('server').fingerprint256.replace(/:/g, '')}`;

/** The port of `client`'s inspector (started with `--inspect`). */
async function inspectorPort(client: BoreProcess): Promise<number> {
  return Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
}

/** The context `/snapshot` serves. */
async function snapshotContext(port: number): Promise<NonNullable<EventData['context']>> {
  return (JSON.parse((await httpGet(port, '/snapshot')).body) as { context: NonNullable<EventData['context']> }).context;
}

test('the warm pool over TLS: every connection is TLS, the data connections resume the session, a visitor is served from the pool', async (t) => {
  // At debug, the server says when it holds a pooled connection (serverPoolIdle).
  const server = await certs.server('server', [...RANGE, '--log-level', 'debug']);
  const relay = new FlakyProxy(server.controlPort);
  const client = await startClient(echo.port, await relay.listen(), [...TLS(), '--inspect']);
  t.after(async () => {
    await client.stop();
    await server.stop();
    await relay.close();
  });
  const port = await inspectorPort(client);
  await readEvents(port, (event, data) => event === 'snapshot' && data.context?.pool?.idle === 4);
  // The client counts a connection idle once its quiet join is sent: the visitor waits for the server to hold all 4.
  await serverPoolIdle(server, 4);
  await echoes(client.publicPort, 'from the pool');
  // Served, and the pool whole again: the refill's handshake is done before the wire is read below.
  await readEvents(port, (event, data) => event === 'snapshot' && data.context?.pool?.served === 1 && data.context.pool.idle === 4);
  const context = await snapshotContext(port);
  assert.equal(context.pool?.fallbacks, 0, 'the visitor took a pooled connection, not the standard path');

  // What the view shows: the control connection's TLS, as the certificate says.
  const cert = certs.x509('server');
  assert.deepEqual(context.tls, {
    protocol: 'TLSv1.3',
    cipher: context.tls?.cipher,
    subject: 'CN=localhost',
    fingerprint: viewFingerprint(),
    validTo: new Date(cert.validTo).toISOString(),
    resumed: false,
  });
  assert.match(context.tls.cipher, /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);

  // On the wire: the control connection and at least the pool's four plus the refill, all TLS;
  // the control connection's is a full handshake, every data connection's a resumed one.
  const relays = relay.relays;
  assert.ok(relays.length >= 6, `${relays.length} connections to the server`);
  for (const [i, r] of relays.entries()) {
    assert.ok(startsTls(r.first.client), `connection ${i}: the client's first bytes are a TLS handshake`);
    assert.equal(serverResumed(r.first.server), i > 0, `connection ${i}: ${i > 0 ? 'resumed' : 'full handshake'}`);
  }
});

test('server killed and restarted with TLS: the client is back on the same port and carries data', async (t) => {
  const controlPort = await freePort();
  const args = [...RANGE, '--control-port', String(controlPort)];
  let server = await certs.server('server', args);
  const client = await startClient(echo.port, controlPort, TLS());
  t.after(async () => {
    await client.stop();
    await server.stop();
  });
  await echoes(client.publicPort, 'before');
  const mark = client.output.length;
  await server.stop('SIGKILL');
  await client.waitFor(/connection lost: server closed the connection/, 5000, mark);
  server = await certs.server('server', args);
  await client.waitFor(/reconnected/, 15_000, mark);
  const m = await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/, 5000, mark);
  assert.equal(Number(m[1]), client.publicPort, 'same public port after the restart');
  await echoes(client.publicPort, 'after');
  assert.doesNotMatch(client.output, /does not speak TLS|tls-/, 'the restart is no TLS failure');
});

test('a 32 MiB transfer in flight across a cut of the TLS control connection arrives intact; the new one resumes the session', async (t) => {
  const server = await certs.server('server', RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const relayPort = await relay.listen();
  const total = 32 * 1024 * 1024;
  const data = randomBytes(total);
  const sink = await startHeldSink(total);
  const client = await startClient(sink.port, relayPort, [...TLS(), '--inspect']);
  t.after(async () => {
    await client.stop();
    await server.stop();
    await relay.close();
    sink.close();
  });
  const port = await inspectorPort(client);
  assert.equal((await snapshotContext(port)).tls?.resumed, false, 'the first control connection: a full handshake');
  const { receivedAtReconnect, digest } = await sendAcrossControlCut(client, client.publicPort, relay, sink, data);
  assert.ok(receivedAtReconnect < total, `transfer was still in flight at the reconnect (${receivedAtReconnect} of ${total})`);
  assert.equal(sink.received, total);
  assert.equal(digest, createHash('sha256').update(data).digest('hex'));
  const tls = (await snapshotContext(port)).tls;
  assert.equal(tls?.resumed, true, 'the new control connection resumed the session');
  assert.equal(tls?.subject, 'CN=localhost', 'and shows the certificate the first one verified');
  assert.equal(tls?.fingerprint, viewFingerprint());
});

test('a server that never answers the TLS handshake: the securing deadline gives up after 3 s (retriable: exit 4 on a first attempt)', async (t) => {
  // Takes the connection, reads the ClientHello, says nothing.
  const silent = net.createServer((s) => s.on('error', () => {}));
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.after(() => silent.close());
  const port = (silent.address() as net.AddressInfo).port;
  const client = new BoreProcess([
    'local',
    String(echo.port),
    '--to',
    '127.0.0.1',
    '--control-port',
    String(port),
    ...TLS(),
    '--log-level',
    'debug',
  ]);
  assert.equal(await client.exited, 4, client.output);
  assert.match(client.output, /connected, securing \(TLS handshake\)/);
  assert.match(client.output, /the TLS handshake with the server at 127\.0\.0\.1:\d+ timed out after 3000 ms/);
});
