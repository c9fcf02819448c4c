/**
 * The single-file executable against the bundle (issue 21): its size, and the start-up
 * of `--version` and `--help` (median wall time of `--runs` runs, 10 by default, after
 * one warm-up) for `dist/bore-linux-x64` and for `node dist/bundle/bore.mjs`, with the
 * Node that runs this script and with the Node the executable embeds (like for like).
 * The runs are interleaved, so a machine whose load changes weighs on each alike.
 * Prints a markdown table and writes `bench/results/exe.json`.
 *
 *   npm run build && npm run build:exe && node --import tsx bench/exe.ts [--runs N]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXE, nodeBinary } from '../scripts/build-exe.js';
import { median } from './proc-stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BUNDLE = join(HERE, '..', 'dist', 'bundle', 'bore.mjs');
const runsIdx = process.argv.indexOf('--runs');
const RUNS = runsIdx >= 0 ? Number(process.argv[runsIdx + 1]) : 10;
if (!(RUNS >= 1)) throw new Error(`--runs wants a number of runs, got '${process.argv[runsIdx + 1]}'`);
for (const [file, how] of [
  [EXE, 'npm run build:exe'],
  [BUNDLE, 'npm run build'],
]) {
  if (!existsSync(file!)) throw new Error(`${file} is missing: run \`${how}\` first`);
}

const version = (node: string) => spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
const embedded = nodeBinary();
const commands: Record<string, string[]> = {
  'dist/bore-linux-x64': [EXE],
  [`node ${version(process.execPath)} dist/bundle/bore.mjs`]: [process.execPath, BUNDLE],
  [`node ${version(embedded)} dist/bundle/bore.mjs`]: [embedded, BUNDLE],
};

/** Milliseconds one run of `cmd` takes; throws if it fails. */
function timeOnce([cmd, ...args]: string[]): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/nonexistent' } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const samples = new Map<string, number[]>();
for (const flag of ['--version', '--help']) {
  for (const cmd of Object.values(commands)) timeOnce([...cmd, flag]);
  for (let i = 0; i < RUNS; i++) {
    for (const [name, cmd] of Object.entries(commands)) {
      const key = `${name} ${flag}`;
      samples.set(key, [...(samples.get(key) ?? []), timeOnce([...cmd, flag])]);
    }
  }
}

const results = {
  runs: RUNS,
  exeBytes: statSync(EXE).size,
  medianMs: Object.fromEntries([...samples].map(([key, ms]) => [key, Math.round(median(ms) * 10) / 10])),
};
process.stdout.write(`dist/bore-linux-x64: ${(results.exeBytes / 2 ** 20).toFixed(1)} MiB (${results.exeBytes} bytes)\n\n`);
process.stdout.write(`| Command (median of ${RUNS}) | --version | --help |\n| --- | --- | --- |\n`);
for (const name of Object.keys(commands)) {
  process.stdout.write(`| ${name} | ${results.medianMs[`${name} --version`]} ms | ${results.medianMs[`${name} --help`]} ms |\n`);
}
mkdirSync(join(HERE, 'results'), { recursive: true });
writeFileSync(join(HERE, 'results', 'exe.json'), `${JSON.stringify(results, null, 2)}\n`);
