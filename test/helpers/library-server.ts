/**
 * The library's `BoreServer` on loopback for one test file: each started with a
 * `CaptureLogger` and a port range, and all closed once the file's tests are done.
 */
import { after } from 'node:test';
import { BoreServer } from '../../src/server/server.js';
import { CaptureLogger } from './raw-peer.js';

/** Options of a `BoreServer`, as its constructor takes them. */
export type LibraryServerOptions = ConstructorParameters<typeof BoreServer>[0];

/**
 * Returns a function that starts a listening `BoreServer` on 127.0.0.1 (control port 0,
 * public ports in `range`, `opts` over that) with a logger the test reads; every server
 * it starts is closed after the file's tests.
 */
export function libraryServers(range: { minPort: number; maxPort: number }) {
  const servers: BoreServer[] = [];
  after(async () => {
    await Promise.all(servers.map((s) => s.close(0)));
  });
  return async function startServer(opts: LibraryServerOptions = {}) {
    const logger = new CaptureLogger();
    const server = new BoreServer({ ...range, controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', logger, ...opts });
    servers.push(server);
    await server.listen();
    return { server, logger };
  };
}
