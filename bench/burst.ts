/**
 * `node --import tsx bench/burst.ts [--before <bore.mjs>] [--rounds N]`: bursts of
 * simultaneous visitors (5,000 and 10,000, each echoing 10 x 1 KiB) through a tunnel with
 * default flags on both ends, on loopback: wall time and failures. With `--before`, another
 * build of the CLI (e.g. a copy of `dist/bundle` from an earlier commit) runs in the same
 * rounds, interleaved. `BORE_RUST=<binary>` adds the Rust bore. `--variants` adds our build
 * with `--no-mux` (visitors past the pool take the standard path) and with `--mux-first`
 * (every visitor multiplexed). Writes
 * `bench/results/burst.json` and prints markdown.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { BoreProcess, CLI } from '../test/helpers/procs.js';
import type { Job } from './loadgen.js';
import { median } from './proc-stats.js';
import { nextJson } from './wan/link.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const BEFORE = flag('--before');
const ROUNDS = Number(flag('--rounds') ?? 3);
const RUST = process.env.BORE_RUST;
const VARIANTS = argv.includes('--variants');
const BURSTS = [5000, 10_000];

/** A bench script as its own process, with a reader of its stdout lines. */
function node(script: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

/** One tunnel to the echo service: ours (a CLI build) or the Rust bore; default flags but the port range. */
async function startTunnel(cli: string, servicePort: number, clientArgs: string[] = []) {
  const rust = cli === 'rust';
  const spawnBore = (args: string[]) => (rust ? new BoreProcess(args, {}, [], [], RUST) : new BoreProcess(args, {}, [cli]));
  const server = spawnBore(['server', '--min-port', '21000', '--max-port', '21999', ...(rust ? [] : ['--control-port', '7890'])]);
  await server.waitFor(/listening/, 15_000);
  const client = spawnBore(['local', String(servicePort), '--to', '127.0.0.1', ...(rust ? [] : ['--control-port', '7890']), ...clientArgs]);
  const m = await client.waitFor(/listening at [\d.]+:(\d+)/, 15_000);
  if (clientArgs.includes('--mux-first')) await client.waitFor(/multiplexed connection ready/, 15_000);
  return { port: Number(m[1]), serverLog: () => server.output, stop: () => Promise.all([client.stop(), server.stop()]) };
}

async function main(): Promise<void> {
  const services = node('services.ts', []);
  const { port: servicePort } = await nextJson<{ port: number }>(services.lines, 'services');
  const builds = [
    ...(BEFORE ? [['before', BEFORE]] : []),
    ['after', CLI],
    ...(VARIANTS ? [['after --no-mux', CLI] as const, ['after --mux-first', CLI] as const] : []),
    ...(RUST ? [['rust', 'rust']] : []),
  ] as const;
  const rows: { round: number; build: string; conns: number; ms: number; failures: number; errors: Record<string, number> }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [build, cli] of builds) {
      for (const conns of BURSTS) {
        const variant = build.startsWith('after --') ? [build.slice('after '.length)] : [];
        const tunnel = await startTunnel(cli, servicePort, cli === 'rust' ? [] : [...variant, '--log-level', 'debug']);
        try {
          const job: Job = { kind: 'concurrency', port: tunnel.port, conns, messages: 10, size: 1024, timeoutMs: 60_000 };
          const gen = node('loadgen.ts', [JSON.stringify(job)]);
          const r = await nextJson<{ ms: number; failures: number; errors: Record<string, number> }>(gen.lines, 'loadgen');
          gen.child.stdin.write('\n');
          await nextJson(gen.lines, 'loadgen release');
          gen.child.kill();
          // What the server says of the visitors it closed itself (the Rust bore says nothing).
          const said = (re: RegExp) => (tunnel.serverLog().match(re) ?? []).length;
          const server = { stale: said(/removed stale connection/g), droppedOldest: said(/dropping the oldest/g) };
          rows.push({ round, build, conns, ms: Math.round(r.ms), failures: r.failures, errors: { ...r.errors, ...server } });
          process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
        } finally {
          await tunnel.stop();
        }
      }
    }
  }
  services.child.kill();
  const lines = ['| Build | Visitors | Wall time, median (range) | Failed (per round) |', '|---|---|---|---|'];
  for (const [build] of builds) {
    for (const conns of BURSTS) {
      const mine = rows.filter((r) => r.build === build && r.conns === conns);
      const ms = mine.map((r) => r.ms);
      lines.push(
        `| ${build} | ${conns} | ${(median(ms) / 1000).toFixed(2)} s (${(Math.min(...ms) / 1000).toFixed(2)}-${(Math.max(...ms) / 1000).toFixed(2)}) | ${mine.map((r) => r.failures).join(', ')} |`,
      );
    }
  }
  const out = join(HERE, 'results', 'burst.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), machine: { cores: os.cpus().length, node: process.version }, before: BEFORE ?? null, rust: RUST ?? null, rows }, null, 2)}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
