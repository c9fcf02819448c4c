/**
 * The hot path with a TLS socket on one side (`src/net/proxy.ts`, as on a TLS tunnel's
 * data connections): Node hands a TLS socket's cleartext over one record at a time and
 * keeps doing so after reading was stopped, so bytes from TLS to a slow reader must
 * still arrive intact; small exchanges both ways and a half-close pass through, and the
 * first reply is announced once.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import tls, { type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { proxy } from '../src/net/proxy.js';
import { sha256 } from './helpers/procs.js';

const MiB = 1 << 20;
let dir = '';
let pem: { cert: Buffer; key: Buffer };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bore-proxy-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      'key.pem',
      '-out',
      'cert.pem',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
    ],
    { cwd: dir, stdio: 'ignore' },
  );
  pem = { cert: readFileSync(join(dir, 'cert.pem')), key: readFileSync(join(dir, 'key.pem')) };
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A TLS server whose first connection is handed to `onSecure`, and a TLS client connected to it. */
async function tlsPair(onSecure: (socket: TLSSocket) => void): Promise<{ client: TLSSocket; close(): void }> {
  const server = tls.createServer({ ...pem, minVersion: 'TLSv1.3', allowHalfOpen: true }, onSecure);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, rejectUnauthorized: false });
  client.allowHalfOpen = true;
  await once(client, 'secureConnect');
  return { client, close: () => server.close() };
}

/** A plain socket pair on loopback: [the end handed to the proxy, the far end]. */
async function plainPair(): Promise<[Socket, Socket]> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const near = net.connect({ host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, allowHalfOpen: true });
  await once(near, 'connect');
  const [far] = (await accepted) as [Socket];
  server.close();
  return [near, far];
}

test(
  'TLS to a slow plain reader: 16 MiB arrive intact (records read after a stop do not overwrite a pending write)',
  { timeout: 60_000 },
  async () => {
    const data = randomBytes(16 * MiB);
    const { client, close } = await tlsPair((s) => s.end(data));
    const [near, far] = await plainPair();
    const done = proxy(client, near);
    // The reader pauses after every 256 KiB until the next turn of the timers, so writes
    // into it are often left pending while the TLS side still has records to hand over.
    const hash = createHash('sha256');
    let since = 0;
    far.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      since += chunk.length;
      if (since < 256 * 1024) return;
      since = 0;
      far.pause();
      setTimeout(() => far.resume(), 5);
    });
    await once(far, 'end');
    assert.equal(hash.digest('hex'), sha256(data));
    far.destroy();
    await done;
    close();
  },
);

test('plain to TLS and back: small writes echoed in order, then a half-close passes through', async () => {
  const { client, close } = await tlsPair((s) => s.pipe(s));
  const [near, far] = await plainPair();
  let replies = 0;
  const done = proxy(near, client, undefined, { onReply: () => replies++ });
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  far.on('data', (chunk: Buffer) => received.push(chunk));
  for (let i = 0; i < 200; i++) {
    const piece = randomBytes(1 + ((i * 97) % 5000));
    sent.push(piece);
    far.write(piece);
  }
  far.end();
  await once(far, 'end');
  assert.equal(sha256(Buffer.concat(received)), sha256(Buffer.concat(sent)));
  assert.equal(replies, 1, 'onReply is called once, for the first bytes back');
  far.destroy();
  await done;
  close();
});
