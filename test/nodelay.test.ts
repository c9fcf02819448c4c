/**
 * Nagle's algorithm is off on every socket a visitor's bytes cross, at both ends and
 * in every shape (the standard path, the pool, the multiplexed connection, TLS): with it on
 * the server's visitor socket, a service that answered in two writes a few ms apart
 * had its second write held until the visitor's delayed ACK (44 ms instead of 5). Read
 * from the kernel with `getsockopt(TCP_NODELAY)` on the descriptors of the tunnel's
 * sockets (server and client run in this process; Linux only: `/proc/net/tcp`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { BoreServer } from '../src/server/server.js';
import { startTunnel } from '../src/run/tunnel.js';
import { silentLogger } from '../src/log/logger.js';
import { once } from 'node:events';
import { connect, startEchoServer } from './helpers/procs.js';
import { TestCerts } from './helpers/tls-certs.js';
import { IPPROTO_TCP, TCP_NODELAY, establishedOn, getsockoptInt } from './helpers/sockopt.js';

const SHAPES = [
  { name: 'the standard path', options: { pool: 0, mux: false } },
  { name: 'the pool', options: { pool: 2, mux: false } },
  { name: 'the multiplexed connection', options: { pool: 1, muxFirst: true } },
  { name: 'the pool over TLS', options: { pool: 2, mux: false }, tls: true },
] as const;

for (const [i, shape] of SHAPES.entries()) {
  test(
    `TCP_NODELAY on every socket of a visitor's path: ${shape.name}`,
    { skip: !existsSync('/proc/net/tcp') && 'needs /proc/net/tcp (Linux)' },
    async (t) => {
      const echo = await startEchoServer();
      const minPort = 31000 + i * 100;
      const certs = 'tls' in shape ? new TestCerts().make('server', 'localhost', 'IP:127.0.0.1', 1) : undefined;
      const pem = (name: string) => readFileSync(certs!.path(name), 'utf8');
      const server = new BoreServer({
        controlPort: 0,
        bindAddr: '127.0.0.1',
        bindTunnels: '127.0.0.1',
        minPort,
        maxPort: minPort + 99,
        ...(certs ? { tls: { cert: pem('server.pem'), key: pem('server.key') } } : {}),
      });
      const controlPort = await server.listen();
      const tunnel = startTunnel({
        localPort: echo.port,
        localHost: '127.0.0.1',
        to: '127.0.0.1',
        controlPort,
        logger: silentLogger,
        ...shape.options,
        ...(certs ? { tls: { ca: pem('ca.pem') } } : {}),
      });
      t.after(async () => {
        await tunnel.stop();
        await server.close(0);
        await echo.close();
        certs?.remove();
      });
      const publicPort = await tunnel.ready;
      // Two visitors, so the pool's replacement and the multiplexed connection are in use too.
      const visitors = [await connect(publicPort), await connect(publicPort)];
      // Each echoes once and stays open.
      for (const v of visitors) {
        v.write('ping');
        assert.equal(((await once(v, 'data')) as [Buffer])[0].toString(), 'ping');
      }
      const sockets = {
        "server: visitors' sockets": establishedOn(publicPort, 'local'),
        'server: control and data connections': establishedOn(controlPort, 'local'),
        'client: connections to the server': establishedOn(controlPort, 'remote'),
        'client: connections to the local service': establishedOn(echo.port, 'remote'),
      };
      for (const [where, fds] of Object.entries(sockets)) {
        assert.ok(fds.length > 0, `no socket found for ${where}`);
        for (const fd of fds) assert.notEqual(getsockoptInt(fd, IPPROTO_TCP, TCP_NODELAY), 0, `Nagle on for ${where} (fd ${fd})`);
      }
      assert.equal(sockets["server: visitors' sockets"].length, 2);
      for (const v of visitors) v.destroy();
    },
  );
}
