/**
 * `node --import tsx bench/metrics-slowloris.ts [--cli PATH]... [--slow 1100] [--visitors 50]
 * [--nofile 1024] [--reopen-ms 1000]`: visitors served through a tunnel while a
 * slow-request attack holds `/metrics` (issue 18). `bore server --metrics` runs under a
 * descriptor limit of `--nofile` (prlimit), `bore local` exposes an echo service
 * through it; then `--slow` connections to the metrics listener each send part of a
 * request and hold (one that is closed is opened again `--reopen-ms` later, as an
 * attacker keeping up the pressure would), and meanwhile `--visitors` visitors, one
 * every 100 ms, each send 4 bytes through the tunnel and wait up to 3 s for the echo;
 * 10 scrapes of `/metrics` are tried along the way. Each `--cli` (default: the built
 * CLI) is measured in turn: give the bundle of an older build to compare (e.g. one
 * copied from `npm run build` on the main branch). Writes
 * `bench/results/metrics-slowloris.json`.
 */
import net from 'node:net';
import http from 'node:http';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { BoreProcess, CLI, startEchoServer } from '../test/helpers/procs.js';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const argv = process.argv.slice(2);
const opt = (name: string, fallback: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : fallback;
};
const CLIS = argv.flatMap((a, i) => (a === '--cli' ? [argv[i + 1]!] : []));
const SLOW = opt('--slow', 1100);
const VISITORS = opt('--visitors', 50);
const NOFILE = opt('--nofile', 1024);
const REOPEN_MS = opt('--reopen-ms', 1000);

/** One visitor: 4 bytes through the tunnel, echoed back within 3 s. */
function visit(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => finish(false), 3000);
    let got = '';
    const finish = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    socket.on('error', () => finish(false));
    socket.on('close', () => finish(got === 'ping'));
    socket.on('connect', () => socket.write('ping'));
    socket.on('data', (c: Buffer) => {
      got += c.toString();
      if (got === 'ping') finish(true);
    });
  });
}

/** One scrape of `/metrics` within 3 s. */
function scrape(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, timeout: 3000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 200));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}

/** Keeps `count` slow requests open on `port` until `stop()`; counts the connections opened. */
function attack(port: number, count: number) {
  let stopped = false;
  let opened = 0;
  const sockets = new Set<net.Socket>();
  const open = () => {
    if (stopped) return;
    const socket = net.connect({ port, host: '127.0.0.1' });
    sockets.add(socket);
    opened++;
    socket.on('error', () => {});
    socket.on('connect', () => socket.write(`GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`));
    socket.resume();
    socket.on('close', () => {
      sockets.delete(socket);
      if (!stopped) setTimeout(open, REOPEN_MS);
    });
  };
  for (let i = 0; i < count; i++) open();
  return {
    get held() {
      return [...sockets].filter((s) => !s.connecting && !s.destroyed).length;
    },
    get opened() {
      return opened;
    },
    stop() {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

async function measure(cli: string, echoPort: number) {
  const script = [cli];
  const server = new BoreProcess(
    ['server', '--control-port', '0', '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--metrics', '127.0.0.1:0'],
    {},
    script,
    ['prlimit', `--nofile=${NOFILE}:${NOFILE}`, '--'],
  );
  try {
    const controlPort = Number((await server.waitFor(/server listening .*port=(\d+)/))[1]);
    const metricsPort = Number((await server.waitFor(/metrics at http:\/\/127\.0\.0\.1:(\d+)\/metrics/))[1]);
    const client = new BoreProcess(
      ['local', String(echoPort), '--to', '127.0.0.1', '--control-port', String(controlPort), '--local-host', '127.0.0.1'],
      {},
      script,
    );
    try {
      const publicPort = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
      if (!(await visit(publicPort))) throw new Error('the tunnel does not work before the attack');
      const slow = attack(metricsPort, SLOW);
      // Let the attack's connections arrive: 1 s, then the visitors come over 100 ms steps.
      await new Promise((r) => setTimeout(r, 1000));
      let served = 0;
      let scrapes = 0;
      let serverFdsMax = 0;
      let heldMax = 0;
      const started = Date.now();
      for (let i = 0; i < VISITORS; i++) {
        const tries = [visit(publicPort)];
        if (i % Math.max(1, Math.floor(VISITORS / 10)) === 0) tries.push(scrape(metricsPort));
        serverFdsMax = Math.max(serverFdsMax, readdirSync(`/proc/${server.proc.pid}/fd`).length);
        heldMax = Math.max(heldMax, slow.held);
        const [ok, scraped] = await Promise.all([...tries, new Promise((r) => setTimeout(r, 100))]);
        if (ok) served++;
        if (scraped === true) scrapes++;
      }
      const row = {
        cli,
        nofile: NOFILE,
        slow: SLOW,
        reopenMs: REOPEN_MS,
        visitors: VISITORS,
        served,
        scrapes,
        scrapesTried: Math.ceil(VISITORS / Math.max(1, Math.floor(VISITORS / 10))),
        attackHeldMax: heldMax,
        attackConnectionsOpened: slow.opened,
        serverFdsMax,
        seconds: Math.round((Date.now() - started) / 100) / 10,
      };
      slow.stop();
      process.stderr.write(`${JSON.stringify(row)}\n`);
      return row;
    } finally {
      await client.stop();
    }
  } finally {
    await server.stop();
  }
}

try {
  execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('prlimit (util-linux) is needed to run the server under a descriptor limit');
  process.exit(1);
}
const echo = await startEchoServer();
const rows = [];
try {
  for (const cli of CLIS.length > 0 ? CLIS : [CLI]) rows.push(await measure(cli, echo.port));
} finally {
  await echo.close();
}
writeFileSync(join(HERE, 'results', 'metrics-slowloris.json'), `${JSON.stringify({ time: new Date().toISOString(), rows }, null, 2)}\n`);
console.log(
  `| CLI | Visitors served | /metrics scrapes answered | Slow connections open at most (attacker's view) | Server descriptors at most (limit ${NOFILE}) |`,
);
console.log('|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.cli} | ${r.served}/${r.visitors} | ${r.scrapes}/${r.scrapesTried} | ${r.attackHeldMax} of ${r.slow} | ${r.serverFdsMax} |`,
  );
}
