/**
 * `bore server --tls-acme` end to end against Pebble, the ACME test server (started
 * here; the tests skip, saying why, if it is not installed): a certificate is obtained
 * at start over HTTP-01 and a `--tls` client that verifies against Pebble's root makes a
 * round trip; a restart reuses the stored certificate (no new order); a short-lived
 * certificate is renewed before it expires, a new client sees the new one while the old
 * tunnel keeps working; a renewal that fails is logged with its cause and retried, the
 * certificate kept. Without a certificate the server does not start.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoreProcess, connect, roundTrip, startEchoServer, startServer } from './helpers/procs.js';
import { renewalTime, retryDelayMs } from '../src/server/acme-schedule.js';
import { BoreServer } from '../src/server/server.js';
import { type Pebble, findPebble, freePort, makeListenerCertificate, startPebble } from './helpers/pebble.js';

const pebbleBinary = findPebble();
const skip = pebbleBinary.path === undefined ? `ACME tests need Pebble: ${pebbleBinary.reason}` : false;

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bore-acme-'));
  if (!skip) makeListenerCertificate(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** What a test started (Pebble, servers, clients, the echo service), stopped after it even when it fails. */
const running: { stop(): Promise<unknown> }[] = [];
/** `thing`, stopped after the test. */
function track<T extends { stop(): Promise<unknown> }>(thing: T): T {
  running.push(thing);
  return thing;
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((thing) => thing.stop()));
});

/** An echo service stopped after the test. */
async function echoService() {
  const echo = await startEchoServer();
  return track({ port: echo.port, stop: () => echo.close() });
}

/** The flags of a server that gets its certificate for `localhost` from `pebble`, keeping it in `state`. */
const acmeFlags = (pebble: Pebble, httpPort: number, state: string) => [
  '--tls-acme',
  'localhost',
  '--acme-directory',
  pebble.directory,
  '--acme-http-port',
  String(httpPort),
  '--acme-dir',
  state,
  '--require-tls',
];

/** `bore local --tls` to the server by the ACME name, verifying against `ca` (or pinning with `args`). */
async function tlsClient(localPort: number, controlPort: number, args: string[]) {
  const p = track(
    new BoreProcess(['local', String(localPort), '--to', 'localhost', '--control-port', String(controlPort), '--tls', ...args]),
  );
  const m = await p.waitFor(/listening at localhost:(\d+)/, 20_000);
  return Object.assign(p, { publicPort: Number(m[1]) });
}

/** Asserts that `socket` echoes a random payload, then half-closes it (the connection is done). */
async function echoes(socket: Socket): Promise<void> {
  const payload = randomBytes(4096);
  assert.deepEqual(await roundTrip(socket, payload), payload);
}

/** Asserts that `socket` echoes a random payload and leaves it open (a visitor still in the middle of its connection). */
async function echoesOpen(socket: Socket): Promise<void> {
  const payload = randomBytes(4096);
  const chunks: Buffer[] = [];
  let length = 0;
  const back = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      length += chunk.length;
      if (length < payload.length) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  socket.write(payload);
  await back;
  assert.deepEqual(Buffer.concat(chunks), payload);
}

/** Whether something accepts connections on `port` of 127.0.0.1. */
async function accepts(port: number): Promise<boolean> {
  try {
    (await connect(port)).destroy();
    return true;
  } catch {
    return false;
  }
}

/** Pebble with `options`, stopped after the test. */
const pebbleFor = async (options: Parameters<typeof startPebble>[2]) => track(await startPebble(pebbleBinary.path!, dir, options));

/** `bore server` getting its certificate from `pebble` (trusting its API's CA), stopped after the test. */
const acmeServer = async (pebble: Pebble, httpPort: number, state: string) =>
  track(await startServer(acmeFlags(pebble, httpPort, state), { NODE_EXTRA_CA_CERTS: pebble.listenerCa }));

test(
  'a certificate is obtained at start, a TLS client verifying the ACME name connects, and a restart reuses it',
  { skip, timeout: 60_000 },
  async () => {
    const httpPort = await freePort();
    const pebble = await pebbleFor({ httpPort });
    const state = join(dir, 'state-start');
    const echo = await echoService();
    const server = await acmeServer(pebble, httpPort, state);
    assert.match(server.output, /certificate for localhost obtained issuer="CN=Pebble Intermediate CA/);
    assert.equal(pebble.issued(), 1);
    // The HTTP-01 listener was open for the order only.
    assert.equal(await accepts(httpPort), false, 'the HTTP-01 listener is closed once the certificate is there');
    // Files 0600 in a 0700 directory.
    const caDir = join(state, `127.0.0.1_${new URL(pebble.directory).port}_dir`);
    assert.equal(statSync(caDir).mode & 0o777, 0o700);
    for (const file of ['account.key.pem', 'localhost.cert.pem', 'localhost.key.pem']) {
      assert.equal(statSync(join(caDir, file)).mode & 0o777, 0o600, file);
    }
    const stored = statSync(join(caDir, 'localhost.cert.pem')).mtimeMs;

    const client = await tlsClient(echo.port, server.controlPort, ['--tls-ca', pebble.root]);
    await echoes(await connect(client.publicPort));
    await client.stop();
    assert.equal(await server.stop(), 0);

    // A restart serves the stored certificate: no new order.
    const again = await acmeServer(pebble, httpPort, state);
    assert.match(again.output, /certificate for localhost reused from /);
    assert.equal(pebble.issued(), 1, 'no new certificate was issued');
    assert.equal(statSync(join(caDir, 'localhost.cert.pem')).mtimeMs, stored);
    const second = await tlsClient(echo.port, again.controlPort, ['--tls-ca', pebble.root]);
    await echoes(await connect(second.publicPort));
  },
);

test(
  'a short-lived certificate is renewed before it expires: a new client sees the new one, the old tunnel keeps working',
  { skip, timeout: 90_000 },
  async () => {
    const httpPort = await freePort();
    // Renewed at two thirds of its 12 s: 8 s after it is issued.
    const pebble = await pebbleFor({ httpPort, validitySeconds: 12 });
    const echo = await echoService();
    const server = await acmeServer(pebble, httpPort, join(dir, 'state-renew'));
    const first = /obtained .*fingerprint=(sha256:[0-9A-F]{64})/.exec(server.output)?.[1];
    assert.ok(first, server.output);
    const old = await tlsClient(echo.port, server.controlPort, ['--tls-ca', pebble.root]);
    const visitor = await connect(old.publicPort);
    await echoesOpen(visitor);

    const [, renewed] = await server.waitFor(/certificate for localhost renewed .*fingerprint=(sha256:[0-9A-F]{64})/, 30_000);
    assert.ok(renewed && renewed !== first);
    // A new client pinned to the new certificate connects: the server serves it.
    const pinned = await tlsClient(echo.port, server.controlPort, ['--tls-fingerprint', renewed]);
    await echoes(await connect(pinned.publicPort));
    // The old tunnel is still up: the visitor's connection made before the renewal and a new one both echo.
    await echoesOpen(visitor);
    await echoes(visitor);
    await echoes(await connect(old.publicPort));
    assert.equal(old.output.match(/listening at/g)?.length, 1, `the old client did not reconnect:\n${old.output}`);
    assert.equal(await server.stop(), 0);
  },
);

test(
  'a renewal that fails is logged with its cause and retried; the certificate stays and the tunnel works',
  { skip, timeout: 90_000 },
  async () => {
    const httpPort = await freePort();
    const port = await freePort();
    const pebble = await pebbleFor({ httpPort, validitySeconds: 12, port });
    const echo = await echoService();
    const server = await acmeServer(pebble, httpPort, join(dir, 'state-fail'));
    const client = await tlsClient(echo.port, server.controlPort, ['--tls-ca', pebble.root]);
    // The CA goes away before the renewal.
    await pebble.stop();
    await server.waitFor(
      /ERROR certificate renewal failed: could not get a certificate for localhost from \S+: connect ECONNREFUSED .*keeping the current certificate, retrying in \d+ s/,
      30_000,
    );
    await echoes(await connect(client.publicPort));
    // Back (a new Pebble on the same port: a new root and no accounts), the retry succeeds.
    const from = server.output.length;
    await pebbleFor({ httpPort, validitySeconds: 12, port });
    await server.waitFor(/certificate for localhost renewed/, 30_000, from);
    assert.equal(await server.stop(), 0);
  },
);

test('a server that cannot get its certificate does not start: exit 1 with the cause in one line', { timeout: 30_000 }, async () => {
  const closed = await freePort();
  const server = new BoreProcess([
    'server',
    '--control-port',
    '0',
    '--tls-acme',
    'localhost',
    '--acme-directory',
    `https://127.0.0.1:${closed}/dir`,
    '--acme-dir',
    join(dir, 'state-none'),
  ]);
  assert.equal(await server.exited, 1);
  assert.match(
    server.output,
    new RegExp(
      `ERROR could not get a certificate for localhost from https://127\\.0\\.0\\.1:${closed}/dir: connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}; is the ACME directory URL right, and can this host reach it\\?`,
    ),
  );
  assert.doesNotMatch(server.output, /server listening/);
});

test('renewal at two thirds of the lifetime; retries back off from 1/20 of the time left, within 1 s to 1 h', () => {
  const day = 86_400_000;
  const issued = new Date('2026-01-01T00:00:00Z');
  const expires = new Date(issued.getTime() + 90 * day);
  assert.equal(renewalTime(issued, expires).getTime(), expires.getTime() - 30 * day);
  const now = expires.getTime() - 30 * day;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 10].map((failures) => retryDelayMs(failures, expires, now) / 60_000),
    [5, 10, 20, 40, 60, 60],
  );
  // A test CA's 12 s certificate at its renewal (4 s left): retried within seconds.
  assert.deepEqual(
    [1, 2, 3].map((failures) => retryDelayMs(failures, new Date(4000), 0)),
    [1000, 2000, 4000],
  );
});

test('the library checks the ACME options: a DNS name, one source of the certificate; requireTls is satisfied by tlsAcme', () => {
  assert.throws(() => new BoreServer({ tlsAcme: '10.0.0.1' }), /tlsAcme must be the DNS name clients connect to .*got '10\.0\.0\.1'/);
  assert.throws(() => new BoreServer({ tlsAcme: 'bad name.example' }), /tlsAcme must be the DNS name/);
  assert.throws(() => new BoreServer({ acmeDirectory: 'ftp://x' }), /acmeDirectory must be an ACME directory URL/);
  assert.throws(
    () => new BoreServer({ tlsAcme: 'bore.example.com', tlsCert: 'a.pem', tlsKey: 'a.key' }),
    /tlsAcme and tlsCert are two sources of the certificate: give one/,
  );
  assert.ok(new BoreServer({ tlsAcme: 'bore.example.com', requireTls: true, acmeDir: join(dir, 'unused') }));
});
