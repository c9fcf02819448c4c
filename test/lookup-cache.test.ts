/**
 * The lookup cache of connections to the server and the local service
 * (src/net/lookup-cache.ts): a name is resolved at most once per TTL; failures are not kept;
 * `net.connect` with it reaches a name on loopback; and the warm-up at a tunnel's start
 * asks for a name once, never for an address.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { type Resolver, cachedLookup, warmLookup } from '../src/net/lookup-cache.js';

/** A resolver that counts its calls and answers `answer` (or fails while `failing`). */
function countingResolver() {
  const r = { calls: 0, failing: false, answer: '127.0.0.1' };
  const resolve: Resolver = (_host, _options, callback) => {
    r.calls++;
    setImmediate(() =>
      r.failing ? callback(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }), '', 0) : callback(null, r.answer, 4),
    );
  };
  return { r, resolve };
}

const ask = (lookup: ReturnType<typeof cachedLookup>, options: LookupOptions = {}) =>
  new Promise<{ err: unknown; address: string | LookupAddress[] }>((resolve) =>
    lookup('service.test', options, (err, address) => resolve({ err, address })),
  );

test('a name is resolved once per TTL; another option set is another answer; a failure is asked again', async () => {
  let now = 0;
  const { r, resolve } = countingResolver();
  const lookup = cachedLookup(1000, resolve, () => now);
  assert.deepEqual(await ask(lookup), { err: null, address: '127.0.0.1' });
  r.answer = '127.0.0.2';
  now = 999;
  assert.deepEqual(await ask(lookup), { err: null, address: '127.0.0.1' }, 'within the TTL: the same answer');
  assert.equal(r.calls, 1);
  await ask(lookup, { all: true });
  assert.equal(r.calls, 2, '`all` is another question');
  now = 1000;
  assert.deepEqual(await ask(lookup), { err: null, address: '127.0.0.2' }, 'past the TTL: asked again');
  assert.equal(r.calls, 3);
  r.failing = true;
  now = 5000;
  assert.ok((await ask(lookup)).err);
  assert.ok((await ask(lookup)).err);
  assert.equal(r.calls, 5, 'a failure is not kept');
});

test('net.connect with the cache reaches localhost', async (t) => {
  const server = net.createServer((s) => s.end('ok'));
  server.listen(0, 'localhost');
  await once(server, 'listening');
  t.after(() => server.close());
  const { port } = server.address() as net.AddressInfo;
  const lookup = cachedLookup();
  for (let i = 0; i < 2; i++) {
    const socket = net.connect({ host: 'localhost', port, lookup });
    const [data] = (await once(socket, 'data')) as [Buffer];
    assert.equal(data.toString(), 'ok');
    socket.destroy();
  }
});

test('warmLookup asks the resolver once for a name, never for an address', async () => {
  const { r, resolve } = countingResolver();
  // A clock that stands still: the kept answer cannot expire however slow the machine.
  const lookup = cachedLookup(1000, resolve, () => 0);
  for (const address of ['127.0.0.1', '::1', '10.1.2.3', '2001:db8::1', 'fe80::1%eth0']) warmLookup(address, lookup);
  assert.equal(r.calls, 0, 'an address is never looked up');
  warmLookup('service.test', lookup);
  assert.equal(r.calls, 1);
  // Its answer is kept like any other (for the same options; a connection's differ, and
  // what it warms is the resolver itself: dns loaded, the thread pool started).
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal((await ask(lookup)).address, '127.0.0.1');
  assert.equal(r.calls, 1);
});
