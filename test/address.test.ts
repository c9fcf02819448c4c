/**
 * Host and port pairs in logs: IPv6 addresses in brackets, everything else unchanged;
 * and, where IPv6 loopback works, the real CLI over `::1` logs them that way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { formatHostPort, formatPeer } from '../src/net/address.js';
import { BoreProcess, connect, roundTrip, startEchoServer, startServer } from './helpers/procs.js';

const PORTS = ['--min-port', '25500', '--max-port', '25599'];

test('formatHostPort brackets IPv6 addresses only', () => {
  assert.equal(formatHostPort('127.0.0.1', 7835), '127.0.0.1:7835');
  assert.equal(formatHostPort('::1', 36001), '[::1]:36001');
  assert.equal(formatHostPort('2001:db8::5', 80), '[2001:db8::5]:80');
  assert.equal(formatHostPort('::ffff:127.0.0.1', 80), '[::ffff:127.0.0.1]:80');
  assert.equal(formatHostPort('bore.example.com', 7835), 'bore.example.com:7835');
  assert.equal(formatHostPort('localhost', 0), 'localhost:0');
  assert.equal(formatPeer(new net.Socket()), '?:?', 'a socket without a peer');
});

test('formatPeer: the peer of a real socket, IPv4 as it is, an IPv4-mapped address of a dual-stack listener in brackets', async (t) => {
  for (const [listenOn, expected] of [
    ['127.0.0.1', /^127\.0\.0\.1:\d+$/],
    ['::', /^\[::ffff:127\.0\.0\.1\]:\d+$/],
  ] as const) {
    const accepted: net.Socket[] = [];
    const server = net.createServer((s) => accepted.push(s));
    try {
      server.listen(0, listenOn);
      await once(server, 'listening');
    } catch {
      t.diagnostic(`cannot listen on ${listenOn}: skipped`);
      continue;
    }
    const socket = await connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    while (accepted.length === 0) await once(server, 'connection');
    assert.match(formatPeer(accepted[0]!), expected);
    assert.equal(formatPeer(socket), `127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    socket.destroy();
    server.close();
  }
});

/** Whether this machine can listen on and connect to `::1`. */
async function ipv6Loopback(): Promise<boolean> {
  const server = net.createServer((s) => s.destroy());
  try {
    server.listen(0, '::1');
    await once(server, 'listening');
    const socket = await connect((server.address() as net.AddressInfo).port, '::1');
    socket.destroy();
    return true;
  } catch {
    return false;
  } finally {
    server.close();
  }
}

test('over ::1 the client and the server log addresses in brackets', async (t) => {
  if (!(await ipv6Loopback())) {
    t.skip('IPv6 loopback (::1) is not available here');
    return;
  }
  const echo = await startEchoServer();
  t.after(() => echo.close());
  const server = await startServer([...PORTS, '--bind-addr', '::1', '--bind-tunnels', '::1']);
  t.after(() => server.stop('SIGKILL'));
  const args = [
    'local',
    String(echo.port),
    '--local-host',
    '127.0.0.1',
    '--to',
    '::1',
    '--control-port',
    String(server.controlPort),
    '--log-level',
    'debug',
  ];
  const client = new BoreProcess(args);
  t.after(() => client.stop());
  const publicPort = Number((await client.waitFor(/listening at \[::1\]:(\d+)/))[1]);
  assert.match(client.output, new RegExp(`connecting to \\[::1\\]:${server.controlPort}`));
  assert.match(client.output, new RegExp(`local=127\\.0\\.0\\.1:${echo.port}\\b`), 'IPv4 stays as it was');
  await server.waitFor(/new client peer=\[::1\]:\d+ /);
  const data = Buffer.from('hello over ::1');
  assert.deepEqual(await roundTrip(await connect(publicPort, '::1'), data), data);
});
