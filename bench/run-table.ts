/**
 * The figures of `npm run bench` (`bench/run.ts`) and their targets, and the markdown
 * table it prints of them.
 */

/** One GiB in bytes. */
export const GiB = 1 << 30;

/** Targets of issue 6 on the reference machine class. */
export const TARGETS = {
  throughputRatio: 0.25,
  setupP50Ratio: 2.5,
  rttP50Ratio: 3,
  concurrencyMs: 1500,
  clientIdleRssMb: 55,
  helpMs: 200,
};

/** The sizes a run used (`--quick` or the full run), as the table names them. */
export interface BenchSizes {
  bulk: number;
  bulkRuns: number;
  conns: number;
  messages: number;
}

type Pair<T> = { direct?: T; tunnel?: T };
/** What a run measured, each figure through the tunnel and (where it has one) directly. */
export interface Results {
  idleRssMb?: { server: number; client: number };
  steadyIdleRssMb?: { minutes: number; server: number; client: number; maxClient: number };
  concurrency?: Pair<{
    ms: number;
    failures: number;
    rssMb?: { server: number; client: number };
    peakRssMb?: { server: number; client: number };
  }>;
  slowReader?: {
    bytes: number;
    readerMBps: number;
    mbps: number;
    rssBeforeMb: { server: number; client: number };
    peakRssMb: { server: number; client: number };
  };
  throughput?: Pair<{ mbps: number; best: number; bytes: number; cpuMsPerGB?: { server: number; client: number } }>;
  setup?: Pair<{ p50Ms: number; p99Ms: number; count: number }>;
  rtt?: Pair<{ p50Ms: number; p99Ms: number; count: number }>;
  startup?: { nodeEmptyMs: number; helpMs: number; bundleHelpMs?: number; runs: number };
}

/** The results as a markdown table: figure, direct, tunnel, ratio, target. */
export function table(r: Results, sizes: BenchSizes): string {
  const rows: string[][] = [['Figure', 'Direct (physical limit)', 'Through the tunnel', 'Tunnel / direct', 'Target']];
  const ok = (pass: boolean) => (pass ? 'met' : '**missed**');
  const mib = (b: number) => (b >= GiB ? `${b / GiB} GiB` : `${b / (1 << 20)} MiB`);
  if (r.throughput?.direct && r.throughput.tunnel) {
    const ratio = r.throughput.tunnel.mbps / r.throughput.direct.mbps;
    rows.push([
      `Bulk throughput, ${mib(r.throughput.tunnel.bytes)} one way, 1 connection, median of ${sizes.bulkRuns} (best)`,
      `${r.throughput.direct.mbps.toFixed(0)} MB/s (${r.throughput.direct.best.toFixed(0)})`,
      `${r.throughput.tunnel.mbps.toFixed(0)} MB/s (${r.throughput.tunnel.best.toFixed(0)})`,
      `${(ratio * 100).toFixed(0)}%`,
      `>= ${TARGETS.throughputRatio * 100}%: ${ok(ratio >= TARGETS.throughputRatio)}`,
    ]);
  }
  for (const [key, label, target] of [
    ['setup', 'Connection setup (connect + first echoed byte)', TARGETS.setupP50Ratio],
    ['rtt', 'Round trip, 1-byte ping-pong on one connection', TARGETS.rttP50Ratio],
  ] as const) {
    const p = r[key];
    if (!p?.direct || !p.tunnel) continue;
    const ratio = p.tunnel.p50Ms / p.direct.p50Ms;
    rows.push([
      `${label}, p50 / p99 over ${p.tunnel.count}`,
      `${p.direct.p50Ms.toFixed(3)} / ${p.direct.p99Ms.toFixed(3)} ms`,
      `${p.tunnel.p50Ms.toFixed(3)} / ${p.tunnel.p99Ms.toFixed(3)} ms`,
      `${ratio.toFixed(2)}x (p50)`,
      `p50 <= ${target}x: ${ok(ratio <= target)}`,
    ]);
  }
  const c = r.concurrency;
  if (c?.direct && c.tunnel) {
    rows.push([
      `${sizes.conns} simultaneous connections x ${sizes.messages} x 1 KiB echoed: wall time (failures)`,
      `${c.direct.ms.toFixed(0)} ms (${c.direct.failures})`,
      `${c.tunnel.ms.toFixed(0)} ms (${c.tunnel.failures})`,
      `${(c.tunnel.ms / c.direct.ms).toFixed(2)}x`,
      `0 failures, <= ${TARGETS.concurrencyMs} ms: ${ok(c.tunnel.failures === 0 && c.tunnel.ms <= TARGETS.concurrencyMs)}`,
    ]);
  }
  if (r.idleRssMb) {
    rows.push([
      'RSS idle: server / client',
      '',
      `${r.idleRssMb.server} / ${r.idleRssMb.client} MB`,
      '',
      `client <= ${TARGETS.clientIdleRssMb} MB: ${ok(r.idleRssMb.client <= TARGETS.clientIdleRssMb)}`,
    ]);
  }
  if (r.steadyIdleRssMb) {
    const st = r.steadyIdleRssMb;
    rows.push([
      `RSS idle after ${st.minutes} min: server / client (client max)`,
      '',
      `${st.server} / ${st.client} MB (${st.maxClient})`,
      '',
      `client <= ${TARGETS.clientIdleRssMb} MB: ${ok(st.maxClient <= TARGETS.clientIdleRssMb)}`,
    ]);
  }
  if (c?.tunnel?.rssMb) {
    rows.push([
      `RSS at ${sizes.conns} open connections: server / client (peak)`,
      '',
      `${c.tunnel.rssMb.server} / ${c.tunnel.rssMb.client} MB (${c.tunnel.peakRssMb?.server} / ${c.tunnel.peakRssMb?.client})`,
      '',
      '',
    ]);
  }
  if (r.slowReader) {
    const s = r.slowReader;
    const growth = (k: 'server' | 'client') => `+${Math.max(0, s.peakRssMb[k] - s.rssBeforeMb[k]).toFixed(1)}`;
    rows.push([
      `Peak RSS, ${mib(s.bytes)} to a reader at ${s.readerMBps} MB/s: server / client (growth)`,
      '',
      `${s.peakRssMb.server} / ${s.peakRssMb.client} MB (${growth('server')} / ${growth('client')})`,
      '',
      'bounded',
    ]);
  }
  if (r.startup) {
    const best = Math.min(r.startup.helpMs, r.startup.bundleHelpMs ?? Infinity);
    rows.push([
      `Start-up: \`bore --help\`, median of ${r.startup.runs}${r.startup.bundleHelpMs !== undefined ? ' (bundled / unbundled)' : ''}`,
      `${r.startup.nodeEmptyMs.toFixed(0)} ms (\`node -e 0\`)`,
      r.startup.bundleHelpMs !== undefined
        ? `${r.startup.bundleHelpMs.toFixed(0)} / ${r.startup.helpMs.toFixed(0)} ms`
        : `${r.startup.helpMs.toFixed(0)} ms`,
      `${(best / r.startup.nodeEmptyMs).toFixed(2)}x`,
      `<= ${TARGETS.helpMs} ms: ${ok(best <= TARGETS.helpMs)}`,
    ]);
  }
  const lines = rows.map((row) => `| ${row.join(' | ')} |`);
  lines.splice(1, 0, `|${rows[0]!.map(() => '---').join('|')}|`);
  return lines.join('\n');
}
