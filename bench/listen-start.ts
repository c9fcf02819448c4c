/**
 * Time from spawn to listening (issue 23's start-up row), interleaved, median of
 * `--runs` (15): `bore server` to its `server listening` line and `bore local` to its
 * `listening at` line, beside a bare Node process that listens (and, for the client, one
 * that connects to the server first and then listens, and one that does the protocol's
 * own work by hand: connect, `Hello(0)`, the server's reply), and beside the floor of the
 * design's three named dependencies: a bare listener that loads and uses yargs (parse),
 * winston (one line) and xstate (one actor), bundled and minified like our CLI. Each of
 * our commands with its code cache (`src/cli/chunk-loader.ts`, filled by a run that
 * lasts) and without (`NODE_DISABLE_COMPILE_CACHE=1`). And each one's resident memory 3 s after listening
 * (one run each). `--before <bore.mjs>` adds another build, `--exe <file>` the single-file
 * executable (`npm run build:exe`, `dist/bore-linux-x64`), run as itself. Each time is
 * given against the three bare processes.
 *
 *   npm run build && node --import tsx bench/listen-start.ts [--runs 15] [--before dist/bundle-before/bore.mjs] [--exe dist/bore-linux-x64]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { median } from './proc-stats.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const argv = process.argv.slice(2);
const flag = (name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const RUNS = Number(flag('--runs') ?? 15);
const BEFORE = flag('--before');
const EXE = flag('--exe');
const BORE = join(ROOT, 'dist', 'bundle', 'bore.mjs');
const DIR = mkdtempSync(join(tmpdir(), 'bore-bench-start-'));
const CACHE = { TMPDIR: DIR };
const NO_CACHE = { TMPDIR: DIR, NODE_DISABLE_COMPILE_CACHE: '1' };

const BARE_SERVER = `import net from 'node:net';
net.createServer(() => {}).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('server listening'));`;
const BARE_CLIENT = `import net from 'node:net';
net.connect(Number(process.argv[2]), '127.0.0.1', () => net.createServer(() => {}).listen(0, () => console.log('listening at')));`;
// The protocol's own work, by hand: connect, send Hello(0), read the server's Hello(port).
const BARE_HELLO = `import net from 'node:net';
const socket = net.connect(Number(process.argv[2]), '127.0.0.1', () => socket.write('{"Hello":0}\\0'));
let text = '';
socket.on('data', (chunk) => {
  text += chunk;
  const end = text.indexOf('\\0');
  if (end >= 0) console.log('listening at 127.0.0.1:' + JSON.parse(text.slice(0, end)).Hello);
});`;
const FLOOR = `import net from 'node:net';
import yargs from 'yargs';
import winston from 'winston';
import { createActor, createMachine } from 'xstate';
const argv = yargs(process.argv.slice(2)).option('port', { type: 'number' }).parseSync();
const log = winston.createLogger({ transports: [new winston.transports.Console()], format: winston.format.simple() });
createActor(createMachine({ initial: 'a', states: { a: {} } })).start();
net.createServer(() => {}).listen(argv.port, '127.0.0.1', () => log.info('server listening'));`;

/** Writes `source` and, if `bundle`, bundles it as the CLI is (ESM, minified, dependencies inlined). */
async function script(name: string, source: string, bundle = false): Promise<string> {
  const file = join(bundle ? ROOT : DIR, `.bench-${name}.mjs`);
  writeFileSync(file, source);
  if (!bundle) return file;
  const out = join(DIR, `${name}.mjs`);
  const banner = "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);";
  await build({
    entryPoints: [file],
    bundle: true,
    minify: true,
    platform: 'node',
    format: 'esm',
    outfile: out,
    banner: { js: banner },
    logLevel: 'error',
  });
  rmSync(file);
  return out;
}

/** Ms from spawn to the first output line matching `ready` (then SIGKILL, or `settle` ms later). */
function timeToReady(
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  settle = 0,
  onSettled?: (pid: number) => void,
): Promise<number> {
  const t0 = performance.now();
  const child: ChildProcess = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let text = '';
    const on = (chunk: Buffer) => {
      text += chunk.toString();
      if (settled || !ready.test(text)) return;
      settled = true;
      const ms = performance.now() - t0;
      setTimeout(() => {
        onSettled?.(child.pid!);
        resolve(ms);
        child.kill('SIGKILL');
      }, settle);
    };
    let settled = false;
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', () => reject(new Error(`${args.join(' ')} ended before ${ready}: ${text}`)));
  }).finally(() => new Promise((r) => (child.exitCode === null ? child.once('close', r) : r(undefined)))) as Promise<number>;
}

/**
 * Runs `args` for 6 s, then SIGTERM: fills the code cache as a lasting run does. A
 * command that ends before (a build that cannot start, e.g. one outside `dist/` whose
 * `../../package.json` is not there) is an error, not a wait for a close already past.
 */
async function fill(args: string[]): Promise<void> {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...CACHE }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise((r) => child.once('close', r));
  await Promise.race([new Promise((r) => setTimeout(r, 6000)), closed]);
  if (child.exitCode !== null) throw new Error(`${args.join(' ')} exited with status ${child.exitCode} within 6 s: ${stderr.trim()}`);
  child.kill('SIGTERM');
  await closed;
}

interface Row {
  name: string;
  /** What runs: Node (the default), or the executable. */
  command?: string;
  args: (port: number) => string[];
  env: Record<string, string>;
  ready: RegExp;
}

const server = await script('bare-server', BARE_SERVER);
const client = await script('bare-client', BARE_CLIENT);
const hello = await script('bare-hello', BARE_HELLO);
const floor = await script('floor', FLOOR, true);
const builds: [string, string][] = [['ours', BORE], ...(BEFORE ? [['before', BEFORE] as [string, string]] : [])];
let port = 17700;
const nextPort = () => port++;
const target = spawn(process.execPath, [BORE, 'server', '--bind-addr', '127.0.0.1', '--control-port', '17699'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 1500));

const rows: Row[] = [
  { name: 'bare Node: listen', args: (p) => [server, String(p)], env: CACHE, ready: /server listening/ },
  { name: 'yargs + winston + xstate floor: listen', args: (p) => [floor, '--port', String(p)], env: CACHE, ready: /server listening/ },
  { name: 'bare Node: connect, then listen', args: () => [client, '17699'], env: CACHE, ready: /listening at/ },
  { name: 'bare Node: connect, Hello, the reply', args: () => [hello, '17699'], env: CACHE, ready: /listening at/ },
];
for (const [label, bore] of builds) {
  const serverArgs = (p: number) => [bore, 'server', '--bind-addr', '127.0.0.1', '--control-port', String(p)];
  const clientArgs = () => [bore, 'local', '22', '--to', '127.0.0.1', '--control-port', '17699'];
  await fill(serverArgs(nextPort()));
  await fill(clientArgs());
  rows.push(
    { name: `${label}: bore server`, args: serverArgs, env: CACHE, ready: /server listening/ },
    { name: `${label}: bore server, no code cache`, args: serverArgs, env: NO_CACHE, ready: /server listening/ },
    { name: `${label}: bore local`, args: clientArgs, env: CACHE, ready: /listening at/ },
    { name: `${label}: bore local, no code cache`, args: clientArgs, env: NO_CACHE, ready: /listening at/ },
  );
}
await fill([floor, '--port', String(nextPort())]);
if (EXE) {
  rows.push(
    {
      name: 'executable: bore server',
      command: EXE,
      args: (p) => ['server', '--bind-addr', '127.0.0.1', '--control-port', String(p)],
      env: CACHE,
      ready: /server listening/,
    },
    {
      name: 'executable: bore local',
      command: EXE,
      args: () => ['local', '22', '--to', '127.0.0.1', '--control-port', '17699'],
      env: CACHE,
      ready: /listening at/,
    },
  );
}

const times = rows.map(() => [] as number[]);
for (let run = 0; run < RUNS; run++) {
  for (const [i, row] of rows.entries())
    times[i]!.push(await timeToReady(row.command ?? process.execPath, row.args(nextPort()), row.env, row.ready));
}

// Resident memory, idle: 3 s after listening, one run each.
const rss: number[] = [];
for (const row of rows) {
  await timeToReady(row.command ?? process.execPath, row.args(nextPort()), row.env, row.ready, 3000, (pid) => {
    rss.push(Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN) / 1024);
  });
}
const medianOf = (name: string) => median(times[rows.findIndex((row) => row.name === name)]!);
const bare = medianOf('bare Node: listen');
const bareClient = medianOf('bare Node: connect, then listen');
const bareHello = medianOf('bare Node: connect, Hello, the reply');
target.kill('SIGTERM');
rmSync(DIR, { recursive: true, force: true });
console.log(
  `| start to listening, Node ${process.versions.node}, median of ${RUNS} | ms | x bare Node listen | x bare Node connect, then listen | x bare Node Hello | RSS idle, MB | over bare Node |`,
);
console.log('|---|---|---|---|---|---|---|');
for (const [i, row] of rows.entries()) {
  const ms = median(times[i]!);
  console.log(
    `| ${row.name} | ${ms.toFixed(1)} | ${(ms / bare).toFixed(2)}x | ${(ms / bareClient).toFixed(2)}x | ${(ms / bareHello).toFixed(2)}x | ${rss[i]!.toFixed(1)} | ${(rss[i]! - rss[0]!).toFixed(1)} |`,
  );
}
