/**
 * `node --import tsx bench/failover.ts [--runs N]` (issue 24): two bore servers on two
 * loopback addresses (127.0.0.1 and 127.0.0.2, each with --bind-addr and --bind-tunnels
 * on its own), a client with `--to a,b`; the first server is killed (SIGKILL) and the
 * time from the kill to the client's `moved to 127.0.0.2: listening at ...` line is
 * measured, then the tunnel is checked with a round trip. Each run starts fresh
 * processes. Target: the median of 10 within the heartbeat timeout plus one second
 * (8 + 1 s with the default). Writes `bench/results/failover.json` and prints markdown.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { BoreProcess, connect, roundTrip, startEchoServer } from '../test/helpers/procs.js';
import { median } from './proc-stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const RUNS = Number(argv.includes('--runs') ? argv[argv.indexOf('--runs') + 1] : 10);
const HEARTBEAT_TIMEOUT_S = 8;

async function serverOn(addr: string) {
  const proc = new BoreProcess(['server', '--bind-addr', addr, '--bind-tunnels', addr, '--control-port', '0']);
  const m = await proc.waitFor(/server listening .*port=(\d+)/, 15_000);
  return Object.assign(proc, { controlPort: Number(m[1]) });
}

/** Seconds from killing the first server to the client listening on the second. */
async function oneRun(echoPort: number): Promise<number> {
  const a = await serverOn('127.0.0.1');
  const b = await serverOn('127.0.0.2');
  const client = new BoreProcess(['local', String(echoPort), '--to', `127.0.0.1:${a.controlPort},127.0.0.2:${b.controlPort}`]);
  try {
    await client.waitFor(/listening at 127\.0\.0\.1:\d+/, 15_000);
    const mark = client.output.length;
    const t0 = performance.now();
    await a.stop('SIGKILL');
    const m = await client.waitFor(/moved to 127\.0\.0\.2: listening at 127\.0\.0\.2:(\d+)/, 30_000, mark);
    const seconds = (performance.now() - t0) / 1000;
    const reply = await roundTrip(await connect(Number(m[1]), '127.0.0.2'), Buffer.from('ping'));
    if (reply.toString() !== 'ping') throw new Error('no round trip through the second server');
    return seconds;
  } finally {
    await client.stop();
    await a.stop();
    await b.stop();
  }
}

const echo = await startEchoServer();
const seconds: number[] = [];
try {
  for (let i = 0; i < RUNS; i++) seconds.push(await oneRun(echo.port));
} finally {
  await echo.close();
}
const result = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  runs: RUNS,
  seconds: seconds.map((s) => Number(s.toFixed(3))),
  medianSeconds: Number(median(seconds).toFixed(3)),
  targetSeconds: HEARTBEAT_TIMEOUT_S + 1,
};
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', 'failover.json'), `${JSON.stringify(result, null, 2)}\n`);
console.log('| Figure | Result | Target |\n| --- | --- | --- |');
console.log(
  `| First server killed → listening on the second (median of ${RUNS}) | ${result.medianSeconds.toFixed(2)} s (min ${Math.min(...seconds).toFixed(2)}, max ${Math.max(...seconds).toFixed(2)}) | <= ${result.targetSeconds} s |`,
);
