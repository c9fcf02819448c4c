/**
 * `node --import tsx bench/many-tunnels.ts [--counts 100,300,1000,3000] [--before <bore.mjs>] [--rest 3000]`:
 * one `bore up` process with N tunnels to one server (default flags but the port range and
 * `--max-tunnels-per-addr 0`, default pool): how long from its start until it logs `all N
 * tunnels listening` (or how many listen by the deadline), then, after `--rest` ms (3 s),
 * the idle CPU of the client and of the server over 10 s (% of a core) and their RSS; RSS per
 * tunnel is the growth over a one-tunnel run's. With `--before`, another build of the CLI
 * runs the same counts, interleaved. Writes `bench/results/many-tunnels.json`.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BoreProcess, CLI, startEchoServer } from '../test/helpers/procs.js';
import { cpuMs, rssMb } from './proc-stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const COUNTS = (flag('--counts') ?? '100,300,1000,3000').split(',').map(Number);
const BEFORE = flag('--before');
const DEADLINE_MS = Number(flag('--deadline') ?? 60_000);
// The first seconds hold one-off work (V8 tiering up, its memory-reducing GC some 8 s after
// the old generation grew at start): a longer rest measures the steady state.
const REST_MS = Number(flag('--rest') ?? 3000);
const DIR = mkdtempSync(join(tmpdir(), 'bore-bench-many-'));
const idle = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU of `pids` over `ms`, % of one core each. */
async function cpuPercent(pids: number[], ms: number): Promise<number[]> {
  const before = pids.map(cpuMs);
  await idle(ms);
  return pids.map((pid, i) => ((cpuMs(pid) - before[i]!) / ms) * 100);
}

/** Writes a `bore up` file of `n` tunnels to `localPort` through `controlPort`. */
function config(n: number, controlPort: number, localPort: number): string {
  const lines = ['to = "127.0.0.1"', `control_port = ${controlPort}`, 'local_host = "127.0.0.1"', ''];
  for (let i = 0; i < n; i++) lines.push(`[tunnels.t${i}]`, `local_port = ${localPort}`, '');
  const path = join(DIR, `up-${n}.toml`);
  writeFileSync(path, lines.join('\n'));
  return path;
}

interface Row {
  build: string;
  tunnels: number;
  /** ms from `bore up`'s spawn to its `all N tunnels listening`, or null past the deadline. */
  upMs: number | null;
  /** Tunnels listening at the deadline (all, when `upMs` is set). */
  listening: number;
  clientIdleCpu: number;
  serverIdleCpu: number;
  clientRssMb: number;
  serverRssMb: number;
}

async function run(build: string, cli: string, n: number, localPort: number): Promise<Row> {
  const controlPort = 7900 + (n % 97);
  const server = new BoreProcess(
    ['server', '--control-port', String(controlPort), '--min-port', '30000', '--max-port', '39999', '--max-tunnels-per-addr', '0'],
    {},
    [cli],
  );
  await server.waitFor(/listening/, 15_000);
  const started = performance.now();
  const up = new BoreProcess(['up', '--config', config(n, controlPort, localPort)], {}, [cli]);
  let upMs: number | null = null;
  try {
    await up.waitFor(new RegExp(`all ${n} tunnels? listening`), DEADLINE_MS);
    upMs = Math.round(performance.now() - started);
  } catch {
    // Past the deadline: count how many made it.
  }
  const listening = new Set([...up.output.matchAll(/listening at \S+ tunnel=(\S+)/g)].map((m) => m[1])).size;
  await idle(REST_MS);
  const [clientIdleCpu, serverIdleCpu] = await cpuPercent([up.proc.pid!, server.proc.pid!], 10_000);
  const row: Row = {
    build,
    tunnels: n,
    upMs,
    listening,
    clientIdleCpu: Math.round(clientIdleCpu! * 10) / 10,
    serverIdleCpu: Math.round(serverIdleCpu! * 10) / 10,
    clientRssMb: Math.round(rssMb(up.proc.pid!) * 10) / 10,
    serverRssMb: Math.round(rssMb(server.proc.pid!) * 10) / 10,
  };
  await Promise.all([up.stop(), server.stop()]);
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

async function main(): Promise<void> {
  const echo = await startEchoServer();
  const builds: [string, string][] = [...(BEFORE ? [['before', BEFORE] as [string, string]] : []), ['after', CLI]];
  const rows: Row[] = [];
  for (const n of [1, ...COUNTS]) for (const [build, cli] of builds) rows.push(await run(build, cli, n, echo.port));
  await echo.close();
  const lines = [
    '| Build | Tunnels | All listening after | Client idle CPU | Server idle CPU | Client RSS (per tunnel) | Server RSS (per tunnel) |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const one = rows.find((x) => x.build === r.build && x.tunnels === 1)!;
    const per = (mb: number, base: number) => (r.tunnels > 1 ? ` (${Math.round(((mb - base) * 1024) / (r.tunnels - 1))} KB)` : '');
    lines.push(
      `| ${r.build} | ${r.tunnels} | ${r.upMs === null ? `${r.listening} of ${r.tunnels} in ${DEADLINE_MS / 1000} s` : `${(r.upMs / 1000).toFixed(2)} s`} | ${r.clientIdleCpu}% | ${r.serverIdleCpu}% | ${r.clientRssMb} MB${per(r.clientRssMb, one.clientRssMb)} | ${r.serverRssMb} MB${per(r.serverRssMb, one.serverRssMb)} |`,
    );
  }
  const out = join(HERE, 'results', 'many-tunnels.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify({ date: new Date().toISOString(), node: process.version, before: BEFORE ?? null, rows }, null, 2)}\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n`);
}

await main();
