/**
 * What the inspector page costs a busy tunnel (issue 22): a `bore local --inspect`
 * client carries `--rate` new connections a second (default 1,000; each echoes 64 bytes
 * and closes) for `--seconds` (default 10), and its CPU time is read from /proc, with no
 * page open, then with the dashboard open in headless Chromium (its `/events` stream:
 * snapshots, the log, and the traffic sampled once a second), alternately, `--rounds`
 * times (default 2). The load runs in a process of its own (this script with `load`).
 * Also per 1,000 connections served, the figure to compare when a loaded machine cannot
 * keep the pace (a round then lasts longer than `--seconds`).
 *
 * Usage: node --import tsx bench/inspector-cost.ts [--rate 1000] [--seconds 10] [--rounds 2] [--json]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { cpuMs, median } from './proc-stats.js';
import { startClient, startEchoServer, startServer } from '../test/helpers/procs.js';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};

/** The load: `rate` connections a second to `port` for `seconds`, each echoing 64 bytes; prints what it did. */
async function load(port: number, rate: number, seconds: number): Promise<void> {
  const payload = Buffer.alloc(64, 1);
  let done = 0;
  let failed = 0;
  const one = () =>
    new Promise<void>((resolve) => {
      const s = net.connect({ port, host: '127.0.0.1' });
      let got = 0;
      s.on('connect', () => s.write(payload));
      s.on('data', (c: Buffer) => {
        got += c.length;
        if (got >= payload.length) s.end();
      });
      s.on('error', () => {});
      s.on('close', () => {
        if (got >= payload.length) done++;
        else failed++;
        resolve();
      });
    });
  const t0 = Date.now();
  const pending: Promise<void>[] = [];
  // Paced in 10 ms steps: rate/100 connections each.
  for (let step = 0; Date.now() - t0 < seconds * 1000; step++) {
    for (let i = 0; i < rate / 100; i++) pending.push(one());
    const next = t0 + (step + 1) * 10;
    await new Promise((r) => setTimeout(r, Math.max(0, next - Date.now())));
  }
  await Promise.all(pending);
  process.stdout.write(`${JSON.stringify({ done, failed, ms: Date.now() - t0 })}\n`);
}

async function main(): Promise<void> {
  const rate = arg('rate', 1000);
  const seconds = arg('seconds', 10);
  const rounds = arg('rounds', 2);
  const echo = await startEchoServer();
  const server = await startServer(['--min-port', '26400', '--max-port', '26499']);
  const client = await startClient(echo.port, server.controlPort, ['--inspect']);
  const inspectPort = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
  const pid = client.proc.pid!;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu'] });

  const run = async (): Promise<{ cpuMs: number; done: number; failed: number }> => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(import.meta.url), 'load', String(client.publicPort), String(rate), String(seconds)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const before = cpuMs(pid);
    await once(child, 'exit');
    const used = cpuMs(pid) - before;
    const result = JSON.parse(out) as { done: number; failed: number };
    return { cpuMs: used, ...result };
  };

  const closed: number[] = [];
  const open: number[] = [];
  /** CPU ms per 1,000 connections served: comparable when a loaded machine cannot keep the pace. */
  const perK = (r: { cpuMs: number; done: number }) => (r.cpuMs / Math.max(1, r.done)) * 1000;
  const closedPerK: number[] = [];
  const openPerK: number[] = [];
  const rows: object[] = [];
  for (let round = 0; round < rounds; round++) {
    const a = await run();
    closed.push(a.cpuMs);
    closedPerK.push(perK(a));
    rows.push({ page: 'closed', ...a });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`http://127.0.0.1:${inspectPort}/`);
    await page.waitForSelector('#state[data-tone="ok"]');
    const b = await run();
    open.push(b.cpuMs);
    openPerK.push(perK(b));
    rows.push({ page: 'open', ...b });
    await page.close();
  }
  await browser.close();
  await client.stop();
  await server.stop();
  await echo.close();
  const summary = {
    rate,
    seconds,
    cpuPerSecondClosedMs: median(closed) / seconds,
    cpuPerSecondOpenMs: median(open) / seconds,
    cpuPerThousandClosedMs: median(closedPerK),
    cpuPerThousandOpenMs: median(openPerK),
    rows,
  };
  if (process.argv.includes('--json')) console.log(JSON.stringify(summary, null, 2));
  else {
    for (const r of rows) console.log(JSON.stringify(r));
    console.log(
      `client CPU at ${rate} connections/s: page closed ${summary.cpuPerSecondClosedMs.toFixed(0)} ms/s, ` +
        `page open ${summary.cpuPerSecondOpenMs.toFixed(0)} ms/s; per 1,000 connections: ` +
        `${summary.cpuPerThousandClosedMs.toFixed(0)} ms closed, ${summary.cpuPerThousandOpenMs.toFixed(0)} ms open (median of ${rounds})`,
    );
  }
}

if (process.argv[2] === 'load') await load(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
else await main();
