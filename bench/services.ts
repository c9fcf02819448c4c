/**
 * The benchmark's target service, run as its own process: one port (loopback by default) whose
 * first byte picks what a connection gets. `S` is a sink (counts bytes until EOF,
 * then answers the count as a decimal line), `L` a slow sink (the same, but reads at
 * `--slow-rate` MB/s), `E` an echo (everything, the mode byte included, comes back;
 * EOF is passed back), `H` a service that hangs (reads and never answers; closes only
 * after EOF). A connection that ends before its first byte is closed. Prints
 * `{"port":N}` once listening.
 *
 * Usage: node --import tsx bench/services.ts [--slow-rate 200] [--host 127.0.0.1]
 */
import net, { type Socket } from 'node:net';
import { READ_BUFFER_SIZE, readIntoBuffer } from '../src/net/proxy.js';

const rateArg = process.argv.indexOf('--slow-rate');
/** Bytes per millisecond the slow sink accepts. */
const slowBytesPerMs = (rateArg > 0 ? Number(process.argv[rateArg + 1]) : 200) * 1000;
const hostArg = process.argv.indexOf('--host');
/** Address to listen on: loopback unless `--host` says otherwise (e.g. 0.0.0.0 in a network namespace). */
const host = hostArg > 0 ? process.argv[hostArg + 1]! : '127.0.0.1';

/**
 * Counts bytes until EOF, then answers the count. Reads go into one reused buffer (as in
 * the proxy), so the sink is not the bottleneck of the direct measurement.
 */
function sink(socket: Socket, first: Buffer, slow: boolean): void {
  let count = first.length;
  const start = performance.now();
  socket.on('end', () => socket.end(`${count}\n`));
  if (!slow) {
    const reused = readIntoBuffer(socket, Buffer.allocUnsafeSlow(READ_BUFFER_SIZE), (chunk) => {
      count += chunk.length;
      return true;
    });
    if (reused) return;
  }
  socket.on('data', (chunk: Buffer) => {
    count += chunk.length;
    if (!slow) return;
    const ahead = count / slowBytesPerMs - (performance.now() - start);
    if (ahead > 1) {
      socket.pause();
      setTimeout(() => socket.resume(), ahead);
    }
  });
}

function echo(socket: Socket, first: Buffer): void {
  socket.write(first);
  socket.pipe(socket);
}

/** Reads and discards everything, never answers; closes once the peer has half-closed. */
function hang(socket: Socket): void {
  socket.on('data', () => {});
  socket.on('end', () => socket.end());
}

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  socket.on('error', () => socket.destroy());
  const endedEmpty = () => socket.end();
  socket.once('end', endedEmpty);
  socket.once('data', (chunk: Buffer) => {
    socket.off('end', endedEmpty);
    const mode = chunk[0];
    if (mode === 0x53 /* S */) sink(socket, chunk.subarray(1), false);
    else if (mode === 0x4c /* L */) sink(socket, chunk.subarray(1), true);
    else if (mode === 0x45 /* E */) echo(socket, chunk);
    else if (mode === 0x48 /* H */) hang(socket);
    else socket.destroy();
  });
});
server.listen({ port: 0, host, backlog: 4096 }, () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as net.AddressInfo).port })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
