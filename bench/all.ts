/**
 * `npm run bench`: every benchmark in one run. The tunnel-against-direct harness
 * (`bench/run.ts`, issue 6) runs as its own process; then the server figures
 * (`bench/server.ts`, issue 4) and the connection manager's (`bench/reconnect.ts`,
 * issue 3). Prints markdown tables and writes `bench/results/{latest,quick}.json` and
 * `bench/results/{server-reconnect,server-reconnect-quick}.json`.
 * Flags are passed to `bench/run.ts`; `--quick` also shortens the reconnect runs.
 * `--only <a,b>` runs only the named figures of `bench/run.ts` and, with `churn`, the
 * churn soak (`bench/churn.ts`, issue 10, never part of the full run), with `wan`, the
 * figures over a link with 20 ms of round trip (`bench/wan.ts`: root, network namespaces
 * and gcc; not part of the full run either), and, with `multi`, the several-tunnels
 * figures (`bench/multi.ts`, issue 14, last in the full run), and, with `tls`, TLS against
 * plaintext (`bench/tls.ts`, issue 20; not part of the full run), and, with `exe`, the
 * single-file executable's size and start-up against the bundle's (`bench/exe.ts`, issue
 * 21; after `npm run build:exe`; not part of the full run), and, with `burst`, bursts of
 * 5,000 and 10,000 simultaneous visitors (`bench/burst.ts`, issue 23; not part of the full
 * run), and, with `failover`, the time from a killed first server to listening on the
 * second (`bench/failover.ts`, issue 24; not part of the full run), and, with `many`, one
 * `bore up` with 100 to 3,000 tunnels (`bench/many-tunnels.ts`, issue 23; not part of the
 * full run), and, with `start`, the time from spawn to listening (`bench/listen-start.ts`,
 * issue 23; not part of the full run); it skips the server and reconnect figures.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { runServerBench } from './server.js';
import { runReconnectBench } from './reconnect.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? args[onlyIdx + 1]!.split(',') : undefined;
const RUN_FIGURES = ['memory', 'concurrency', 'slow', 'throughput', 'setup', 'rtt', 'startup'];

/** Runs a bench script as its own process; exits if it fails. */
function runScript(script: string, scriptArgs: string[]): void {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, script), ...scriptArgs], { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

if (!only || only.some((name) => RUN_FIGURES.includes(name))) runScript('run.ts', args);
if (only?.includes('churn')) runScript('churn.ts', quick ? ['--quick'] : []);
if (only?.includes('setup-pool')) runScript('setup-pool.ts', []);
if (only?.includes('wan')) runScript('wan.ts', quick ? ['--quick'] : []);
if (only?.includes('multi')) runScript('multi.ts', quick ? ['--quick'] : []);
if (only?.includes('tls')) runScript('tls.ts', quick ? ['--quick'] : []);
if (only?.includes('exe')) runScript('exe.ts', quick ? ['--runs', '5'] : []);
if (only?.includes('burst')) runScript('burst.ts', quick ? ['--rounds', '1'] : []);
if (only?.includes('many')) runScript('many-tunnels.ts', quick ? ['--counts', '100,1000'] : []);
if (only?.includes('failover')) runScript('failover.ts', quick ? ['--runs', '3'] : []);
if (only?.includes('start')) runScript('listen-start.ts', quick ? ['--runs', '5'] : []);
if (only) process.exit(0);

const server = await runServerBench();
const reconnect = await runReconnectBench(quick);
const f = (x: number) => x.toFixed(2);
const rows = [
  ['Figure', 'Result', 'Target'],
  [
    'Port of a silently dead client free (real packet loss, netns)',
    'skipped' in server.deadClient
      ? `skipped: ${server.deadClient.skipped}`
      : `${server.deadClient.seconds} s (${server.deadClient.method})`,
    '<= 15 s',
  ],
  [
    `${server.concurrency.conns} concurrent connections through one tunnel`,
    `${server.concurrency.failures} failures, ${server.concurrency.ms} ms`,
    '0 failures',
  ],
  [
    `${server.tunnels.count} tunnels on one server`,
    `opened in ${server.tunnels.openMs} ms, ${server.tunnels.failures} failed round trips`,
    '100, 0 failures',
  ],
  [
    'Server RSS: idle / 1,000 connections / 100 tunnels',
    `${server.concurrency.serverRssIdleMb} / ${server.concurrency.serverRssOpenMb} / ${server.tunnels.serverRssMb} MB`,
    '',
  ],
  [
    `Server RSS with ${server.idleHandshakes.count} silent handshakes; a tunnel round trip meanwhile`,
    `${server.idleHandshakes.serverRssMb} MB; ${server.idleHandshakes.roundTripMs} ms`,
    '',
  ],
  [
    `Client: loss detected after the network goes silent (heartbeat timeout ${reconnect.lossDetection.heartbeatTimeoutS} s)`,
    `max ${f(reconnect.lossDetection.maxS)} s over ${reconnect.lossDetection.runsS.length}`,
    `<= ${reconnect.lossDetection.targetS} s`,
  ],
  [
    'Client: tunnel back after the restarted server listens',
    `median ${f(reconnect.recovery.medianS)} s, max ${f(reconnect.recovery.maxS)} s over ${reconnect.recovery.runsS.length}; same port: ${reconnect.recovery.samePort}`,
    `<= ${reconnect.recovery.targetS} s`,
  ],
  [
    'Client: bytes lost from a 32 MiB transfer across a control reconnect',
    `${reconnect.inFlight.lostBytes} (sha256 ${reconnect.inFlight.sha256Intact ? 'intact' : 'MISMATCH'})`,
    '0',
  ],
];
const lines = rows.map((r) => `| ${r.join(' | ')} |`);
lines.splice(1, 0, '|---|---|---|');
process.stdout.write(`\n${lines.join('\n')}\n`);
mkdirSync(join(HERE, 'results'), { recursive: true });
const out = join(HERE, 'results', quick ? 'server-reconnect-quick.json' : 'server-reconnect.json');
writeFileSync(out, `${JSON.stringify({ date: new Date().toISOString(), quick, server, reconnect }, null, 2)}\n`);
process.stderr.write(`wrote ${out}\n`);
runScript('multi.ts', quick ? ['--quick'] : []);
