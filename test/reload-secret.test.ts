/**
 * A reload that brings a wrong secret does not end `bore up` (real processes, loopback):
 * every tunnel fails, the process stays up and says so in one line; a file that does
 * not validate (an unquoted secret) is rejected without showing it; the corrected file
 * and another SIGHUP bring the tunnels back, serving.
 */
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BoreProcess, connect, roundTrip, startEchoServer, startServer } from './helpers/procs.js';

/** This file's public port range. */
const RANGE = ['--min-port', '29200', '--max-port', '29299'];
const DIR = mkdtempSync(join(tmpdir(), 'bore-reload-secret-'));
after(() => rmSync(DIR, { recursive: true, force: true }));
const GOOD = 'the-right-secret-4471';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function serves(port: number): Promise<void> {
  const data = randomBytes(10_000);
  assert.deepEqual(await roundTrip(await connect(port), data), data);
}

test(
  'bore up: a reload with a wrong secret leaves the process up, waiting; the corrected file brings the tunnels back',
  { timeout: 60_000 },
  async () => {
    const server = await startServer([...RANGE, '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'], { BORE_SECRET: GOOD });
    cleanups.push(() => server.stop('SIGKILL'));
    const echo = await startEchoServer();
    cleanups.push(() => echo.close());
    const config = join(DIR, 'bore.toml');
    const write = (secret: string) =>
      writeFileSync(
        config,
        [
          'to = "127.0.0.1"',
          `control_port = ${server.controlPort}`,
          `secret = ${secret}`,
          '[tunnels.web]',
          `local_port = ${echo.port}`,
          'remote_port = 29250',
          '[tunnels.api]',
          `local_port = ${echo.port}`,
          'remote_port = 29251',
        ].join('\n'),
      );
    write(JSON.stringify(GOOD));
    const up = new BoreProcess(['up', '--config', config]);
    cleanups.push(() => up.stop('SIGKILL'));
    await up.waitFor(/all 2 tunnels listening/);
    await serves(29250);

    // The wrong secret: both tunnels restart and are refused, for good; the process stays.
    let mark = up.output.length;
    write('"a-wrong-secret"');
    up.proc.kill('SIGHUP');
    const waiting = await up.waitFor(
      /all tunnels have stopped after the reload of \S*bore\.toml \((server error: )?invalid secret\); waiting for a corrected file and SIGHUP/,
      10_000,
      mark,
    );
    assert.match(up.output.slice(mark), /invalid secret tunnel=web/);
    assert.match(up.output.slice(mark), /invalid secret tunnel=api/);
    assert.doesNotMatch(up.output, /every tunnel has given up/);
    assert.equal(up.output.split(waiting[0]).length - 1, 1, 'said once');

    // A file that does not validate changes nothing, and its secret is not shown.
    mark = up.output.length;
    write('86753091');
    up.proc.kill('SIGHUP');
    await up.waitFor(
      /reload rejected, the running tunnels stay as they were: \S*bore\.toml:3: secret must be a string in quotes, got a number/,
      10_000,
      mark,
    );
    assert.ok(!up.output.includes('86753091'), up.output);

    // The corrected file: the tunnels come back on their ports and serve.
    mark = up.output.length;
    write(JSON.stringify(GOOD));
    up.proc.kill('SIGHUP');
    await up.waitFor(/reload: 0 added, 0 removed, 2 changed, 0 unchanged/, 10_000, mark);
    await up.waitFor(/all 2 tunnels listening/, 10_000, mark);
    await serves(29250);
    await serves(29251);
    assert.equal(up.proc.exitCode, null);
    assert.equal(await up.stop('SIGTERM'), 0, up.output);
  },
);

test('bore up: every tunnel failing before any reload still exits 3', { timeout: 30_000 }, async () => {
  const server = await startServer([...RANGE, '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1'], { BORE_SECRET: GOOD });
  cleanups.push(() => server.stop('SIGKILL'));
  const config = join(DIR, 'wrong.toml');
  writeFileSync(
    config,
    ['to = "127.0.0.1"', `control_port = ${server.controlPort}`, 'secret = "wrong"', '[tunnels.web]', 'local_port = 1'].join('\n'),
  );
  const up = new BoreProcess(['up', '--config', config]);
  assert.equal(await up.exited, 3, up.output);
  assert.match(up.output, /every tunnel has given up/);
});
