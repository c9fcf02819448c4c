/**
 * Benchmark of several tunnels in one process (issue 14's targets), with real processes:
 * - memory: RSS of one `bore up` process with 20 tunnels against one `bore local` with
 *   one (target: <= 2x), both idle 2 s after all are listening;
 * - server restart: how long after a restarted server is listening all 20 tunnels of a
 *   `bore up` are back on their ports (`all 20 tunnels listening`), median of 5 (target
 *   <= 1.5 s);
 * - in flight: bytes lost from a 32 MiB transfer through one of the 20 tunnels while the
 *   control connections of all 20 are cut (through a relay) and come back (target: 0);
 *   with `pool = 0`, so that the first 20 relayed connections are the control ones.
 * The others run with the default pool (4 idle data connections per tunnel).
 * Run: `npm run bench -- --only multi`, or `npm run build && node --import tsx bench/multi.ts [--quick]`.
 * Writes `bench/results/multi.json`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BoreProcess, connect, startClient, startEchoServer, startServer } from '../test/helpers/procs.js';
import { FlakyProxy } from '../test/helpers/flaky-proxy.js';
import { freePort, startHeldSink } from '../test/helpers/held-sink.js';
import { rssMb } from './proc-stats.js';

// Past the server's default cap of tunnels per client address (the 20 come from one).
const RANGE = ['--min-port', '24000', '--max-port', '24199', '--max-tunnels-per-addr', '0'];
const COUNT = 20;
const DIR = mkdtempSync(join(tmpdir(), 'bore-bench-multi-'));
const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Writes a config of `COUNT` tunnels to `localPort` (the first one to `firstLocalPort`) through `controlPort`; returns its path. */
function config(controlPort: number, localPort: number, firstLocalPort = localPort, extra: string[] = []): string {
  const lines = ['to = "127.0.0.1"', `control_port = ${controlPort}`, 'local_host = "127.0.0.1"', 'retry_first = true', ...extra, ''];
  for (let i = 0; i < COUNT; i++) lines.push(`[tunnels.t${i}]`, `local_port = ${i === 0 ? firstLocalPort : localPort}`, '');
  const path = join(DIR, `bore-${controlPort}-${extra.length}.toml`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

/** `bore up` on `path`; resolves once all tunnels listen. */
async function startUp(path: string): Promise<BoreProcess> {
  const up = new BoreProcess(['up', '--config', path]);
  await up.waitFor(new RegExp(`all ${COUNT} tunnels listening`), 20_000);
  return up;
}

/** The public port of each tunnel in `output`, by name (the last one logged). */
function ports(output: string): Map<string, number> {
  const found = new Map<string, number>();
  for (const m of output.matchAll(/listening at 127\.0\.0\.1:(\d+) tunnel=(\S+)/g)) found.set(m[2]!, Number(m[1]));
  return found;
}

/** Waits until `re` has matched `n` times after `from`. */
async function count(p: BoreProcess, re: RegExp, n: number, from: number, timeoutMs = 20_000): Promise<void> {
  const global = new RegExp(re.source, 'g');
  const deadline = performance.now() + timeoutMs;
  while ((p.output.slice(from).match(global)?.length ?? 0) < n) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`timed out waiting for ${n} x ${re}:\n${p.output.slice(from)}`);
    // Wait for the next output of the process.
    const mark = p.output.length;
    await p.waitFor(/[\s\S]/, left, mark).catch(() => {});
  }
}

async function memory(): Promise<{ singleMb: number; multiMb: number; ratio: number }> {
  const echo = await startEchoServer();
  const server = await startServer(RANGE);
  try {
    const single = await startClient(echo.port, server.controlPort);
    await idle(2000);
    const singleMb = rssMb(single.proc.pid!);
    await single.stop();
    const up = await startUp(config(server.controlPort, echo.port));
    await idle(2000);
    const multiMb = rssMb(up.proc.pid!);
    await up.stop();
    return { singleMb, multiMb, ratio: multiMb / singleMb };
  } finally {
    await server.stop();
    await echo.close();
  }
}

/** Seconds from a restarted server's `server listening` to `all 20 tunnels listening`, per run; and whether every port came back. */
async function restart(runs: number): Promise<{ seconds: number[]; samePorts: boolean }> {
  const echo = await startEchoServer();
  const controlPort = await freePort();
  let server = await startServer([...RANGE, '--control-port', String(controlPort)]);
  const up = await startUp(config(controlPort, echo.port));
  const first = ports(up.output);
  const seconds: number[] = [];
  let samePorts = first.size === COUNT;
  try {
    for (let i = 0; i < runs; i++) {
      const mark = up.output.length;
      await server.stop('SIGKILL');
      await count(up, /connection lost/, COUNT, mark);
      server = await startServer([...RANGE, '--control-port', String(controlPort)]);
      const t0 = performance.now();
      await up.waitFor(new RegExp(`all ${COUNT} tunnels listening`), 30_000, mark);
      seconds.push((performance.now() - t0) / 1000);
      const now = ports(up.output.slice(mark));
      samePorts &&= now.size === COUNT && [...first].every(([name, port]) => now.get(name) === port);
      // Let the tunnels count as stable so each run starts the backoff schedule afresh.
      await idle(10_500);
    }
  } finally {
    await up.stop();
    await server.stop();
    await echo.close();
  }
  return { seconds, samePorts };
}

/** Bytes lost from a transfer through one tunnel while the control connections of all are cut. */
async function inFlight(size: number): Promise<{ lost: number; intact: boolean }> {
  const echo = await startEchoServer();
  const server = await startServer(RANGE);
  const relay = new FlakyProxy(server.controlPort);
  const relayPort = await relay.listen();
  const data = randomBytes(size);
  const sink = await startHeldSink(size);
  // No pool here: its idle data connections would go through the relay among the control connections.
  const up = await startUp(config(relayPort, echo.port, sink.port, ['pool = 0']));
  try {
    const sender = await connect(ports(up.output).get('t0')!);
    sender.end(data);
    await sink.quarter;
    const mark = up.output.length;
    // The first COUNT relayed connections are the control connections (the one data connection came after).
    for (let i = 0; i < COUNT; i++) relay.cut(i);
    await count(up, /connection lost/, COUNT, mark);
    await count(up, /reconnected/, COUNT, mark, 30_000);
    sink.release();
    const digest = await sink.finished;
    return { lost: size - sink.received, intact: digest === createHash('sha256').update(data).digest('hex') };
  } finally {
    await up.stop();
    await server.stop();
    await relay.close();
    sink.close();
    await echo.close();
  }
}

/** Runs the three measurements; returns the figures. */
export async function runMultiBench(quick = false) {
  const mem = await memory();
  const back = await restart(quick ? 2 : 5);
  const transfer = await inFlight(32 * 1024 * 1024);
  return {
    tunnels: COUNT,
    memory: { singleTunnelMb: round(mem.singleMb), multiMb: round(mem.multiMb), ratio: round(mem.ratio, 2), targetRatio: 2 },
    restart: {
      runsS: back.seconds.map((s) => round(s, 3)),
      medianS: round(median(back.seconds), 3),
      maxS: round(Math.max(...back.seconds), 3),
      samePorts: back.samePorts,
      targetS: 1.5,
    },
    inFlight: { bytes: 32 * 1024 * 1024, lostBytes: transfer.lost, sha256Intact: transfer.intact },
  };
}

function round(x: number, digits = 1): number {
  return Number(x.toFixed(digits));
}

/** The figures as a markdown table. */
export function multiTable(r: Awaited<ReturnType<typeof runMultiBench>>): string {
  return [
    '| Figure | Result | Target |',
    '|---|---|---|',
    `| RSS idle: one process with ${r.tunnels} tunnels / one with 1 | ${r.memory.multiMb} / ${r.memory.singleTunnelMb} MB (${r.memory.ratio}x) | <= ${r.memory.targetRatio}x |`,
    `| ${r.tunnels} tunnels back on their ports after the restarted server listens | median ${r.restart.medianS} s, max ${r.restart.maxS} s (${r.restart.runsS.join(', ')}); same ports: ${r.restart.samePorts} | <= ${r.restart.targetS} s |`,
    `| Bytes lost from a 32 MiB transfer on one of ${r.tunnels} tunnels while all ${r.tunnels} control connections are cut | ${r.inFlight.lostBytes} (sha256 ${r.inFlight.sha256Intact ? 'intact' : 'MISMATCH'}) | 0 |`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes('--quick');
  const r = await runMultiBench(quick);
  console.log(multiTable(r));
  const out = fileURLToPath(new URL('./results/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, quick ? 'multi-quick.json' : 'multi.json'),
    `${JSON.stringify({ at: new Date().toISOString(), ...r }, null, 2)}\n`,
  );
}
