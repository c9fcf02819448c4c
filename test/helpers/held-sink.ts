/**
 * A local service for "in flight" scenarios: a sink that hashes what it receives and
 * stops reading once a quarter of the expected bytes arrived, until released, so a
 * transfer is guaranteed to be in flight while something else happens.
 */
import net from 'node:net';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { type BoreProcess, connect, startClient, startServer } from './procs.js';
import { FlakyProxy } from './flaky-proxy.js';

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

/**
 * A server (debug logs, `serverArgs`), a relay in front of its control port (so the
 * control connection alone can be cut), a held sink expecting 16 MiB and a client
 * (`clientArgs`) to it through the relay; all stopped after the test. `data` is the
 * transfer to send across the cut ({@link sendAcrossControlCut}).
 */
export async function relayedTunnel(t: TestContext, serverArgs: string[], clientArgs: string[]) {
  const server = await startServer([...serverArgs, '--log-level', 'debug']);
  const relay = new FlakyProxy(server.controlPort);
  const relayPort = await relay.listen();
  const data = randomBytes(16 * 1024 * 1024);
  const sink = await startHeldSink(data.length);
  const client = await startClient(sink.port, relayPort, clientArgs);
  t.after(async () => {
    await client.stop();
    await server.stop();
    await relay.close();
    sink.close();
  });
  return { server, relay, sink, client, data };
}
