/**
 * `npm start` (scripts/start.ts): the demo server and client on one machine, on the
 * control port BORE_CONTROL_PORT names (before: the server took it, the client and the
 * wait used 7835 and waited forever).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { freePort } from './helpers/held-sink.js';

const START = fileURLToPath(new URL('../scripts/start.ts', import.meta.url));

test('npm start uses BORE_CONTROL_PORT for the server, the wait and the client', { timeout: 30_000 }, async () => {
  const port = await freePort();
  const proc = spawn(process.execPath, ['--import', 'tsx', START], {
    env: { ...process.env, BORE_CONTROL_PORT: String(port), BORE_LOG_FORMAT: 'human' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const listening = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/listening at 127\.0\.0\.1:\d+/.test(output)) resolve();
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
  });
  const exited = once(proc, 'exit');
  try {
    await Promise.race([listening, exited.then(() => assert.fail(`npm start exited:\n${output}`))]);
    assert.match(output, new RegExp(`server listening addr=127\\.0\\.0\\.1 port=${port}`), output);
  } finally {
    // The whole group, as a terminal's Ctrl-C would.
    process.kill(-proc.pid!, 'SIGINT');
    await exited;
  }
});
