/**
 * Server benchmarks (issue 4): how fast a silently dead client's port is freed (real
 * packet loss in network namespaces), 1,000 concurrent connections through one tunnel,
 * 100 tunnels on one server, and the server's RSS at idle, with 100 tunnels, at 1,000
 * connections and with 2,000 idle handshakes. The server is always the real CLI.
 *
 * `runServerBench()` is what the main harness calls; run alone it prints the JSON:
 * `npm run build && node --import tsx bench/server.ts`.
 */
import net from 'node:net';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { rssMb } from './proc-stats.js';
import { CLI, BoreProcess, connect, roundTrip, sha256, startClient, startEchoServer, startServer } from '../test/helpers/procs.js';
import { SERVER_IP, createNetnsPair } from '../test/helpers/netns.js';
import { startTunnel } from '../src/run/tunnel.js';

const RANGE = ['--min-port', '22800', '--max-port', '22999'];
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

/** Results of {@link runServerBench}. */
export interface ServerBenchResults {
  /** Seconds from the client's network going silent to its public port being free (target <= 15). */
  deadClient: { seconds: number; method: string } | { skipped: string };
  /** `conns` concurrent echo connections through one tunnel (target: 0 failures). */
  concurrency: { conns: number; failures: number; ms: number; serverRssIdleMb: number; serverRssOpenMb: number };
  /** `count` tunnels on one server, each carrying a round trip (target: 100, 0 failures). */
  tunnels: { count: number; openMs: number; failures: number; serverRssMb: number };
  /** Server RSS and a tunnel's round-trip time while 2,000 connections sit in their handshake. */
  idleHandshakes: { count: number; serverRssMb: number; roundTripMs: number };
}

/** Measures the dead-client detection; skipped (with the reason) where namespaces are unavailable. */
async function deadClient(): Promise<ServerBenchResults['deadClient']> {
  const pair = createNetnsPair(`b${process.pid % 10000}`);
  if (typeof pair === 'string') return { skipped: pair };
  const procs: BoreProcess[] = [];
  try {
    const server = new BoreProcess(
      ['server', '--control-port', '0', '--bind-addr', SERVER_IP, '--bind-tunnels', SERVER_IP, ...RANGE],
      {},
      [CLI],
      pair.launcher(pair.server),
    );
    procs.push(server);
    const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
    const client = new BoreProcess(
      ['local', '9', '--to', SERVER_IP, '--control-port', String(controlPort)],
      {},
      [CLI],
      pair.launcher(pair.client),
    );
    procs.push(client);
    const port = Number((await client.waitFor(/listening at [\d.]+:(\d+)/))[1]);
    const from = server.output.length;
    const method = pair.dropClientTraffic();
    const start = Date.now();
    client.proc.kill('SIGKILL');
    await server.waitFor(new RegExp(`client disconnected port=${port}`), 60_000, from);
    const seconds = (Date.now() - start) / 1000;
    if (!pair.serverPortIsFree(port)) throw new Error(`port ${port} still bound after the disconnect`);
    return { seconds: round(seconds, 2), method };
  } finally {
    for (const p of procs) await p.stop('SIGKILL');
    pair.destroy();
  }
}

/** Opens `conns` connections at once, echoes 1 KiB on each, and holds them all open. */
async function concurrency(conns: number): Promise<ServerBenchResults['concurrency']> {
  const echo = await startEchoServer();
  const server = await startServer(RANGE);
  const client = await startClient(echo.port, server.controlPort);
  try {
    const serverRssIdleMb = rssMb(server.proc.pid!);
    const t0 = Date.now();
    const sockets: net.Socket[] = [];
    const results = await Promise.allSettled(
      Array.from({ length: conns }, async () => {
        const s = await connect(client.publicPort);
        sockets.push(s);
        s.on('error', () => {});
        const data = randomBytes(1024);
        const got: Buffer[] = [];
        let n = 0;
        s.on('data', (c: Buffer) => {
          got.push(c);
          n += c.length;
        });
        s.write(data);
        while (n < data.length) await once(s, 'data');
        if (!Buffer.concat(got).equals(data)) throw new Error('echo mismatch');
      }),
    );
    const ms = Date.now() - t0;
    const serverRssOpenMb = rssMb(server.proc.pid!);
    for (const s of sockets) s.destroy();
    return {
      conns,
      failures: results.filter((r) => r.status === 'rejected').length,
      ms,
      serverRssIdleMb: round(serverRssIdleMb),
      serverRssOpenMb: round(serverRssOpenMb),
    };
  } finally {
    await client.stop();
    await server.stop();
    await echo.close();
  }
}

/** Opens `count` tunnels (library clients in this process) on one CLI server. */
async function tunnels(count: number): Promise<ServerBenchResults['tunnels']> {
  const echo = await startEchoServer();
  // All from 127.0.0.1: past the default per-address cap.
  const server = await startServer([...RANGE, '--max-tunnels-per-addr', '0']);
  const opened = Array.from({ length: count }, () =>
    startTunnel({ localPort: echo.port, localHost: '127.0.0.1', to: '127.0.0.1', controlPort: server.controlPort }),
  );
  try {
    const t0 = Date.now();
    const ports = await Promise.all(opened.map((t) => t.ready));
    const openMs = Date.now() - t0;
    let failures = 0;
    await Promise.all(
      ports.map(async (port) => {
        const data = randomBytes(16 * 1024);
        try {
          const back = await roundTrip(await connect(port), data);
          if (sha256(back) !== sha256(data)) failures++;
        } catch {
          failures++;
        }
      }),
    );
    return { count: new Set(ports).size, openMs, failures, serverRssMb: round(rssMb(server.proc.pid!)) };
  } finally {
    await Promise.all(opened.map((t) => t.stop()));
    await server.stop();
    await echo.close();
  }
}

/** Holds `count` silent connections on the control port and times a tunnel round trip meanwhile. */
async function idleHandshakes(count: number): Promise<ServerBenchResults['idleHandshakes']> {
  const echo = await startEchoServer();
  // Each silent connection is a failed handshake from 127.0.0.1 once it times out.
  const server = await startServer([...RANGE, '--max-auth-failures', '0']);
  const client = await startClient(echo.port, server.controlPort);
  const idle: net.Socket[] = [];
  try {
    for (let i = 0; i < count; i += 250) {
      const batch = Array.from({ length: Math.min(250, count - i) }, () =>
        net.connect({ port: server.controlPort, host: '127.0.0.1' }).on('error', () => {}),
      );
      await Promise.all(batch.map((s) => once(s, 'connect')));
      idle.push(...batch);
    }
    const t0 = process.hrtime.bigint();
    const data = randomBytes(64 * 1024);
    const back = await roundTrip(await connect(client.publicPort), data);
    const roundTripMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (sha256(back) !== sha256(data)) throw new Error('round trip corrupted');
    return { count, serverRssMb: round(rssMb(server.proc.pid!)), roundTripMs: round(roundTripMs, 1) };
  } finally {
    for (const s of idle) s.destroy();
    await client.stop();
    await server.stop();
    await echo.close();
  }
}

/** Runs every server benchmark in turn (about 30 s; the dead-client one alone is ~16 s). */
export async function runServerBench(): Promise<ServerBenchResults> {
  return {
    concurrency: await concurrency(1000),
    tunnels: await tunnels(100),
    idleHandshakes: await idleHandshakes(2000),
    deadClient: await deadClient(),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await runServerBench(), null, 2));
}
