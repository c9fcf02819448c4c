/**
 * Benchmark of the connection manager (issue 3's targets), with real processes:
 * - loss detection: how long after the network goes silent the client declares the
 *   connection lost (target: <= heartbeat timeout + 0.5 s);
 * - recovery: how long after a restarted server is listening the tunnel is back
 *   (target: <= 1.5 s);
 * - in-flight data: bytes lost from a transfer running across a control reconnect
 *   (target: 0).
 * Run: `npm run build && node --import tsx bench/reconnect.ts [--quick]`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { startClient, startEchoServer, startServer } from '../test/helpers/procs.js';
import { FlakyProxy } from '../test/helpers/flaky-proxy.js';
import { freePort, sendAcrossControlCut, startHeldSink } from '../test/helpers/held-sink.js';

const RANGE = ['--min-port', '23900', '--max-port', '23999'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Seconds from a silent network to `connection lost: heartbeat timeout`. */
async function lossDetection(heartbeatTimeout: number, runs: number): Promise<number[]> {
  const echo = await startEchoServer();
  const server = await startServer(RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const client = await startClient(echo.port, await relay.listen(), ['--heartbeat-timeout', String(heartbeatTimeout)]);
  const results: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const mark = client.output.length;
      const t0 = performance.now();
      relay.blackhole();
      await client.waitFor(/connection lost: heartbeat timeout/, (heartbeatTimeout + 5) * 1000, mark);
      results.push((performance.now() - t0) / 1000);
      relay.restore();
      await client.waitFor(/listening at 127\.0\.0\.1:\d+/, 20_000, mark);
    }
  } finally {
    await client.stop();
    await server.stop();
    await relay.close();
    await echo.close();
  }
  return results;
}

/** Seconds from a restarted server's `server listening` to the client's `listening at`. */
async function recovery(runs: number): Promise<{ seconds: number[]; samePort: boolean }> {
  const echo = await startEchoServer();
  const controlPort = await freePort();
  let server = await startServer([...RANGE, '--control-port', String(controlPort)]);
  const client = await startClient(echo.port, controlPort);
  const seconds: number[] = [];
  let samePort = true;
  try {
    for (let i = 0; i < runs; i++) {
      const mark = client.output.length;
      await server.stop('SIGKILL');
      await client.waitFor(/connection lost/, 5000, mark);
      server = await startServer([...RANGE, '--control-port', String(controlPort)]);
      const t0 = performance.now();
      const m = await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/, 20_000, mark);
      seconds.push((performance.now() - t0) / 1000);
      samePort &&= Number(m[1]) === client.publicPort;
      // Let the tunnel count as stable so each run starts the backoff schedule afresh.
      await new Promise((r) => setTimeout(r, 10_500));
    }
  } finally {
    await client.stop();
    await server.stop();
    await echo.close();
  }
  return { seconds, samePort };
}

/** Bytes lost from a transfer that runs across a control reconnect. */
async function inFlight(size: number): Promise<{ lost: number; intact: boolean }> {
  const server = await startServer(RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const relayPort = await relay.listen();
  const data = randomBytes(size);
  const sink = await startHeldSink(size);
  const client = await startClient(sink.port, relayPort);
  try {
    const { digest } = await sendAcrossControlCut(client, client.publicPort, relay, sink, data);
    return { lost: size - sink.received, intact: digest === createHash('sha256').update(data).digest('hex') };
  } finally {
    await client.stop();
    await server.stop();
    await relay.close();
    sink.close();
  }
}

/** Runs the three measurements; returns the figures. */
export async function runReconnectBench(quick = false) {
  const heartbeatTimeout = 8;
  const detection = await lossDetection(heartbeatTimeout, quick ? 1 : 3);
  const back = await recovery(quick ? 2 : 5);
  const transfer = await inFlight(32 * 1024 * 1024);
  return {
    lossDetection: { heartbeatTimeoutS: heartbeatTimeout, runsS: detection, maxS: Math.max(...detection), targetS: heartbeatTimeout + 0.5 },
    recovery: {
      runsS: back.seconds,
      medianS: median(back.seconds),
      maxS: Math.max(...back.seconds),
      samePort: back.samePort,
      targetS: 1.5,
    },
    inFlight: { bytes: 32 * 1024 * 1024, lostBytes: transfer.lost, sha256Intact: transfer.intact },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const r = await runReconnectBench(process.argv.includes('--quick'));
  const f = (x: number) => x.toFixed(2);
  console.log('| figure | result | target |');
  console.log('|---|---|---|');
  console.log(
    `| loss detected after a silent network (heartbeat timeout ${r.lossDetection.heartbeatTimeoutS} s) | max ${f(r.lossDetection.maxS)} s (${r.lossDetection.runsS.map(f).join(', ')}) | ≤ ${r.lossDetection.targetS} s |`,
  );
  console.log(
    `| tunnel back after the restarted server listens | median ${f(r.recovery.medianS)} s, max ${f(r.recovery.maxS)} s, same port: ${r.recovery.samePort} | ≤ ${r.recovery.targetS} s |`,
  );
  console.log(
    `| bytes lost from a 32 MiB transfer across a control reconnect | ${r.inFlight.lostBytes} (sha256 ${r.inFlight.sha256Intact ? 'intact' : 'MISMATCH'}) | 0 |`,
  );
  console.log(JSON.stringify(r));
}
