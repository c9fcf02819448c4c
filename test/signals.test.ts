/**
 * Signals to the real CLI (child processes, loopback): SIGTERM's drain line counts
 * connections; SIGHUP, even the moment the process has a handler (long before its
 * first log line), never kills: `bore up` applies the reload once its tunnels run,
 * `bore local` and `bore server` log that there is nothing to reload and keep serving.
 */
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoreProcess, connect, roundTrip, startClient, startEchoServer, startServer } from './helpers/procs.js';

/** This file's public port range. */
const RANGE = ['--min-port', '29100', '--max-port', '29199'];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function server(args: string[] = []) {
  const s = await startServer([...RANGE, ...args]);
  cleanups.push(() => s.stop());
  return s;
}

const DIR = mkdtempSync(join(tmpdir(), 'bore-signals-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/**
 * Resolves once `p` catches SIGHUP (its bit in `SigCgt` of /proc/PID/status): the
 * moment its first handler is installed, which must come before its first log line.
 */
async function catchesHangup(p: BoreProcess): Promise<void> {
  for (;;) {
    assert.equal(p.proc.exitCode, null, p.output);
    const status = readFileSync(`/proc/${p.proc.pid}/status`, 'utf8');
    const caught = BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)/m.exec(status)![1]!}`);
    if ((caught & 1n) !== 0n) return;
    assert.equal(p.output, '', 'logged a line before catching SIGHUP');
    await new Promise((r) => setImmediate(r));
  }
}

/** Sends SIGHUP the moment `p` can catch it; asserts that was before its first log line. */
async function earlyHangup(p: BoreProcess): Promise<void> {
  await catchesHangup(p);
  assert.equal(p.output, '', 'the SIGHUP goes before the first log line');
  p.proc.kill('SIGHUP');
}

/** A round trip through `port` comes back intact. */
async function serves(port: number): Promise<void> {
  const data = randomBytes(10_000);
  assert.deepEqual(await roundTrip(await connect(port), data), data);
}

async function echo() {
  const e = await startEchoServer();
  cleanups.push(() => e.close());
  return e;
}

test('SIGTERM with one visitor connection open: the drain line counts one connection', { timeout: 30_000 }, async () => {
  const s = await server();
  const e = await echo();
  const c = await startClient(e.port, s.controlPort, ['--drain-timeout', '30']);
  cleanups.push(() => c.stop('SIGKILL'));
  const visitor = await connect(c.publicPort);
  cleanups.push(() => Promise.resolve(visitor.destroy()));
  // Through to the local service and back: the connection is proxied.
  visitor.write('ping');
  await new Promise((r) => visitor.once('data', r));
  c.proc.kill('SIGTERM');
  const [, count] = await c.waitFor(/draining connections count=(\d+)/);
  assert.equal(count, '1', c.output);
  visitor.end();
  assert.equal(await c.exited, 0, c.output);
});

test(
  'bore up: a SIGHUP before its first log line does not kill it; the reload is applied once the tunnels run',
  { timeout: 30_000 },
  async () => {
    const s = await server();
    const e = await echo();
    const config = join(DIR, 'up.toml');
    const write = (names: string[]) =>
      writeFileSync(
        config,
        [
          'to = "127.0.0.1"',
          `control_port = ${s.controlPort}`,
          ...names.flatMap((name, i) => [`[tunnels.${name}]`, `local_port = ${e.port}`, `remote_port = ${29150 + i}`]),
        ].join('\n'),
      );
    write(['a']);
    const up = new BoreProcess(['up', '--config', config]);
    cleanups.push(() => up.stop('SIGKILL'));
    await catchesHangup(up);
    write(['a', 'b']);
    await earlyHangup(up);
    await up.waitFor(/received SIGHUP, reloading .*up\.toml/);
    await up.waitFor(/listening at 127\.0\.0\.1:29151 tunnel=b/);
    await up.waitFor(/listening at 127\.0\.0\.1:29150 tunnel=a/);
    await serves(29150);
    await serves(29151);
    assert.equal(up.proc.exitCode, null);
    assert.equal(await up.stop('SIGTERM'), 0, up.output);
  },
);

for (const command of ['local', 'server'] as const) {
  test(
    `bore ${command}: SIGHUP, before its first log line and later, logs that there is nothing to reload and it keeps serving`,
    { timeout: 30_000 },
    async () => {
      const e = await echo();
      const line = new RegExp(`received SIGHUP: nothing to reload for bore ${command}, still running`, 'g');
      const s = command === 'server' ? new BoreProcess(['server', '--control-port', '0', ...RANGE]) : await server();
      cleanups.push(() => s.stop('SIGKILL'));
      if (command === 'server') {
        await earlyHangup(s);
        await s.waitFor(line);
      }
      const controlPort = Number((await s.waitFor(/server listening .*port=(\d+)/))[1]);
      const c = new BoreProcess(['local', String(e.port), '--to', '127.0.0.1', '--control-port', String(controlPort)]);
      cleanups.push(() => c.stop('SIGKILL'));
      if (command === 'local') {
        await earlyHangup(c);
        await c.waitFor(line);
      }
      const publicPort = Number((await c.waitFor(/listening at 127\.0\.0\.1:(\d+)/))[1]);
      await serves(publicPort);

      // And once running, with a connection open through it.
      const target = command === 'server' ? s : c;
      const open = await connect(publicPort);
      const mark = target.output.length;
      target.proc.kill('SIGHUP');
      await target.waitFor(line, 10_000, mark);
      assert.equal(open.closed, false);
      open.write('still');
      await new Promise((r) => open.once('data', r));
      open.destroy();
      await serves(publicPort);
      assert.equal(target.output.match(line)?.length, 2, target.output);
      assert.equal(await target.stop('SIGTERM'), 0, target.output);
    },
  );
}
