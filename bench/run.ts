/**
 * `npm run bench`: measures the tunnel against the physical limit. Runs `bore server`,
 * `bore local`, the target service (`bench/services.ts`) and the load generator
 * (`bench/loadgen.ts`) as separate processes on loopback, and measures every figure
 * both through the tunnel and directly against the same service with the same
 * generator. Prints a markdown table and writes the figures, with machine info, to
 * `bench/results/latest.json` (or `--out <file>`).
 *
 * Flags: `--quick` (smaller sizes, about 20 s), `--out <file>`, `--only <a,b>` (a subset
 * of: memory, concurrency, slow, throughput, setup, rtt, startup), `--idle-minutes <n>`
 * (first, leave the tunnel idle for n minutes and read RSS every 30 s: the steady state
 * of a long-running client, which the 2 s reading does not show; off by default). `BORE_CLI=<file>`
 * runs another build of the CLI (e.g. `dist/src/cli/cli.js`, unbundled); start-up is
 * timed for `dist/src/cli/cli.js` and, when it exists, `dist/bundle/bore.mjs`.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { CLI, startClient, startServer } from '../test/helpers/procs.js';
import type { Job } from './loadgen.js';
import { cpuMs, median, peakRssMb, percentile, resetPeakRss, rssMb } from './proc-stats.js';
import { GiB, TARGETS, table } from './run-table.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const outIdx = argv.indexOf('--out');
const OUT = outIdx >= 0 ? argv[outIdx + 1]! : join(HERE, 'results', quick ? 'quick.json' : 'latest.json');
const onlyIdx = argv.indexOf('--only');
const only = onlyIdx >= 0 ? new Set(argv[onlyIdx + 1]!.split(',')) : undefined;
const wants = (name: string) => !only || only.has(name);
const idleIdx = argv.indexOf('--idle-minutes');
const idleMinutes = idleIdx >= 0 ? Number(argv[idleIdx + 1]) : 0;
if (!(idleMinutes >= 0)) throw new Error(`--idle-minutes wants a number of minutes, got '${argv[idleIdx + 1]}'`);

const SIZES = quick
  ? { bulk: 256 << 20, bulkRuns: 1, slow: 128 << 20, slowRate: 200, setup: 50, rtt: 1000, conns: 1000, messages: 10, startupRuns: 5 }
  : { bulk: GiB, bulkRuns: 5, slow: GiB, slowRate: 200, setup: 200, rtt: 5000, conns: 1000, messages: 10, startupRuns: 9 };

/** Starts a node script with tsx; resolves with the child and a line reader of its stdout. */
function startNode(script: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return { child, lines };
}

async function nextJson<T>(lines: AsyncIterableIterator<string>, what: string): Promise<T> {
  const r = await lines.next();
  if (r.done) throw new Error(`${what} exited without a result`);
  return JSON.parse(r.value) as T;
}

/** Runs one load-generator job to completion and returns its result line. */
async function loadgen<T>(job: Job): Promise<T> {
  const { child, lines } = startNode('loadgen.ts', [JSON.stringify(job)]);
  const result = await nextJson<T>(lines, `loadgen ${job.kind}`);
  child.kill();
  return result;
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function timeCommand(cmd: string, args: string[], runs: number): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return median(samples);
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function main(): Promise<void> {
  const results: Record<string, unknown> = {};
  const services = startNode('services.ts', ['--slow-rate', String(SIZES.slowRate)]);
  const { port: direct } = await nextJson<{ port: number }>(services.lines, 'services');
  const server = await startServer(['--min-port', '23000', '--max-port', '23999']);
  const client = await startClient(direct, server.controlPort, ['--local-host', '127.0.0.1']);
  const tunnel = client.publicPort;
  const pids = { server: server.proc.pid!, client: client.proc.pid! };
  const targets = [
    ['direct', direct],
    ['tunnel', tunnel],
  ] as const;
  log(`service 127.0.0.1:${direct}, tunnel 127.0.0.1:${tunnel} (server pid ${pids.server}, client pid ${pids.client})`);

  try {
    if (wants('memory')) {
      // Idle means settled: let start-up garbage be collected before reading.
      await new Promise((r) => setTimeout(r, 2000));
      results.idleRssMb = { server: round(rssMb(pids.server), 1), client: round(rssMb(pids.client), 1) };
      log(`idle RSS ${JSON.stringify(results.idleRssMb)}`);
    }

    if (idleMinutes > 0) {
      // Heartbeats every 500 ms and nothing else: what a tunnel left running settles at.
      const samples: { s: number; server: number; client: number }[] = [];
      const start = Date.now();
      for (let t = 0; t <= idleMinutes * 60; t += 30) {
        await new Promise((r) => setTimeout(r, Math.max(0, start + t * 1000 - Date.now())));
        samples.push({ s: t, server: round(rssMb(pids.server), 1), client: round(rssMb(pids.client), 1) });
      }
      const last = samples.at(-1)!;
      const steady = {
        minutes: idleMinutes,
        server: last.server,
        client: last.client,
        maxClient: Math.max(...samples.map((x) => x.client)),
        samples,
      };
      results.steadyIdleRssMb = steady;
      log(`idle RSS after ${idleMinutes} min: server ${last.server} MB, client ${last.client} MB (client max ${steady.maxClient})`);
    }

    if (wants('concurrency')) {
      const conc: Record<string, unknown> = {};
      for (const [name, port] of targets) {
        for (const pid of Object.values(pids)) resetPeakRss(pid);
        const job: Job = { kind: 'concurrency', port, conns: SIZES.conns, messages: SIZES.messages, size: 1024, timeoutMs: 30_000 };
        const { child, lines } = startNode('loadgen.ts', [JSON.stringify(job)]);
        const held = await nextJson<{ ms: number; failures: number; open: number; errors: Record<string, number> }>(
          lines,
          'loadgen concurrency',
        );
        const entry: Record<string, unknown> = { ms: round(held.ms, 1), failures: held.failures, open: held.open, errors: held.errors };
        if (name === 'tunnel') {
          entry.rssMb = { server: round(rssMb(pids.server), 1), client: round(rssMb(pids.client), 1) };
          entry.peakRssMb = { server: round(peakRssMb(pids.server), 1), client: round(peakRssMb(pids.client), 1) };
        }
        if (held.failures > 0) {
          const warnings = (p: { output: string }) =>
            p.output
              .split('\n')
              .filter((l) => /WARN|ERROR/.test(l))
              .slice(0, 5)
              .join('\n');
          log(`concurrency ${name}: ${held.failures} failures; server says:\n${warnings(server)}\nclient says:\n${warnings(client)}`);
        }
        child.stdin!.write('release\n');
        await nextJson(lines, 'loadgen concurrency release');
        child.kill();
        conc[name] = entry;
        log(`concurrency ${name}: ${JSON.stringify(entry)}`);
      }
      results.concurrency = conc;
    }

    if (wants('slow')) {
      // A reader at slowRate MB/s behind a writer that can do several times that:
      // without backpressure the proxies' memory would grow by the difference.
      for (const pid of Object.values(pids)) resetPeakRss(pid);
      const before = { server: rssMb(pids.server), client: rssMb(pids.client) };
      const r = await loadgen<{ ms: number; mbps: number }>({ kind: 'throughput', port: tunnel, bytes: SIZES.slow, slow: true });
      results.slowReader = {
        bytes: SIZES.slow,
        readerMBps: SIZES.slowRate,
        mbps: round(r.mbps, 1),
        rssBeforeMb: { server: round(before.server, 1), client: round(before.client, 1) },
        peakRssMb: { server: round(peakRssMb(pids.server), 1), client: round(peakRssMb(pids.client), 1) },
      };
      log(`slow reader: ${JSON.stringify(results.slowReader)}`);
    }

    if (wants('throughput')) {
      // Direct and tunnel runs alternate, so a burst of load elsewhere hits both alike.
      const runs: Record<string, number[]> = { direct: [], tunnel: [] };
      const cpu: { server: number; client: number }[] = [];
      for (let i = 0; i < SIZES.bulkRuns; i++) {
        for (const [name, port] of targets) {
          const c0 = { server: cpuMs(pids.server), client: cpuMs(pids.client) };
          const r = await loadgen<{ ms: number; mbps: number }>({ kind: 'throughput', port, bytes: SIZES.bulk });
          runs[name]!.push(r.mbps);
          if (name === 'tunnel') cpu.push({ server: cpuMs(pids.server) - c0.server, client: cpuMs(pids.client) - c0.client });
          log(`throughput ${name} run ${i + 1}: ${r.mbps.toFixed(0)} MB/s`);
        }
      }
      const gb = SIZES.bulk / 1e9;
      const summary = (xs: number[]) => ({
        bytes: SIZES.bulk,
        mbps: round(median(xs), 1),
        best: round(Math.max(...xs), 1),
        runs: xs.map((x) => round(x, 1)),
      });
      results.throughput = {
        direct: summary(runs.direct!),
        tunnel: {
          ...summary(runs.tunnel!),
          cpuMsPerGB: { server: round(median(cpu.map((c) => c.server)) / gb, 0), client: round(median(cpu.map((c) => c.client)) / gb, 0) },
        },
      };
    }

    if (wants('setup')) {
      const s: Record<string, unknown> = {};
      for (const [name, port] of targets) {
        const r = await loadgen<{ samples: number[] }>({ kind: 'setup', port, count: SIZES.setup });
        s[name] = { count: SIZES.setup, p50Ms: round(percentile(r.samples, 50)), p99Ms: round(percentile(r.samples, 99)) };
        log(`setup ${name}: ${JSON.stringify(s[name])}`);
      }
      results.setup = s;
    }

    if (wants('rtt')) {
      const s: Record<string, unknown> = {};
      for (const [name, port] of targets) {
        const r = await loadgen<{ samples: number[] }>({ kind: 'rtt', port, count: SIZES.rtt });
        s[name] = { count: SIZES.rtt, p50Ms: round(percentile(r.samples, 50), 4), p99Ms: round(percentile(r.samples, 99), 4) };
        log(`rtt ${name}: ${JSON.stringify(s[name])}`);
      }
      results.rtt = s;
    }
  } finally {
    await Promise.all([client.stop(), server.stop()]);
    services.child.kill();
  }

  if (wants('startup')) {
    const bundle = join(ROOT, 'dist', 'bundle', 'bore.mjs');
    results.startup = {
      runs: SIZES.startupRuns,
      nodeEmptyMs: round(timeCommand(process.execPath, ['-e', '0'], SIZES.startupRuns), 1),
      helpMs: round(timeCommand(process.execPath, [join(ROOT, 'dist', 'src', 'cli', 'cli.js'), '--help'], SIZES.startupRuns), 1),
      ...(existsSync(bundle) ? { bundleHelpMs: round(timeCommand(process.execPath, [bundle, '--help'], SIZES.startupRuns), 1) } : {}),
    };
    log(`startup: ${JSON.stringify(results.startup)}`);
  }

  const report = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    quick,
    cli: CLI,
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      memGB: round(os.totalmem() / GiB, 1),
      kernel: os.release(),
      platform: `${os.platform()} ${os.arch()}`,
      node: process.version,
    },
    sizes: SIZES,
    targets: TARGETS,
    results,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${table(report.results, SIZES)}\n`);
  log(`wrote ${OUT}`);
}

main().catch((err: Error) => {
  log(`bench failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
