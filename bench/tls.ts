/**
 * `npm run bench -- --only tls [--quick]`: what TLS costs (issue 20), TLS and plaintext
 * side by side in one run, with the real CLI and certificates made with openssl.
 *
 * - Bulk (loopback): iperf3 with 1 stream and 8 through our tunnel in plaintext, through
 *   our tunnel with TLS, through the Rust bore (`BORE_RUST=<binary>`) and directly; CPU
 *   of the bore server and client per GB moved. Rounds alternate the tunnels. Skipped,
 *   with the reason, where iperf3 is not installed.
 * - Setup (loopback): connect + first echoed byte through a tunnel with the warm pool,
 *   plaintext and TLS, after a warm-up; p50, with a direct p50 taken right after each.
 * - The first-byte grace: a plaintext client with a secret (`--pool 0`: every visitor
 *   gets a new data connection) against a server with the same secret, without and with
 *   a certificate; such a server waits `TLS_SNIFF_GRACE_MS` for a TLS ClientHello before
 *   it sends its challenge. Time to listening and setup p50.
 * - Over the 20 ms link (`bench/wan/link.ts`; root, netns, gcc): time to listening of a
 *   fresh `bore local` (its `connecting to` line to its `listening at` line, by its own
 *   clock), plaintext and TLS,
 *   and time to first byte with the pool on and off.
 *
 * `--only bulk,setup,grace,wan` runs some of the parts. Writes `bench/results/tls.json`
 * (`tls-quick.json` with `--quick`; `tls-only.json` with `--only`) and prints markdown.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { BoreProcess } from '../test/helpers/procs.js';
import type { Job } from './loadgen.js';
import { cpuMs, median, percentile } from './proc-stats.js';
import { type Certificates, findIperf3, makeCertificates, runIperf, startIperfServer } from './tls-tools.js';
import { SERVER_IP, WanLink, nextJson } from './wan/link.js';
import { type Flavor, type TunnelSpec, boreArgs, formatReport } from './tls-report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const OUT = join(HERE, 'results', process.argv.includes('--only') ? 'tls-only.json' : quick ? 'tls-quick.json' : 'tls.json');
const SIZES = quick
  ? { rounds: 1, iperfSeconds: 3, setupWarm: 300, setup: 200, grace: 10, listens: 3, ttfbWarm: 3, ttfb: 20 }
  : { rounds: 3, iperfSeconds: 5, setupWarm: 1000, setup: 300, grace: 30, listens: 7, ttfbWarm: 5, ttfb: 50 };
const onlyIdx = process.argv.indexOf('--only');
/** `--only bulk,setup,grace,wan`: the parts to run (default all). */
const ONLY = onlyIdx >= 0 ? process.argv[onlyIdx + 1]!.split(',') : ['bulk', 'setup', 'grace', 'wan'];
const RUST = process.env.BORE_RUST;
const SECRET = 'bench-secret';
const DELAY_MS = 10;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

/** A bench script as its own process, with a reader of its stdout lines. */
function node(script: string, args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  return { child, lines: createInterface({ input: child.stdout })[Symbol.asyncIterator]() };
}

/** Setup samples (connect + first echoed byte) of `count` connections in a row to loopback `port`, ms. */
async function setupSamples(port: number, count: number): Promise<number[]> {
  const job: Job = { kind: 'setup', port, count };
  const { child, lines } = node('loadgen.ts', [JSON.stringify(job)]);
  const { samples } = await nextJson<{ samples: number[] }>(lines, 'loadgen');
  child.kill();
  return samples;
}

/** A bore process: our CLI, or the Rust binary (through `sh`, so its pid is the binary's after `exec`). */
function bore(args: string[], rust: boolean, launcher: string[] = []): BoreProcess {
  if (!rust) return new BoreProcess(args, {}, undefined, launcher);
  return new BoreProcess(args, { BORE_BIN: RUST! }, [], [...launcher, 'sh', '-c', 'exec "$BORE_BIN" "$@"']);
}

interface Tunnel {
  server: BoreProcess;
  client: BoreProcess;
  publicPort: number;
  /** Milliseconds from `bore local`'s first connect to its `listening at` line (the Rust bore: from its spawn). */
  listenMs: number;
  stop(): Promise<void>;
}

/** Starts a server and a client on loopback (or in the link's namespaces) for `spec`, forwarding to `servicePort`. */
async function startTunnel(spec: TunnelSpec, servicePort: number, certs: Certificates, link?: WanLink): Promise<Tunnel> {
  const rust = spec.flavor === 'rust';
  const args = boreArgs(spec, certs, link ? SERVER_IP : '127.0.0.1');
  const server = link ? link.bore(link.serverNs, args.server, rust ? RUST : undefined) : bore(args.server, rust);
  const started = await server.waitFor(/server listening(?: .*port=(\d+))?/, 15_000);
  const controlPort = rust ? undefined : Number(started[1]);
  try {
    const { client, listenMs, publicPort } = await startClient(spec, servicePort, certs, controlPort, link);
    return {
      server,
      client,
      publicPort,
      listenMs,
      stop: async () => void (await Promise.all([client.stop(), server.stop()])),
    };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** Starts `bore local` for `spec`; resolves once it listens, with the time that took. */
async function startClient(spec: TunnelSpec, servicePort: number, certs: Certificates, controlPort: number | undefined, link?: WanLink) {
  const rust = spec.flavor === 'rust';
  // Debug lines for the `connecting to` line's time stamp (ours only).
  const args = [
    ...boreArgs(spec, certs, link ? SERVER_IP : '127.0.0.1', servicePort, controlPort).client,
    ...(rust ? [] : ['--log-level', 'debug']),
  ];
  const t0 = performance.now();
  const client = link ? link.bore(link.clientNs, args, rust ? RUST : undefined) : bore(args, rust);
  try {
    const m = await client.waitFor(/listening at [\d.]+:(\d+)/, 15_000);
    const spawnMs = performance.now() - t0;
    // From the first connect to listening, by the client's own clock: Node's start-up left out.
    const at = (re: RegExp) => Date.parse(re.exec(client.output)?.[1] ?? '');
    const connectMs = at(/^(\S+Z) .*listening at/m) - at(/^(\S+Z) DEBUG connecting to/m);
    return { client, listenMs: Number.isNaN(connectMs) ? spawnMs : connectMs, spawnMs, publicPort: Number(m[1]) };
  } catch (err) {
    await client.stop();
    throw err;
  }
}

const FLAVORS: Flavor[] = ['plain', 'tls', ...(RUST ? (['rust'] as const) : [])];

/** iperf3 through each flavor's tunnel (pool on, the default) and directly, `SIZES.rounds` alternating rounds. */
async function bulk(certs: Certificates) {
  if (!findIperf3()) return { skipped: 'iperf3 is not installed (apt-get install -y iperf3)' };
  const iperf = await startIperfServer();
  const rows: {
    round: number;
    path: Flavor | 'direct';
    streams: number;
    mbps: number;
    serverCpuSPerGB?: number;
    clientCpuSPerGB?: number;
  }[] = [];
  try {
    for (let r = 1; r <= SIZES.rounds; r++) {
      for (const streams of [1, 8]) {
        const d = await runIperf(iperf.port, streams, SIZES.iperfSeconds);
        rows.push({ round: r, path: 'direct', streams, mbps: round(d.mbps, 1) });
      }
      for (const flavor of FLAVORS) {
        const t = await startTunnel({ flavor }, iperf.port, certs);
        try {
          for (const streams of [1, 8]) {
            const s0 = cpuMs(t.server.proc.pid!);
            const c0 = cpuMs(t.client.proc.pid!);
            const res = await runIperf(t.publicPort, streams, SIZES.iperfSeconds);
            const perGB = (ms: number) => round(ms / 1000 / (res.bytes / 1e9), 2);
            const row = {
              round: r,
              path: flavor,
              streams,
              mbps: round(res.mbps, 1),
              serverCpuSPerGB: perGB(cpuMs(t.server.proc.pid!) - s0),
              clientCpuSPerGB: perGB(cpuMs(t.client.proc.pid!) - c0),
            };
            rows.push(row);
            log(`bulk: ${JSON.stringify(row)}`);
          }
        } finally {
          await t.stop();
        }
      }
    }
  } finally {
    iperf.child.kill();
  }
  return { seconds: SIZES.iperfSeconds, rows };
}

/** Loopback setup p50 through a pooled tunnel, plaintext and TLS, pooled and multiplexed, alternating, each with a direct p50 right after. */
async function setup(certs: Certificates, echoPort: number) {
  const rows: { round: number; flavor: Flavor; mux: boolean; tunnelP50Ms: number; directP50Ms: number }[] = [];
  for (let r = 1; r <= SIZES.rounds; r++) {
    for (const [flavor, mux] of [
      ['plain', false],
      ['tls', false],
      ['plain', true],
      ['tls', true],
    ] as const) {
      const t = await startTunnel({ flavor, pool: 4, mux }, echoPort, certs);
      try {
        if (mux) await t.client.waitFor(/multiplexed connection ready/, 10_000);
        await setupSamples(t.publicPort, SIZES.setupWarm);
        const tunnelP50Ms = round(percentile(await setupSamples(t.publicPort, SIZES.setup), 50));
        const directP50Ms = round(percentile(await setupSamples(echoPort, SIZES.setup), 50));
        rows.push({ round: r, flavor, mux, tunnelP50Ms, directP50Ms });
        log(`setup: ${JSON.stringify(rows.at(-1))}`);
      } finally {
        await t.stop();
      }
    }
  }
  return { warmup: SIZES.setupWarm, count: SIZES.setup, rows };
}

/** What the server's first-byte grace costs a plaintext client with a secret, per data connection (`--pool 0`) and at start. */
async function grace(certs: Certificates, echoPort: number) {
  const cases = [
    { name: 'plaintext client, server without a certificate', spec: { flavor: 'plain', pool: 0, secret: SECRET } },
    { name: 'plaintext client, server with a certificate', spec: { flavor: 'plain', pool: 0, secret: SECRET, serverCert: true } },
    { name: 'TLS client, same server', spec: { flavor: 'tls', pool: 0, secret: SECRET } },
  ] satisfies { name: string; spec: TunnelSpec }[];
  const rows = [];
  for (const c of cases) {
    const t = await startTunnel(c.spec, echoPort, certs);
    try {
      await setupSamples(t.publicPort, 3);
      const samples = await setupSamples(t.publicPort, SIZES.grace);
      rows.push({ name: c.name, listenMs: round(t.listenMs, 1), setupP50Ms: round(percentile(samples, 50)), count: samples.length });
      log(`grace: ${JSON.stringify(rows.at(-1))}`);
    } finally {
      await t.stop();
    }
  }
  return { rows };
}

/** Over the 20 ms link: time to listening, and time to first byte with the pool on and off. */
async function wan(certs: Certificates) {
  const link = await WanLink.open(DELAY_MS);
  if (typeof link === 'string') return { skipped: link };
  try {
    const pings = link.ping(20);
    const rttMs = median(pings);
    log(`link: ping p50 ${rttMs.toFixed(2)} ms`);
    const services = link.startNode(link.clientNs, 'services.ts', ['--host', '0.0.0.0']);
    const { port: servicePort } = await nextJson<{ port: number }>(services.lines, 'services');
    const listen: Record<'plain' | 'tls', number[]> = { plain: [], tls: [] };
    const ttfb: { flavor: Flavor; pool: number; p50Ms: number; p90Ms: number; p50Rtts: number }[] = [];
    for (const flavor of ['plain', 'tls'] as const) {
      for (const pool of [4, 0]) {
        const t = await startTunnel({ flavor, pool }, servicePort, certs, link);
        try {
          const job: Job = { kind: 'setup', host: SERVER_IP, port: t.publicPort, count: SIZES.ttfbWarm + SIZES.ttfb };
          const samples = (await link.loadgen<{ samples: number[] }>(job)).samples.slice(SIZES.ttfbWarm);
          const p50 = percentile(samples, 50);
          ttfb.push({ flavor, pool, p50Ms: round(p50, 2), p90Ms: round(percentile(samples, 90), 2), p50Rtts: round(p50 / rttMs, 2) });
          log(`wan ttfb: ${JSON.stringify(ttfb.at(-1))}`);
          if (pool !== 4) continue;
          // Fresh clients against this server, one after another: first connect to `listening at`.
          for (let i = 0; i < SIZES.listens; i++) {
            const spec = { flavor, pool };
            const port = Number((await t.server.waitFor(/server listening .*port=(\d+)/))[1]);
            const c = await startClient(spec, servicePort, certs, port, link);
            listen[flavor].push(round(c.listenMs, 1));
            await c.client.stop();
          }
        } finally {
          await t.stop();
        }
      }
    }
    services.child.kill();
    return { rttMs: round(rttMs), listenMs: listen, ttfb, emulator: await link.stop() };
  } finally {
    link.cleanup();
  }
}

async function main(): Promise<void> {
  const certs = makeCertificates([SERVER_IP]);
  const services = node('services.ts', []);
  try {
    const { port: echoPort } = await nextJson<{ port: number }>(services.lines, 'services');
    const report = {
      date: new Date().toISOString(),
      quick,
      sizes: SIZES,
      machine: { cpu: os.cpus()[0]?.model, cores: os.cpus().length, kernel: os.release(), node: process.version, load: os.loadavg() },
      rust: RUST ?? null,
      bulk: ONLY.includes('bulk') ? await bulk(certs) : { skipped: 'not asked for (--only)' },
      setup: ONLY.includes('setup') ? await setup(certs, echoPort) : undefined,
      grace: ONLY.includes('grace') ? await grace(certs, echoPort) : undefined,
      wan: ONLY.includes('wan') ? await wan(certs) : { skipped: 'not asked for (--only)' },
    };
    mkdirSync(dirname(OUT), { recursive: true });
    writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${formatReport(report)}\n`);
    log(`wrote ${OUT}`);
  } finally {
    services.child.kill();
    certs.remove();
  }
}

main().catch((err: Error) => {
  log(`tls bench failed: ${err.stack ?? err.message}`);
  process.exitCode = 1;
});
