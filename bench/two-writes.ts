/**
 * An answer in two writes through the tunnel: a service that answers each request with
 * 100 bytes, then 100 more 5 ms later (a header, then its body), and a visitor that
 * times the whole answer, 40 times on one connection, directly and through `bore server`
 * + `bore local` in each shape (the standard path, the pool, `--mux-first`). With
 * Nagle's algorithm on any socket of the path the second write waits for the visitor's
 * delayed ACK (about 40 ms on Linux). `--before <bore.mjs>` adds another build.
 *
 *   npm run build && node --import tsx bench/two-writes.ts [--before dist/before/bore.mjs]
 */
import net from 'node:net';
import { once } from 'node:events';
import { BoreProcess, CLI } from '../test/helpers/procs.js';
import { percentile } from './proc-stats.js';

const argv = process.argv.slice(2);
const BEFORE = argv.includes('--before') ? argv[argv.indexOf('--before') + 1] : undefined;
const EXCHANGES = 40;

const service = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', () => {
    socket.write('x'.repeat(100));
    setTimeout(() => socket.write('y'.repeat(100)), 5);
  });
});
service.listen(0, '127.0.0.1');
await once(service, 'listening');
const servicePort = (service.address() as net.AddressInfo).port;

/** Ms from each request to the last byte of its two-write answer, on one connection to `port`. */
async function answers(port: number): Promise<number[]> {
  const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const ms: number[] = [];
  for (let i = 0; i < EXCHANGES; i++) {
    const t0 = performance.now();
    socket.write('q');
    let got = 0;
    while (got < 200) got += ((await once(socket, 'data')) as [Buffer])[0].length;
    ms.push(performance.now() - t0);
  }
  socket.destroy();
  return ms;
}

/** A tunnel of build `cli` with the client's `flags`: its public port and a stop. */
async function tunnel(cli: string, flags: string[]): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = new BoreProcess(['server', '--control-port', '0', '--min-port', '31500', '--max-port', '31599'], {}, [cli]);
  const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
  const client = new BoreProcess(
    ['local', String(servicePort), '--to', '127.0.0.1', '--control-port', String(controlPort), '--local-host', '127.0.0.1', ...flags],
    {},
    [cli],
  );
  const port = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
  return { port, stop: async () => void (await Promise.all([client.stop(), server.stop()])) };
}

const row = (name: string, ms: number[]) =>
  `| ${name} | ${percentile(ms, 50).toFixed(1)} | ${percentile(ms, 90).toFixed(1)} | ${Math.max(...ms).toFixed(1)} |`;
console.log(`| two-write answer, ${EXCHANGES} on one connection | p50 ms | p90 ms | max ms |`);
console.log('|---|---|---|---|');
console.log(row('direct', await answers(servicePort)));
for (const [label, cli] of [['this build', CLI], ...(BEFORE ? [['before', BEFORE]] : [])] as [string, string][]) {
  for (const [shape, flags] of [
    ['standard path', ['--pool', '0', '--no-mux']],
    ['pool', ['--no-mux']],
    ['--mux-first', ['--mux-first']],
  ] as [string, string[]][]) {
    const t = await tunnel(cli, flags);
    console.log(row(`${label}: ${shape}`, await answers(t.port)));
    await t.stop();
  }
}
service.close();
