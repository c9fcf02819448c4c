/**
 * The churn soak (issue 10): 100,000 mixed public connections (`--quick`: 10,000)
 * through a real `bore server` + `bore local`, at most 48 at a time, with the client's
 * control connection cut a few times on the way (it runs through a relay in this
 * process). The visitors (`bench/churn-load.ts`) and the local service
 * (`bench/services.ts`) are processes of their own; a second `bore local` forwards to a
 * closed port (the refusing service).
 *
 * At the start, after the first 1,000 connections, halfway, at the end (each time with
 * nothing in flight, once the bore processes' fds are back to their baseline or 3 s
 * have passed) and settled after the run, it reads each bore process's open fds
 * (/proc/<pid>/fd), RSS, and heap after a GC (`bench/mem-probe.mjs`, preloaded). Targets:
 * fds back to baseline, no failed connection outside the cuts, and RSS at the end
 * within 20 MB of RSS after 1,000. Writes `bench/results/churn{,-quick}.json`.
 *
 * Run: `npm run bench -- --only churn [--quick]`, or after `npm run build`:
 * `node --import tsx bench/churn.ts [--quick]`.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';
import os from 'node:os';
import { type BoreProcess, startClient, startServer } from '../test/helpers/procs.js';
import { freePort } from '../test/helpers/held-sink.js';
import { rssMb } from './proc-stats.js';
import { type ChurnJob, type ChurnMessage, MIX } from './churn-load.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const TOTAL = quick ? 10_000 : 100_000;
const CONCURRENCY = 48;
const RSS_GROWTH_TARGET_MB = 20;
/** The whole run is abandoned past this. */
const DEADLINE_MS = (quick ? 3 : 12) * 60_000;
const PROBE = { NODE_OPTIONS: `--expose-gc --import=${join(HERE, 'mem-probe.mjs')}` };
const RANGE = ['--min-port', '24200', '--max-port', '24299'];

/**
 * A relay from a loopback port to the server's control port, which the client uses for
 * its control and data connections alike. `cutOldest()` closes the oldest open relayed
 * connection: the control connection, which outlives every data connection.
 */
class ControlRelay {
  readonly #pairs = new Set<Socket[]>();
  readonly #server: net.Server;

  constructor(target: number) {
    this.#server = net.createServer({ allowHalfOpen: true }, (a) => {
      const b = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
      const pair = [a, b];
      this.#pairs.add(pair);
      let open = 2;
      for (const [from, to] of [
        [a, b],
        [b, a],
      ] as const) {
        from.pipe(to);
        // A reset on one side is passed on as a reset.
        from.on('error', () => {
          if (!to.destroyed) to.resetAndDestroy();
        });
        from.on('close', () => {
          if (--open === 0) this.#pairs.delete(pair);
        });
      }
    });
  }

  async listen(): Promise<number> {
    this.#server.listen(0, '127.0.0.1');
    await once(this.#server, 'listening');
    return (this.#server.address() as net.AddressInfo).port;
  }

  cutOldest(): void {
    const oldest = this.#pairs.values().next().value;
    for (const s of oldest ?? []) s.destroy();
  }

  close(): void {
    for (const pair of this.#pairs) for (const s of pair) s.destroy();
    this.#server.close();
  }
}

/** One bore process at one moment (`bench/mem-probe.mjs` reads the heap). */
interface ProcSample {
  fds: number;
  rssMb: number;
  /** V8's heap as allocated from the OS, young generation included (before the probe's GC). */
  heapTotalMb: number;
  /** Live JS objects (after the probe's GC). */
  heapUsedMb: number;
  /** Buffers' memory, dead ones not yet collected included (before the probe's GC). */
  arrayBuffersMb: number;
}

const mb = (bytes: number) => Math.round(bytes / 1e5 / 1.048576) / 10;
const fds = (p: BoreProcess) => readdirSync(`/proc/${p.proc.pid}/fd`).length;

async function sample(p: BoreProcess): Promise<ProcSample> {
  const fdCount = fds(p);
  const rss = Math.round(rssMb(p.proc.pid!) * 10) / 10;
  const mark = p.output.length;
  p.proc.kill('SIGUSR2');
  const m = await p.waitFor(/mem-probe (\{.*\})/, 5000, mark);
  const { before, after } = JSON.parse(m[1]!) as Record<'before' | 'after', NodeJS.MemoryUsage>;
  return {
    fds: fdCount,
    rssMb: rss,
    heapTotalMb: mb(before.heapTotal),
    heapUsedMb: mb(after.heapUsed),
    arrayBuffersMb: mb(before.arrayBuffers),
  };
}

/** Waits (up to `maxMs`) until no process has more fds than at its baseline; returns the ms waited. */
async function settle(procs: Record<string, BoreProcess>, baseline: Record<string, ProcSample>, maxMs: number): Promise<number> {
  const t0 = performance.now();
  while (Object.entries(procs).some(([name, p]) => fds(p) > baseline[name]!.fds) && performance.now() - t0 < maxMs) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return Math.round(performance.now() - t0);
}

async function sampleAll(procs: Record<string, BoreProcess>): Promise<Record<string, ProcSample>> {
  const out: Record<string, ProcSample> = {};
  for (const [name, p] of Object.entries(procs)) out[name] = await sample(p);
  return out;
}

/** Starts a bench script with tsx; returns the child and a line reader of its stdout. */
function startNode(script: string, args: string[]): { child: ChildProcess; lines: AsyncIterableIterator<string> } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Point {
  label: string;
  connections: number;
  elapsedS?: number;
  failed?: number;
  failedDuringCut?: number;
  settleMs?: number;
  procs: Record<string, ProcSample>;
  /** Settled only: RSS 1 s after the probe's GC, what is left once the garbage is gone. */
  rssAfterGcMb?: Record<string, number>;
}

/** Runs the soak; returns the report written to bench/results. */
export async function runChurnBench() {
  const services = startNode('services.ts', []);
  const servicePort = (JSON.parse((await services.lines.next()).value as string) as { port: number }).port;
  const server = await startServer(RANGE, PROBE);
  const relay = new ControlRelay(server.controlPort);
  const client = await startClient(servicePort, await relay.listen(), ['--local-host', '127.0.0.1'], PROBE);
  const refusing = await startClient(await freePort(), server.controlPort, ['--local-host', '127.0.0.1'], PROBE);
  const procs = { server, client, refusingClient: refusing };
  let load: ReturnType<typeof startNode> | undefined;
  const stopAll = async () => {
    load?.child.kill();
    await Promise.all([client.stop(), refusing.stop(), server.stop()]);
    relay.close();
    services.child.kill();
  };
  const deadline = setTimeout(() => {
    log(`churn: over ${DEADLINE_MS / 60_000} minutes, giving up`);
    void stopAll().then(() => process.exit(1));
  }, DEADLINE_MS);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const baseline = await sampleAll(procs);
    const points: Point[] = [{ label: 'start', connections: 0, procs: baseline }];
    log(`churn: baseline ${JSON.stringify(baseline)}`);
    const job: ChurnJob = {
      port: client.publicPort,
      refusePort: refusing.publicPort,
      total: TOTAL,
      concurrency: CONCURRENCY,
      checkpoints: [1000, TOTAL / 2, TOTAL],
      cutsAt: [0.15, 0.35, 0.65, 0.85].map((f) => Math.round(f * TOTAL)),
    };
    load = startNode('churn-load.ts', [JSON.stringify(job)]);
    const cuts: { cut: number; backMs: number }[] = [];
    let result: Extract<ChurnMessage, { done: true }> | undefined;
    for await (const line of load.lines) {
      const msg = JSON.parse(line) as ChurnMessage;
      if ('cut' in msg) {
        const mark = client.output.length;
        const t0 = performance.now();
        relay.cutOldest();
        await client.waitFor(/connection lost/, 5000, mark);
        await client.waitFor(/listening at 127\.0\.0\.1:\d+/, 20_000, mark);
        cuts.push({ cut: msg.cut, backMs: Math.round(performance.now() - t0) });
        load.child.stdin!.write('healed\n');
        log(`churn: cut ${msg.cut}, tunnel back after ${cuts.at(-1)!.backMs} ms`);
      } else if ('checkpoint' in msg) {
        const settleMs = await settle(procs, baseline, 3000);
        const { elapsedS, failed, failedDuringCut } = msg;
        points.push({
          label: `after ${msg.checkpoint}`,
          connections: msg.checkpoint,
          elapsedS,
          failed,
          failedDuringCut,
          settleMs,
          procs: await sampleAll(procs),
        });
        log(`churn: ${JSON.stringify(points.at(-1))}`);
        load.child.stdin!.write('go\n');
      } else {
        result = msg;
        break;
      }
    }
    if (!result) throw new Error('churn-load exited without a result');
    const settleMs = await settle(procs, baseline, 10_000);
    await new Promise((r) => setTimeout(r, 2000));
    const settledProcs = await sampleAll(procs);
    await new Promise((r) => setTimeout(r, 1000));
    const rssAfterGcMb = Object.fromEntries(Object.entries(procs).map(([name, p]) => [name, Math.round(rssMb(p.proc.pid!) * 10) / 10]));
    points.push({ label: 'settled', connections: TOTAL, settleMs, procs: settledProcs, rssAfterGcMb });

    const at1k = points[1]!.procs;
    const end = points.at(-2)!.procs;
    const settled = points.at(-1)!.procs;
    const met = {
      fdsBackToBaseline: Object.keys(procs).every((name) => settled[name]!.fds <= baseline[name]!.fds),
      noFailuresOutsideCuts: result.failed === 0,
      rssGrowthWithinTarget: ['server', 'client'].every((name) => end[name]!.rssMb - at1k[name]!.rssMb <= RSS_GROWTH_TARGET_MB),
    };
    return {
      date: new Date().toISOString(),
      commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: HERE, encoding: 'utf8' }).trim(),
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, node: process.version },
      quick,
      connections: TOTAL,
      concurrency: CONCURRENCY,
      mix: MIX,
      elapsedS: result.elapsedS,
      failed: result.failed,
      failedDuringCut: result.failedDuringCut,
      expected: result.expected,
      cuts,
      targets: { rssGrowthMb: RSS_GROWTH_TARGET_MB, met },
      points,
      byKind: result.stats,
      failures: result.failures,
    };
  } finally {
    clearTimeout(deadline);
    await stopAll();
  }
}

/** The points of a report as a markdown table. */
export function churnTable(report: Awaited<ReturnType<typeof runChurnBench>>): string {
  const names = ['server', 'client'];
  const rows = [['Point', 'Elapsed', ...names.map((n) => `${n}: fds / RSS / heap used, total / buffers`), 'Failed (during cuts)']];
  for (const p of report.points) {
    const cell = (n: string) => {
      const x = p.procs[n]!;
      const gc = p.rssAfterGcMb ? ` (${p.rssAfterGcMb[n]} after a GC)` : '';
      return `${x.fds} / ${x.rssMb} MB${gc} / ${x.heapUsedMb}, ${x.heapTotalMb} / ${x.arrayBuffersMb} MB`;
    };
    rows.push([
      p.label,
      p.elapsedS === undefined ? '' : `${p.elapsedS} s`,
      ...names.map(cell),
      p.failed === undefined ? '' : `${p.failed} (${p.failedDuringCut})`,
    ]);
  }
  const lines = rows.map((r) => `| ${r.join(' | ')} |`);
  lines.splice(1, 0, `|${rows[0]!.map(() => '---').join('|')}|`);
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await runChurnBench();
  const out = join(HERE, 'results', quick ? 'churn-quick.json' : 'churn.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(
    `\n${churnTable(report)}\n\n${JSON.stringify(report.targets.met)}; cuts: ${report.cuts.map((c) => `${c.backMs} ms`).join(', ')}\n`,
  );
  log(`wrote ${out}`);
}
