/**
 * `deploy/bore-up.service` run through its own lines: the credential copied as
 * `LoadCredential=` would, `ExecStart` run as the CLI with the environment systemd
 * gives it, the file changed, `ExecReload` run with `$MAINPID` substituted, and the new
 * tunnel seen coming up in the log. Then `bore up --secret-file`, which hands the
 * credential to the file's tunnels: needed (without it the server refuses them), and
 * a tunnel's own secret still wins.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BoreProcess, connect, roundTrip, startEchoServer, startServer } from './helpers/procs.js';
import { commandLine, serviceEnv, unit } from './helpers/deploy-files.js';

const SECRET = 'deploy-up-secret-0ddba11';
const dir = mkdtempSync(path.join(tmpdir(), 'bore-deploy-up-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A config file of tunnels to the server on `controlPort`: each name's local port and extra lines. */
function config(controlPort: number, tunnels: Record<string, { port: number; extra?: string }>): string {
  const tables = Object.entries(tunnels).map(([name, t]) => `[tunnels.${name}]\nlocal_port = ${t.port}\n${t.extra ?? ''}`);
  return `to = "127.0.0.1"\ncontrol_port = ${controlPort}\nreconnect = false\n\n${tables.join('\n')}`;
}

/** Sends a few bytes through the public `port` and checks they come back. */
async function echoes(port: number): Promise<void> {
  const data = Buffer.from(`through ${port}`);
  assert.deepEqual(await roundTrip(await connect(port), data), data);
}

test('bore-up.service: ExecStart runs the file with the credential, ExecReload with $MAINPID brings up an added tunnel', async () => {
  const etc = path.join(dir, 'etc-bore');
  mkdirSync(etc);
  const keys = unit('bore-up.service', `${etc}/`);
  writeFileSync(path.join(etc, 'up.secret'), `${SECRET}\n`, { mode: 0o600 });
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--secret', SECRET]);
  const web = await startEchoServer();
  const api = await startEchoServer();
  const file = path.join(etc, 'bore.toml');
  writeFileSync(file, config(server.controlPort, { web: { port: web.port } }));
  const env = serviceEnv(keys, path.join(dir, 'credentials'));
  const [bin, ...args] = commandLine(keys, 'ExecStart', env);
  assert.equal(bin, 'bore');
  assert.ok(args.includes(file), `ExecStart reads ${file}: ${args.join(' ')}`);
  const up = new BoreProcess(args, env);
  try {
    const first = await up.waitFor(/listening at 127\.0\.0\.1:(\d+) tunnel=web /);
    await echoes(Number(first[1]));
    writeFileSync(file, config(server.controlPort, { web: { port: web.port }, api: { port: api.port } }));
    const mark = up.output.length;
    const reload = commandLine(keys, 'ExecReload', { MAINPID: String(up.proc.pid) });
    const r = spawnSync(reload[0]!, reload.slice(1), { encoding: 'utf8', timeout: 10_000 });
    assert.equal(r.status, 0, r.stderr);
    await up.waitFor(/reload: 1 added, 0 removed, 0 changed, 1 unchanged/, 10_000, mark);
    const added = await up.waitFor(/listening at 127\.0\.0\.1:(\d+) tunnel=api /, 10_000, mark);
    await echoes(Number(added[1]));
    await echoes(Number(first[1]));
    assert.equal(await up.stop(), 0);
  } finally {
    await up.stop();
    assert.equal(await server.stop(), 0);
    await web.close();
    await api.close();
  }
  assert.ok(!up.output.includes(SECRET), up.output);
});

test("bore up --secret-file: the tunnels' secret unless one sets its own; without it the server refuses them; a missing file is a usage error", async () => {
  const secretFile = path.join(dir, 'secret');
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  const server = await startServer(['--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--secret', SECRET]);
  const echo = await startEchoServer();
  const file = path.join(dir, 'own.toml');
  writeFileSync(
    file,
    config(server.controlPort, { web: { port: echo.port }, own: { port: echo.port, extra: 'secret = "not-the-secret"\n' } }),
  );
  try {
    const up = new BoreProcess(['up', '--config', file, '--secret-file', secretFile]);
    const m = await up.waitFor(/listening at 127\.0\.0\.1:(\d+) tunnel=web /);
    await echoes(Number(m[1]));
    await up.waitFor(/server error: invalid secret tunnel=own /);
    assert.equal(await up.stop(), 0);
    // The same file without the flag: no tunnel authenticates, every one fails (3).
    const without = new BoreProcess(['up', '--config', file]);
    assert.equal(await without.exited, 3, without.output);
    const missing = new BoreProcess(['up', '--config', file, '--secret-file', path.join(dir, 'nothing-here')]);
    assert.equal(await missing.exited, 2, missing.output);
    assert.match(missing.output, /invalid value for --secret-file: .*nothing-here/);
  } finally {
    assert.equal(await server.stop(), 0);
    await echo.close();
  }
});
