/**
 * The server's per-address bookkeeping (src/server/peer-limits.ts) on an injected
 * clock: the tunnel cap, the failed-handshake cool-down, IPv4-mapped addresses, and
 * bounded memory; and the cap's default on a BoreServer over loopback (16 without a
 * secret, none with one) and in `bore server --help`.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { PeerLimits, peerKey } from '../src/server/peer-limits.js';
import { BoreServer } from '../src/server/server.js';
import { BoreProcess } from './helpers/procs.js';
import { type RawTunnel, rawConnect, rawAuthenticate, rawTunnel } from './helpers/raw-peer.js';
import { ServerErrors } from '../src/server/ports.js';
import { serverError } from '../src/client/errors.js';

function limits(opts: { maxTunnels?: number; maxFailures?: number; windowMs?: number; maxTracked?: number } = {}) {
  const clock = { t: 1_000_000 };
  const l = new PeerLimits({ maxTunnels: 2, maxFailures: 3, windowMs: 60_000, ...opts, now: () => clock.t });
  return { l, clock };
}

test('the tunnel cap counts per address and frees a slot when a tunnel is released', () => {
  const { l } = limits();
  const a = l.reserveTunnel('10.0.0.1');
  const b = l.reserveTunnel('::ffff:10.0.0.1');
  assert.ok(a && b);
  assert.equal(l.reserveTunnel('10.0.0.1'), undefined, 'a third tunnel is refused');
  assert.ok(l.reserveTunnel('10.0.0.2'), 'another address has its own count');
  a();
  a(); // releasing twice gives back one slot only
  assert.equal(l.tunnels('10.0.0.1'), 1);
  assert.ok(l.reserveTunnel('10.0.0.1'));
  assert.equal(l.reserveTunnel('10.0.0.1'), undefined);
});

test('maxTunnels 0 means no cap', () => {
  const { l } = limits({ maxTunnels: 0 });
  for (let i = 0; i < 1000; i++) assert.ok(l.reserveTunnel('10.0.0.1'));
});

test('the failure that reaches the limit within the window starts one cool-down, which ends after the window', () => {
  const { l, clock } = limits();
  assert.equal(l.recordFailure('10.0.0.1'), false);
  clock.t += 30_000;
  assert.equal(l.recordFailure('10.0.0.1'), false);
  assert.equal(l.isBlocked('10.0.0.1'), false);
  clock.t += 29_000;
  assert.equal(l.recordFailure('::ffff:10.0.0.1'), true, 'the third within 60 s, from the mapped form of the same address');
  assert.equal(l.isBlocked('10.0.0.1'), true);
  assert.equal(l.isBlocked('::FFFF:10.0.0.1'), true);
  assert.equal(l.isBlocked('10.0.0.2'), false);
  assert.equal(l.recordFailure('10.0.0.1'), false, 'failures during the cool-down neither log again nor extend it');
  clock.t += 59_999;
  assert.equal(l.isBlocked('10.0.0.1'), true);
  clock.t += 1;
  assert.equal(l.isBlocked('10.0.0.1'), false);
  // After the cool-down the count starts afresh.
  assert.equal(l.recordFailure('10.0.0.1'), false);
  assert.equal(l.recordFailure('10.0.0.1'), false);
  assert.equal(l.recordFailure('10.0.0.1'), true);
});

test('failures older than the window do not count', () => {
  const { l, clock } = limits();
  for (let i = 0; i < 10; i++) {
    assert.equal(l.recordFailure('10.0.0.1'), false, `failure ${i}`);
    clock.t += 30_001; // never three within 60 s
  }
  assert.equal(l.isBlocked('10.0.0.1'), false);
});

test('maxFailures 0 disables the cool-down and keeps no entries', () => {
  const { l } = limits({ maxFailures: 0 });
  for (let i = 0; i < 100; i++) assert.equal(l.recordFailure('10.0.0.1'), false);
  assert.equal(l.isBlocked('10.0.0.1'), false);
  assert.equal(l.trackedAddresses, 0);
});

test('entries expire, and a scan from many addresses keeps at most maxTracked of them', () => {
  const { l, clock } = limits({ maxTracked: 100 });
  for (let i = 0; i < 10_000; i++) {
    l.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(l.trackedAddresses <= 100);
  }
  assert.equal(l.trackedAddresses, 100);
  clock.t += 60_000;
  l.recordFailure('192.0.2.1');
  assert.equal(l.trackedAddresses, 1, 'the expired entries are gone');
});

test('IPv4-mapped IPv6 addresses count as their IPv4 address; other IPv6 addresses by their /64 (or the prefix asked for)', () => {
  assert.equal(peerKey('::ffff:1.2.3.4'), '1.2.3.4');
  assert.equal(peerKey('1.2.3.4'), '1.2.3.4');
  assert.equal(peerKey('::1'), '::1', 'loopback is one host');
  assert.equal(peerKey('2001:db8::1'), '2001:db8::/64');
  assert.equal(peerKey('2001:DB8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(peerKey('2001:db8:1:2::ffff:1.2.3.4'), '2001:db8:1:2::/64', 'an embedded IPv4 tail');
  assert.equal(peerKey('fe80::1%eth0'), 'fe80::/64', 'a zone');
  assert.equal(peerKey('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1::/48');
  assert.equal(peerKey('2001:db8:1:2f:3:4:5:6', 60), '2001:db8:1:20::/60', 'a prefix inside a group');
  assert.equal(peerKey('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6');
});

test('the addresses of one /64 share the tunnel cap and the cool-down; another /64 does not', () => {
  const { l } = limits({ maxTunnels: 2, maxFailures: 2 });
  assert.ok(l.reserveTunnel('2001:db8:1:2::a'));
  assert.ok(l.reserveTunnel('2001:db8:1:2::b'));
  assert.equal(l.reserveTunnel('2001:db8:1:2:ffff::c'), undefined, 'a third address of the same /64');
  assert.ok(l.reserveTunnel('2001:db8:1:3::a'), 'the next /64');
  assert.equal(l.recordFailure('2001:db8:1:2::1'), false);
  assert.equal(l.recordFailure('2001:db8:1:2::2'), true);
  assert.ok(l.isBlocked('2001:db8:1:2::3'));
  assert.ok(!l.isBlocked('2001:db8:1:3::1'));
  const each = new PeerLimits({ maxTunnels: 1, maxFailures: 1, windowMs: 1000, ipv6PrefixLength: 128 });
  assert.ok(each.reserveTunnel('2001:db8::a'));
  assert.ok(each.reserveTunnel('2001:db8::b'), 'with a /128 prefix each address is its own');
});

test('unknown ids and tokens: the allowance per window is free, each one past it is a failure, and a new window starts afresh', () => {
  const { clock } = limits();
  const l = new PeerLimits({ maxTunnels: 2, maxFailures: 3, windowMs: 60_000, unknownClaimAllowance: 5, now: () => clock.t });
  for (let i = 0; i < 5; i++) assert.equal(l.recordUnknownClaim('10.0.0.1'), false);
  assert.equal(l.recordUnknownClaim('10.0.0.1'), true);
  assert.equal(l.recordUnknownClaim('10.0.0.2'), false, 'per address');
  clock.t += 60_000;
  assert.equal(l.recordUnknownClaim('10.0.0.1'), false, 'a new window');
});

test('bad limits are refused', () => {
  assert.throws(() => new PeerLimits({ maxTunnels: -1, maxFailures: 1, windowMs: 1 }), /maxTunnelsPerAddr/);
  assert.throws(() => new PeerLimits({ maxTunnels: 1, maxFailures: 1.5, windowMs: 1 }), /maxAuthFailures/);
  assert.throws(() => new PeerLimits({ maxTunnels: 1, maxFailures: 1, windowMs: 0 }), /authFailureWindowMs/);
});

test("a client classifies the server's tunnel-cap refusal as retriable", () => {
  const err = serverError(ServerErrors.tooManyTunnels);
  assert.equal(err.code, 'too-many-tunnels');
  assert.equal(err.class, 'retriable');
  assert.equal(err.message, 'server error: too many tunnels from this address');
});

test('the tunnel cap can be changed at run time: tunnels already open stay, new ones meet the new cap', () => {
  const { l } = limits({ maxTunnels: 3 });
  for (let i = 0; i < 3; i++) assert.ok(l.reserveTunnel('10.0.0.1'));
  l.maxTunnels = 2;
  assert.equal(l.maxTunnels, 2);
  assert.equal(l.tunnels('10.0.0.1'), 3);
  assert.equal(l.reserveTunnel('10.0.0.1'), undefined);
  l.maxTunnels = 0;
  assert.ok(l.reserveTunnel('10.0.0.1'), '0: no cap');
  assert.throws(() => (l.maxTunnels = -1), /maxTunnelsPerAddr must be a whole number of at least 0, got -1/);
});

const servers: BoreServer[] = [];
const opened: RawTunnel[] = [];
after(async () => {
  for (const t of opened) t.framed.socket.destroy();
  for (const s of servers) await s.close(0);
});

/** A BoreServer on loopback. */
async function loopbackServer(opts: ConstructorParameters<typeof BoreServer>[0] = {}): Promise<BoreServer> {
  const server = new BoreServer({
    minPort: 28700,
    maxPort: 28799,
    controlPort: 0,
    bindAddr: '127.0.0.1',
    bindTunnels: '127.0.0.1',
    ...opts,
  });
  servers.push(server);
  await server.listen();
  return server;
}

/** Opens `n` tunnels from 127.0.0.1 (authenticating with `secret`, if given). */
async function openTunnels(server: BoreServer, n: number, secret?: string): Promise<void> {
  for (let i = 0; i < n; i++) opened.push(await rawTunnel(server.port, { secret }));
}

/** The answer to one more `Hello` from 127.0.0.1: `Hello` (then closed) or the `Error`'s text. */
async function oneMore(server: BoreServer, secret?: string): Promise<string> {
  const framed = await rawConnect(server.port);
  if (secret !== undefined) await rawAuthenticate(framed, secret);
  framed.send({ type: 'Hello', port: 0 });
  const reply = await framed.recv();
  framed.socket.destroy();
  return reply?.type === 'Error' ? reply.message : String(reply?.type);
}

test('without a secret one address gets 16 tunnels by default: the 17th is refused', async () => {
  const server = await loopbackServer();
  await openTunnels(server, 16);
  assert.equal(await oneMore(server), 'too many tunnels from this address');
  assert.equal(server.stats.tunnels, 16);
});

test("with a secret the default is no cap (20 tunnels to one's own server); it follows setSecret; a given cap stays", async () => {
  const server = await loopbackServer({ secret: 'own' });
  await openTunnels(server, 20, 'own');
  assert.equal(server.stats.tunnels, 20);
  assert.equal(await oneMore(server, 'own'), 'Hello');
  // The secret removed (a reload): anyone may open tunnels again, so the cap is back.
  server.setSecret(undefined);
  assert.equal(await oneMore(server), 'too many tunnels from this address');
  server.setSecret('own');
  assert.equal(await oneMore(server, 'own'), 'Hello');

  const capped = await loopbackServer({ secret: 'own', maxTunnelsPerAddr: 2 });
  await openTunnels(capped, 2, 'own');
  assert.equal(await oneMore(capped, 'own'), 'too many tunnels from this address');
  capped.setSecret('other');
  assert.equal(await oneMore(capped, 'other'), 'too many tunnels from this address', 'a cap given stays whatever the secret');
});

test('bore server --help gives the default of --max-tunnels-per-addr: 16, none with a secret', async () => {
  const help = new BoreProcess(['server', '--help']);
  assert.equal(await help.exited, 0);
  assert.match(help.output.replace(/\s+/g, ' '), /--max-tunnels-per-addr .*\[default: 16; none with a secret\]/);
});
