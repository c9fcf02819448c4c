/**
 * `npm run bench -- --only setup-pool`: connection setup on loopback with the warm pool
 * off and on (issue 12). For each, a fresh `bore server` + `bore local` (the real CLI):
 * the first 300 connections after start ("cold"), then 2,000 more, then 300 ("warm");
 * each p50 is set against 300 direct connections to the same echo service taken right
 * after it, so both sides of a ratio share the machine's load of the moment. Rounds
 * alternate off/on (`--rounds`, default 2). Writes `bench/results/setup-pool.json`.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BoreProcess } from '../test/helpers/procs.js';
import type { Job } from './loadgen.js';
import { percentile } from './proc-stats.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const argv = process.argv.slice(2);
const roundsIdx = argv.indexOf('--rounds');
const ROUNDS = roundsIdx >= 0 ? Number(argv[roundsIdx + 1]) : 2;
const COLD = 300;
const WARMUP = 2000;
const WARM = 300;
const TARGETS = { cold: 3.5, warm: 2.5 };
const CONFIGS = [
  { name: 'pool off', args: ['--pool', '0'] },
  { name: 'pool on', args: ['--pool', '4'] },
];

/** Starts a bench script; resolves with its stdout lines. */
function node(script: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

async function firstJson<T>(lines: AsyncIterableIterator<string>): Promise<T> {
  const r = await lines.next();
  if (r.done) throw new Error('exited without a result');
  return JSON.parse(r.value) as T;
}

/** p50 of `count` sequential connect + first echoed byte on `port`, ms. */
async function setupP50(port: number, count: number): Promise<number> {
  const job: Job = { kind: 'setup', port, count };
  const { child, lines } = node('loadgen.ts', [JSON.stringify(job)]);
  const { samples } = await firstJson<{ samples: number[] }>(lines);
  child.kill();
  return Math.round(percentile(samples, 50) * 1000) / 1000;
}

interface Row {
  config: string;
  round: number;
  cold: { tunnelP50Ms: number; directP50Ms: number; ratio: number };
  warm: { tunnelP50Ms: number; directP50Ms: number; ratio: number };
}

async function measure(config: (typeof CONFIGS)[number], round: number, echoPort: number): Promise<Row> {
  const server = new BoreProcess(['server', '--control-port', '0', '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1']);
  try {
    const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
    const client = new BoreProcess([
      'local',
      String(echoPort),
      '--to',
      '127.0.0.1',
      '--control-port',
      String(controlPort),
      '--local-host',
      '127.0.0.1',
      ...config.args,
    ]);
    try {
      const port = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
      const pair = async (count: number) => {
        const tunnelP50Ms = await setupP50(port, count);
        const directP50Ms = await setupP50(echoPort, count);
        return { tunnelP50Ms, directP50Ms, ratio: Math.round((tunnelP50Ms / directP50Ms) * 100) / 100 };
      };
      const cold = await pair(COLD);
      await setupP50(port, WARMUP);
      const warm = await pair(WARM);
      const row = { config: config.name, round, cold, warm };
      process.stderr.write(`${JSON.stringify(row)}\n`);
      return row;
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
  }
}

const services = node('services.ts', []);
const { port: echoPort } = await firstJson<{ port: number }>(services.lines);
const rows: Row[] = [];
try {
  for (let round = 1; round <= ROUNDS; round++) for (const config of CONFIGS) rows.push(await measure(config, round, echoPort));
} finally {
  services.child.kill();
}
writeFileSync(join(HERE, 'results', 'setup-pool.json'), `${JSON.stringify({ time: new Date().toISOString(), rows }, null, 2)}\n`);
const f = (x: { tunnelP50Ms: number; directP50Ms: number; ratio: number }) =>
  `${x.tunnelP50Ms.toFixed(3)} / ${x.directP50Ms.toFixed(3)} ms (${x.ratio.toFixed(2)}x)`;
console.log(
  `| Config, round | First ${COLD} after start: tunnel / direct p50 (target <= ${TARGETS.cold}x) | ${WARM} after ${WARMUP} more: tunnel / direct p50 (target <= ${TARGETS.warm}x) |`,
);
console.log('|---|---|---|');
for (const r of rows) console.log(`| ${r.config}, ${r.round} | ${f(r.cold)} | ${f(r.warm)} |`);
