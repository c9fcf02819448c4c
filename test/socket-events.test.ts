/**
 * A socket's 'end' and 'close' come once; a listener attached later never runs. Node
 * emits 'end' as soon as it reads a FIN, even on a paused socket, so a socket handed
 * from one owner to the next may have ended in between (the client leaked two sockets
 * per connect-and-close that way). These tests hand over sockets that have already
 * ended or closed; the lint rule `no-restricted-syntax` (eslint.config.js) fails on any
 * 'end' or 'close' listener in src/ that does not go through src/net/socket-events.ts.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import { proxy } from '../src/net/proxy.js';
import { onClose, onEnd } from '../src/net/socket-events.js';
import { FramedSocket } from '../src/protocol/framed-socket.js';
import { decodeServerMessage, clientMessageJson } from '../src/protocol/messages.js';
import { connect } from './helpers/procs.js';

/** Sockets of the running test, destroyed after it (even when it times out on a regression). */
const opened = new Set<Socket>();
afterEach(() => {
  for (const s of opened) s.destroy();
  opened.clear();
});

/** A connected pair of loopback sockets, both allowing half-open connections. */
async function socketPair(): Promise<{ near: Socket; far: Socket }> {
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const near = await connect((server.address() as net.AddressInfo).port);
  const [far] = await accepted;
  server.close();
  opened.add(near).add(far);
  return { near, far };
}

for (const reuseBuffers of [true, false]) {
  test(
    `proxy passes on a FIN that was read before it started (${reuseBuffers ? 'reused buffers' : 'pipe'})`,
    { timeout: 5000 },
    async () => {
      const one = await socketPair();
      const two = await socketPair();
      // `one.near` ends (its 'end' is emitted and over) before the proxy gets it.
      const ended = once(one.near, 'end');
      one.far.end();
      await ended;
      assert.equal(one.near.readableEnded, true);
      const done = proxy(one.near, two.near, undefined, { reuseBuffers });
      // The FIN must reach the other side, and the answer flow back until both close.
      const farEnd = once(two.far, 'end');
      two.far.resume();
      await farEnd;
      const reply: Buffer[] = [];
      one.far.on('data', (c: Buffer) => reply.push(c));
      two.far.end('bye');
      await once(one.far, 'end');
      assert.equal(Buffer.concat(reply).toString(), 'bye');
      await done;
      assert.ok(one.near.destroyed && two.near.destroyed, 'both proxied sockets are closed');
    },
  );
}

test('proxy resolves and closes the other socket when one closed before it started', { timeout: 5000 }, async () => {
  const one = await socketPair();
  const two = await socketPair();
  one.near.destroy();
  await once(one.near, 'close');
  await proxy(one.near, two.near);
  assert.equal(two.near.destroyed, true);
});

test('a FramedSocket made from a socket that already ended reports EOF, not a timeout', { timeout: 5000 }, async () => {
  const { near, far } = await socketPair();
  const ended = once(near, 'end');
  far.end();
  await ended;
  const framed = new FramedSocket(near, decodeServerMessage, clientMessageJson);
  assert.equal(await framed.recv(4000), undefined);
});

test('onEnd and onClose call back once, whether the event is past or still to come', async () => {
  const { near, far } = await socketPair();
  const calls: string[] = [];
  onEnd(near, () => calls.push('end before'));
  onClose(near, () => calls.push('close before'));
  const ended = once(near, 'end');
  far.end();
  await ended;
  onEnd(near, () => calls.push('end after'));
  near.destroy();
  await once(near, 'close');
  onClose(near, () => calls.push('close after'));
  await new Promise((r) => process.nextTick(r));
  assert.deepEqual(calls.sort(), ['close after', 'close before', 'end after', 'end before']);
});
