/**
 * TLS between our client and our server, end to end with the real CLI and real
 * certificates made here with openssl: one control port serves plaintext and TLS
 * clients at once; each verification failure stops the client (exit 3) with its
 * message; a pin works and a wrong one is refused; `--require-tls` refuses plaintext;
 * a recording relay sees none of a known payload when TLS is on; the pool works over TLS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { clientTlsOf, tlsFailure } from '../src/client/tls.js';
import { connectTcp } from '../src/client/connect.js';
import type { TLSSocket } from 'node:tls';
import { classify } from '../src/client/errors.js';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';
import { TestCerts } from './helpers/tls-certs.js';

let certs: TestCerts;
const path = (name: string) => certs.path(name);

before(() => {
  certs = new TestCerts()
    .make('server', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2)
    .make('expired', 'localhost', 'DNS:localhost,IP:127.0.0.1', -1)
    .make('other', 'other.example', 'DNS:other.example', 2)
    .make('self', 'localhost', 'DNS:localhost,IP:127.0.0.1', 2, true);
});

after(() => certs.remove());

/** `bore server` serving TLS with the certificate `name`. */
const tlsServer = (name: string, args: string[] = []) => certs.server(name, args);

/** The SHA-256 fingerprint of certificate `name`, as `sha256:HEX`. */
const fingerprintOf = (name: string) => certs.fingerprintOf(name);

/** Runs `bore local` until it exits; resolves with its code and output. */
async function clientFails(controlPort: number, localPort: number, args: string[]) {
  const p = new BoreProcess(['local', String(localPort), '--to', '127.0.0.1', '--control-port', String(controlPort), ...args]);
  const code = await p.exited;
  return { code, output: p.output };
}

/** Asserts a visitor's bytes come back through `publicPort`. */
async function echoes(publicPort: number): Promise<void> {
  const payload = randomBytes(4096);
  const visitor = await connect(publicPort);
  assert.deepEqual(await roundTrip(visitor, payload), payload);
  visitor.destroy();
}

test('one control port serves a plaintext and a TLS client at once', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const server = await tlsServer('server');
  const plain = await startClient(echo.port, server.controlPort);
  const secure = await startClient(echo.port, server.controlPort, ['--tls', '--tls-ca', path('ca.pem')]);
  try {
    await echoes(plain.publicPort);
    await echoes(secure.publicPort);
    // The pool (4 by default) is filled over TLS, and serves visitors.
    const pooled = await startClient(echo.port, server.controlPort, ['--tls-ca', path('ca.pem'), '--log-level', 'debug']);
    await pooled.waitFor(/pool: ready/);
    await echoes(pooled.publicPort);
    await echoes(pooled.publicPort);
    assert.equal(await pooled.stop(), 0);
  } finally {
    await Promise.all([plain.stop(), secure.stop()]);
    await server.stop();
    await echo.close();
  }
});

test('a pinned fingerprint works; a different one is refused with exit 3', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const server = await tlsServer('self');
  try {
    const pinned = await startClient(echo.port, server.controlPort, ['--tls-fingerprint', fingerprintOf('self')]);
    await echoes(pinned.publicPort);
    await pinned.stop();
    const wrong = await clientFails(server.controlPort, echo.port, ['--tls-fingerprint', fingerprintOf('server')]);
    assert.equal(wrong.code, 3, wrong.output);
    assert.match(wrong.output, /does not match --tls-fingerprint \(it is sha256:[0-9A-F]{64}\)/);
    // Without a pin, a self-signed certificate is not trusted.
    const unpinned = await clientFails(server.controlPort, echo.port, ['--tls']);
    assert.equal(unpinned.code, 3, unpinned.output);
    assert.match(
      unpinned.output,
      /certificate of the server at 127\.0\.0\.1:\d+ is not trusted \(self[- ]signed certificate\): give its CA with --tls-ca/,
    );
  } finally {
    await server.stop();
    await echo.close();
  }
});

test('unknown CA, wrong name, expired certificate: exit 3 with the cause and the fix', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const cases: [string, string[], RegExp][] = [
    [
      'server',
      ['--tls'],
      /is not trusted \(unable to verify the first certificate\): give its CA with --tls-ca or pin it with --tls-fingerprint/,
    ],
    [
      'other',
      ['--tls-ca', path('ca.pem')],
      /is for another name \(IP: 127\.0\.0\.1 is not in the cert's list: \): connect with the name it has/,
    ],
    [
      'expired',
      ['--tls-ca', path('ca.pem')],
      /certificate of the server at 127\.0\.0\.1:\d+ has expired \(certificate has expired\): renew the certificate on the server/,
    ],
  ];
  try {
    for (const [cert, args, message] of cases) {
      const server = await tlsServer(cert);
      const r = await clientFails(server.controlPort, echo.port, args);
      await server.stop();
      assert.equal(r.code, 3, `${cert}: ${r.output}`);
      assert.match(r.output, message, cert);
    }
  } finally {
    await echo.close();
  }
});

test('--tls against a plaintext server: exit 3, never a downgrade', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  for (const secret of [[], ['--secret', 'x']]) {
    const server = await startServer(secret);
    try {
      const r = await clientFails(server.controlPort, echo.port, ['--tls', ...secret]);
      assert.equal(r.code, 3, r.output);
      assert.match(
        r.output,
        /the server at 127\.0\.0\.1:\d+ does not speak TLS: it is a plain bore server; drop --tls or enable TLS on the server/,
      );
      assert.equal(server.output.match(/tunnel opened|new client/g), null, 'no tunnel opened');
    } finally {
      await server.stop();
    }
  }
  await echo.close();
});

test('--require-tls refuses a plaintext client with the error text, serves a TLS one', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const server = await tlsServer('server', ['--require-tls', '--secret', 's3']);
  try {
    const r = await clientFails(server.controlPort, echo.port, ['--secret', 's3']);
    assert.equal(r.code, 3, r.output);
    assert.match(r.output, /server error: this server requires TLS: connect with --tls/);
    const secure = await startClient(echo.port, server.controlPort, ['--tls-ca', path('ca.pem'), '--secret', 's3']);
    await echoes(secure.publicPort);
    await secure.stop();
  } finally {
    await server.stop();
    await echo.close();
  }
});

/** A relay to `target` that records every byte it carries between client and server. */
async function recordingRelay(target: number) {
  const recorded: Buffer[] = [];
  const relay = net.createServer({ allowHalfOpen: true }, (client) => {
    const server = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
    for (const [from, to] of [
      [client, server],
      [server, client],
    ] as const) {
      from.on('data', (chunk: Buffer) => {
        recorded.push(chunk);
        to.write(chunk);
      });
      from.on('end', () => to.end());
      from.on('error', () => to.destroy());
    }
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return { port: (relay.address() as net.AddressInfo).port, bytes: () => Buffer.concat(recorded), close: () => relay.close() };
}

test('a capture of the client-server bytes carries none of the payload with TLS, all of it without', { timeout: 30_000 }, async () => {
  const echo = await startEchoServer();
  const server = await tlsServer('server');
  const payload = randomBytes(64 * 1024);
  const slice = payload.subarray(20_000, 20_032);
  try {
    for (const tls of [true, false]) {
      const relay = await recordingRelay(server.controlPort);
      const client = await startClient(echo.port, relay.port, tls ? ['--tls-ca', path('ca.pem')] : []);
      const visitor = await connect(client.publicPort);
      assert.deepEqual(await roundTrip(visitor, payload), payload);
      visitor.destroy();
      await client.stop();
      relay.close();
      assert.equal(
        relay.bytes().includes(slice),
        !tls,
        tls ? 'payload seen in the clear over TLS' : 'plaintext capture misses the payload',
      );
    }
  } finally {
    await server.stop();
    await echo.close();
  }
});

test('a reset in the TLS handshake: a plain server the first time (fatal), the network once the server has spoken TLS (retriable)', () => {
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  const first = tlsFailure(reset, 'bore.example.com', 7835, false);
  assert.equal(first?.code, 'tls-unsupported');
  assert.equal(first?.class, 'fatal');
  assert.equal(tlsFailure(reset, 'bore.example.com', 7835, true), undefined);
  assert.equal(classify(reset).code, 'network');
  assert.equal(classify(reset).class, 'retriable');
});

test(
  "a tunnel's connections share one secure context, resume the first one's session and use AES-128-GCM",
  { timeout: 30_000 },
  async () => {
    const server = await tlsServer('server');
    try {
      const settings = clientTlsOf({ tls: true, tlsCa: path('ca.pem') });
      assert.ok(settings);
      const first = (await connectTcp({ host: '127.0.0.1', port: server.controlPort, tls: settings })) as TLSSocket;
      const context = settings.context;
      assert.ok(context);
      assert.equal(first.isSessionReused(), false);
      assert.equal(first.getCipher().name, 'TLS_AES_128_GCM_SHA256');
      // The server's session tickets come after the handshake: the next connection resumes one.
      if (settings.session === undefined) await once(first, 'session');
      const second = (await connectTcp({ host: '127.0.0.1', port: server.controlPort, tls: settings })) as TLSSocket;
      assert.equal(second.isSessionReused(), true);
      assert.equal(settings.context, context);
      first.destroy();
      second.destroy();
    } finally {
      await server.stop();
    }
  },
);
