/**
 * `npm run bench -- --only wan`: bore over a link with real latency (20 ms round trip).
 * This kernel has no netem, so `bench/wan/wanlink.c` (compiled with gcc into a temporary
 * directory at each run) joins two network namespaces through a TAP device in each and
 * delays every frame by `--delay-ms` (10) each way, in order, without loss.
 *
 * Topology "visitor beside the server": the server's namespace (10.77.0.1) runs
 * `bore server` and the load generator (`bench/loadgen.ts`), the client's (10.77.0.2)
 * runs `bore local` and the echo service (`bench/services.ts`). Measured: the ping round
 * trip; time to first byte (connect, send one byte, first echoed byte back; a new
 * connection each time, one after another, after a few warm-up ones) in ms and in round
 * trips; bulk throughput one way. Directly across the link (the visitor connects to the
 * service in the other namespace) and through the tunnel in each of {@link CONFIGS}, each
 * with a server and client of its own. Prints markdown tables and writes
 * `bench/results/wan.json` (`wan-quick.json` with `--quick`).
 *
 * Skips with exit 0 (and `skipped` in the JSON) where it cannot run: not root, no
 * network namespaces, no /dev/net/tun, no gcc. Everything it starts is stopped, and its
 * namespaces deleted, on the way out, Ctrl-C included; namespaces left by a run that was
 * killed outright are deleted at the next start. `BORE_RUST=<path of a bore binary>` adds
 * the Rust bore, client and server (not measured here so far: no binary on this machine).
 *
 * `--loss P` drops P % of the TCP segments each namespace receives on the link, at
 * random (iptables' `statistic` match: this kernel has no netem), and `--streams N`
 * moves N bulk transfers at once (their total over the slowest one's time): what
 * several visitors on one multiplexed connection lose to one congestion window and
 * to head-of-line blocking, against a TCP connection each.
 *
 * `--rate-mbit R` makes each direction a link of R Mbit/s whose queue holds at most
 * `--queue-ms` (50) of frames (tail drop), so that a queue builds where a real
 * bottleneck is.
 * `--under-load` adds, per path, the round trip of 1-byte echoes on a connection of their
 * own while another visitor uploads (does a short exchange wait behind bulk on the same
 * multiplexed connection?).
 *
 * Usage: `npm run bench -- --only wan [--quick]`, or after `npm run build`:
 * `node --import tsx bench/wan.ts [--quick] [--delay-ms 10] [--bulk-mib 64] [--loss 0.5] [--streams 4] [--rate-mbit 100] [--under-load]`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import type { BoreProcess } from '../test/helpers/procs.js';
import { cpuMs, median, percentile } from './proc-stats.js';
import { CLIENT_IP, IFNAME, SERVER_IP, WanLink, nextJson } from './wan/link.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const delayIdx = argv.indexOf('--delay-ms');
/** One-way delay of the link, ms. */
const DELAY_MS = delayIdx >= 0 ? Number(argv[delayIdx + 1]) : 10;
if (!(DELAY_MS >= 0)) throw new Error(`--delay-ms wants a number of milliseconds, got '${argv[delayIdx + 1]}'`);
/** The value of `--name` as a number (`fallback` without it); throws naming the flag if it is not one in [min, max]. */
function numberFlag(name: string, fallback: number, min: number, max: number): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!(value >= min && value <= max)) throw new Error(`${name} wants a number from ${min} to ${max}, got '${argv[i + 1]}'`);
  return value;
}
/** Share of TCP segments dropped on receipt in each namespace, percent. */
const LOSS_PERCENT = numberFlag('--loss', 0, 0, 50);
/** Bulk transfers at once. */
const STREAMS = numberFlag('--streams', 1, 1, 64);
/** The link's rate each way, Mbit/s (0: only the emulator's speed), and the most a frame waits for it, ms. */
const RATE_MBIT = numberFlag('--rate-mbit', 0, 0, 100_000);
const QUEUE_MS = numberFlag('--queue-ms', 50, 1, 10_000);
const OUT = join(
  HERE,
  'results',
  `${quick ? 'wan-quick' : 'wan'}${LOSS_PERCENT > 0 || STREAMS > 1 ? `-loss${LOSS_PERCENT}-x${STREAMS}` : ''}${RATE_MBIT > 0 ? `-${RATE_MBIT}mbit` : ''}.json`,
);

const bulkIdx = argv.indexOf('--bulk-mib');
const SIZES = quick
  ? { ttfb: 20, warmup: 3, bulk: 16 << 20, bulkRuns: 1, pings: 10, tcpRtt: 10 }
  : { ttfb: 50, warmup: 5, bulk: 64 << 20, bulkRuns: 5, pings: 20, tcpRtt: 20 };
if (bulkIdx >= 0) SIZES.bulk = Number(argv[bulkIdx + 1]) * (1 << 20);
if (!(SIZES.bulk > 0)) throw new Error(`--bulk-mib wants a number of MiB, got '${argv[bulkIdx + 1]}'`);

const PORT_RANGE = ['--min-port', '23000', '--max-port', '23999'];
/** The link, once made. */
let link: WanLink | undefined;

/**
 * A way to run the tunnel. Each is just extra `bore local` arguments, or another bore
 * (`bin`: a binary run for both `bore server` and `bore local`, e.g. the Rust bore).
 */
interface Config {
  name: string;
  label: string;
  localArgs: string[];
  /** Where `bore local` rejects `localArgs` (usage error): run without them under this label. Else the configuration is unavailable. */
  fallbackLabel?: string;
  bin?: string;
}

/** The tunnel configurations measured against the direct path. */
const CONFIGS: Config[] = [
  {
    name: 'pool-off',
    label: 'Tunnel, pool off (`--pool 0`)',
    localArgs: ['--pool', '0'],
    fallbackLabel: 'Tunnel, pool off (no `--pool` flag)',
  },
  { name: 'pool-on', label: 'Tunnel, pool on (`--pool 4`)', localArgs: ['--pool', '4'] },
  { name: 'mux-first', label: 'Tunnel, every visitor multiplexed (`--mux-first`)', localArgs: ['--mux-first'] },
  ...(process.env.BORE_RUST ? [{ name: 'rust', label: 'Rust bore (client and server)', localArgs: [], bin: process.env.BORE_RUST }] : []),
];

interface Ttfb {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p50Rtts: number;
  p90Rtts: number;
}
interface Bulk {
  bytes: number;
  runs: number;
  mbps: number;
  best: number;
  mbit: number;
  /** CPU the link emulator used, as a share of the transfer's wall time (1 = one core busy), median. */
  emulatorCpu: number;
}
/** Round trips of 1-byte echoes while another connection uploads (`--under-load`). */
interface Loaded {
  count: number;
  p50Ms: number;
  p90Ms: number;
}
/** What one path (direct, or a tunnel configuration) measured, or why it could not. */
type PathResult = { name: string; label: string } & (
  { ttfb: Ttfb; bulk: Bulk; loaded?: Loaded } | { unavailable: string } | { failed: string }
);
const UNDER_LOAD = argv.includes('--under-load');

/** `--under-load`: 30 one-byte echoes on a connection of their own, begun 1 s into an upload of 4 bulk sizes on another. */
async function measureLoaded(host: string, port: number): Promise<Loaded> {
  const upload = link!.loadgen<{ ms: number }>({ kind: 'throughput', host, port, bytes: 4 * SIZES.bulk });
  await new Promise((r) => setTimeout(r, 1000));
  const r = await link!.loadgen<{ samples: number[] }>({ kind: 'rtt', host, port, count: 31 });
  await upload;
  const samples = r.samples.slice(1);
  return { count: samples.length, p50Ms: round(percentile(samples, 50), 2), p90Ms: round(percentile(samples, 90), 2) };
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

async function measureTtfb(host: string, port: number, rttMs: number): Promise<Ttfb> {
  const r = await link!.loadgen<{ samples: number[] }>({ kind: 'setup', host, port, count: SIZES.warmup + SIZES.ttfb });
  const samples = r.samples.slice(SIZES.warmup);
  const p50 = percentile(samples, 50);
  const p90 = percentile(samples, 90);
  return {
    count: samples.length,
    p50Ms: round(p50, 2),
    p90Ms: round(p90, 2),
    p50Rtts: round(p50 / rttMs, 2),
    p90Rtts: round(p90 / rttMs, 2),
  };
}

async function measureBulk(host: string, port: number, bridgePid: number): Promise<Bulk> {
  const mbps: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < SIZES.bulkRuns; i++) {
    const c0 = cpuMs(bridgePid);
    const all = await Promise.all(
      Array.from({ length: STREAMS }, () =>
        link!.loadgen<{ ms: number; mbps: number }>({ kind: 'throughput', host, port, bytes: SIZES.bulk }),
      ),
    );
    // Together: every stream's bytes over the time of the slowest.
    const ms = Math.max(...all.map((r) => r.ms));
    mbps.push((STREAMS * SIZES.bulk) / 1e6 / (ms / 1000));
    cpu.push((cpuMs(bridgePid) - c0) / ms);
  }
  const m = median(mbps);
  return {
    bytes: SIZES.bulk,
    runs: SIZES.bulkRuns,
    mbps: round(m, 1),
    best: round(Math.max(...mbps), 1),
    mbit: round(m * 8, 0),
    emulatorCpu: round(median(cpu), 2),
  };
}

/** The public port once `client` listens, or undefined if it exited with a usage error (exit status 2). */
async function publicPort(client: BoreProcess): Promise<number | undefined> {
  try {
    return Number((await client.waitFor(/listening at [\d.]+:(\d+)/, 15_000))[1]);
  } catch (err) {
    if (client.proc.exitCode === 2) return undefined;
    throw err;
  }
}

/**
 * Starts a server and a client for `config`. Resolves with the client's public port, or
 * with why the configuration is not available (`bore local` rejected its arguments).
 */
async function startTunnel(
  config: Config,
  servicePort: number,
): Promise<{ server: BoreProcess; client: BoreProcess; publicPort: number; label: string } | { unavailable: string }> {
  const server = link!.bore(link!.serverNs, ['server', ...PORT_RANGE], config.bin);
  await server.waitFor(/server listening/);
  const local = (extra: string[]) =>
    link!.bore(link!.clientNs, ['local', String(servicePort), '--to', SERVER_IP, '--local-host', '127.0.0.1', ...extra], config.bin);
  let label = config.label;
  let client = local(config.localArgs);
  let port = await publicPort(client);
  if (port === undefined) {
    const usage = `bore local rejects \`${config.localArgs.join(' ')}\`: ${client.output.trim().split('\n')[0]}`;
    if (config.fallbackLabel === undefined) {
      await server.stop();
      return { unavailable: `not available (${usage})` };
    }
    log(`${config.name}: ${usage}; running without`);
    label = config.fallbackLabel;
    client = local([]);
    port = await publicPort(client);
    if (port === undefined) throw new Error(`bore local exited with a usage error:\n${client.output}`);
  }
  return { server, client, publicPort: port, label };
}

async function main(): Promise<void> {
  const base = {
    date: new Date().toISOString(),
    commit: gitCommit(),
    quick,
    delayMs: DELAY_MS,
    rateMbit: RATE_MBIT,
    queueMs: QUEUE_MS,
    lossPercent: LOSS_PERCENT,
    streams: STREAMS,
    sizes: SIZES,
  };
  const opened = await WanLink.open(DELAY_MS, RATE_MBIT > 0 ? { mbit: RATE_MBIT, queueMs: QUEUE_MS } : undefined);
  if (typeof opened === 'string') return skip(base, opened);
  link = opened;
  if (LOSS_PERCENT > 0) {
    const rule = [
      '-A',
      'INPUT',
      '-i',
      IFNAME,
      '-p',
      'tcp',
      '-m',
      'statistic',
      '--mode',
      'random',
      '--probability',
      String(LOSS_PERCENT / 100),
      '-j',
      'DROP',
    ];
    try {
      for (const ns of [link.serverNs, link.clientNs])
        execFileSync('ip', ['netns', 'exec', ns, 'iptables', ...rule], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (err) {
      return skip(base, `--loss needs iptables' statistic match in the namespaces: ${(err as Error).message.split('\n')[0]}`);
    }
    log(`dropping ${LOSS_PERCENT} % of the TCP segments each side receives on the link`);
  }

  const pings = link.ping(SIZES.pings);
  const rttMs = median(pings);
  log(`ping across the link: p50 ${rttMs.toFixed(2)} ms (${Math.min(...pings).toFixed(2)}-${Math.max(...pings).toFixed(2)})`);

  const services = link.startNode(link.clientNs, 'services.ts', ['--host', '0.0.0.0']);
  const { port: servicePort } = await nextJson<{ port: number }>(services.lines, 'services');
  const tcp = await link.loadgen<{ samples: number[] }>({ kind: 'rtt', host: CLIENT_IP, port: servicePort, count: SIZES.tcpRtt });
  const tcpRttMs = median(tcp.samples.slice(1));
  log(`TCP round trip (1-byte echo on one connection): p50 ${tcpRttMs.toFixed(2)} ms`);

  const paths: PathResult[] = [];
  const direct: PathResult = {
    name: 'direct',
    label: 'Direct (visitor to the service across the link)',
    ttfb: await measureTtfb(CLIENT_IP, servicePort, rttMs),
    bulk: await measureBulk(CLIENT_IP, servicePort, link.bridge!.pid!),
    ...(UNDER_LOAD ? { loaded: await measureLoaded(CLIENT_IP, servicePort) } : {}),
  };
  paths.push(direct);
  log(`direct: ${JSON.stringify(direct)}`);
  for (const config of CONFIGS) {
    const t = await startTunnel(config, servicePort);
    if ('unavailable' in t) {
      paths.push({ name: config.name, label: config.label, unavailable: t.unavailable });
      log(`${config.name}: ${t.unavailable}`);
      continue;
    }
    try {
      const result: PathResult = {
        name: config.name,
        label: t.label,
        ttfb: await measureTtfb(SERVER_IP, t.publicPort, rttMs),
        bulk: await measureBulk(SERVER_IP, t.publicPort, link.bridge!.pid!),
        ...(UNDER_LOAD ? { loaded: await measureLoaded(SERVER_IP, t.publicPort) } : {}),
      };
      paths.push(result);
      log(`${config.name}: ${JSON.stringify(result)}`);
    } catch (err) {
      // A tunnel that breaks is a result too: recorded, and the other configurations still run.
      const failed = `failed: ${(err as Error).message}`;
      paths.push({ name: config.name, label: t.label, failed });
      const tail = (output: string) => output.trim().split('\n').slice(-10).join('\n');
      log(`${config.name}: ${failed}\nclient says:\n${tail(t.client.output)}\nserver says:\n${tail(t.server.output)}`);
    } finally {
      await Promise.all([t.client.stop(), t.server.stop()]);
    }
  }
  services.child.kill();
  const emulator = await link.stop();

  const report = {
    ...base,
    machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, kernel: os.release(), node: process.version },
    ping: { count: pings.length, p50Ms: round(rttMs), minMs: round(Math.min(...pings)), maxMs: round(Math.max(...pings)) },
    tcpRttMs: round(tcpRttMs),
    emulator,
    paths,
  };
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${table(report)}\n`);
  log(emulator);
  log(`wrote ${OUT}`);
  if (paths.some((p) => 'failed' in p)) process.exitCode = 1;
}

/** Reports the benchmark as skipped (exit 0): prints why and writes it to the JSON. */
function skip(base: object, reason: string): void {
  log(`wan: skipped: ${reason}`);
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify({ ...base, skipped: reason }, null, 2)}\n`);
  process.stdout.write(`\n| Figure | Result |\n|---|---|\n| WAN (${2 * DELAY_MS} ms RTT) | skipped: ${reason} |\n`);
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** The results as markdown: the link, then one row per path. */
function table(r: { ping: { p50Ms: number; minMs: number; maxMs: number; count: number }; tcpRttMs: number; paths: PathResult[] }): string {
  const mib = (b: number) => `${b / (1 << 20)} MiB`;
  const lines = [
    `Link: ${DELAY_MS} ms each way${RATE_MBIT > 0 ? ` at ${RATE_MBIT} Mbit/s (a ${QUEUE_MS} ms queue)` : ''}${LOSS_PERCENT > 0 ? `, ${LOSS_PERCENT} % of TCP segments dropped each way` : ''}; ping RTT p50 ${r.ping.p50Ms.toFixed(2)} ms (${r.ping.minMs.toFixed(2)}-${r.ping.maxMs.toFixed(2)}, ${r.ping.count} pings); ` +
      `TCP 1-byte echo RTT p50 ${r.tcpRttMs.toFixed(2)} ms. Round trips below are ms / ping RTT.`,
    '',
    `| Path | Time to first byte p50 / p90 (${SIZES.ttfb} connections) | In round trips p50 / p90 | Bulk ${STREAMS > 1 ? `${STREAMS} x ` : ''}${mib(SIZES.bulk)} one way${STREAMS > 1 ? ' at once, together' : ''}, median of ${SIZES.bulkRuns} (best) | Emulator CPU |${UNDER_LOAD ? ' 1-byte echo RTT during an upload, p50 / p90 |' : ''}`,
    `|---|---|---|---|---|${UNDER_LOAD ? '---|' : ''}`,
  ];
  for (const p of r.paths) {
    if (!('ttfb' in p)) {
      lines.push(`| ${p.label} | ${'unavailable' in p ? p.unavailable : `**${p.failed}**`} | | | |`);
      continue;
    }
    lines.push(
      `| ${p.label} | ${p.ttfb.p50Ms.toFixed(1)} / ${p.ttfb.p90Ms.toFixed(1)} ms | ${p.ttfb.p50Rtts.toFixed(2)} / ${p.ttfb.p90Rtts.toFixed(2)} | ` +
        `${p.bulk.mbps.toFixed(0)} MB/s = ${p.bulk.mbit} Mbit/s (${p.bulk.best.toFixed(0)}) | ${(p.bulk.emulatorCpu * 100).toFixed(0)}% |` +
        (p.loaded ? ` ${p.loaded.p50Ms.toFixed(1)} / ${p.loaded.p90Ms.toFixed(1)} ms |` : ''),
    );
  }
  return lines.join('\n');
}

main()
  .catch((err: Error) => {
    log(`wan bench failed: ${err.stack ?? err.message}`);
    process.exitCode = 1;
  })
  .finally(() => link?.cleanup());
