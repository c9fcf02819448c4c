/**
 * A local service for "in flight" scenarios: a sink that hashes what it receives and
 * stops reading once a quarter of the expected bytes arrived, until released, so a
 * transfer is guaranteed to be in flight while something else happens.
 */
import net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { type BoreProcess, connect } from './procs.js';
import type { FlakyProxy } from './flaky-proxy.js';

/** Starts the sink on a free loopback port, expecting `total` bytes on one connection. */
export async function startHeldSink(total: number) {
  const hash = createHash('sha256');
  let received = 0;
  let held: net.Socket | undefined;
  let reachQuarter!: () => void;
  const quarter = new Promise<void>((r) => (reachQuarter = r));
  let finish!: (digest: string) => void;
  const finished = new Promise<string>((r) => (finish = r));
  const server = net.createServer((s) => {
    s.on('data', (chunk: Buffer) => {
      received += chunk.length;
      hash.update(chunk);
      if (!held && received >= total / 4) {
        held = s;
        s.pause();
        reachQuarter();
      }
    });
    s.on('end', () => {
      finish(hash.digest('hex'));
      s.end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as net.AddressInfo).port,
    /** Resolves once a quarter arrived and reading is held. */
    quarter,
    /** Resolves with the sha256 of everything received, at EOF. */
    finished,
    /** Bytes received so far. */
    get received() {
      return received;
    },
    /** Resumes reading. */
    release: () => held?.resume(),
    close: () => server.close(),
  };
}

/** A port that was free a moment ago (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * Sends `data` through the tunnel of `client` (public port `publicPort`) into `sink`,
 * cuts the control connection (relayed connection 0) once a quarter is in flight, and
 * lets the sink read on only once the client has reconnected. Resolves with the bytes
 * the sink had at the reconnect and the sha256 of all it received.
 */
export async function sendAcrossControlCut(
  client: BoreProcess,
  publicPort: number,
  relay: FlakyProxy,
  sink: Awaited<ReturnType<typeof startHeldSink>>,
  data: Buffer,
): Promise<{ receivedAtReconnect: number; digest: string }> {
  const sender = await connect(publicPort);
  sender.end(data);
  await sink.quarter;
  const mark = client.output.length;
  relay.cut(0); // the control connection only
  await client.waitFor(/connection lost/, 5000, mark);
  await client.waitFor(/reconnected/, 15_000, mark);
  const receivedAtReconnect = sink.received;
  sink.release();
  return { receivedAtReconnect, digest: await sink.finished };
}
