/**
 * Tunnels refused for the server's per-address cap retry forever; their lines are
 * rate-limited across the tunnels of one process (real processes, loopback): 30
 * mappings against `--max-tunnels-per-addr 2` write at most the burst of warnings, with
 * their follow-up lines, until the summary that counts the rest.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoreProcess, startEchoServer, startServer } from './helpers/procs.js';

/** This file's public port range. */
const RANGE = ['--min-port', '29300', '--max-port', '29399'];
const TUNNELS = 30;
/** Lines the client may write before the first summary: 2 listening, and per shown retry a warning, `reconnecting in` and `connecting to`. */
const BOUND = 2 + 3 * 10 + 5;

test(
  `${TUNNELS} tunnels, ${TUNNELS - 2} refused for the per-address cap: their retries write a bounded number of lines, then a summary`,
  { timeout: 60_000 },
  async (t) => {
    const server = await startServer([...RANGE, '--bind-addr', '127.0.0.1', '--bind-tunnels', '127.0.0.1', '--max-tunnels-per-addr', '2']);
    t.after(() => server.stop('SIGKILL'));
    const echo = await startEchoServer();
    t.after(() => echo.close());
    const mappings = Array.from({ length: TUNNELS }, (_, i) => `${echo.port}:${29300 + i}`);
    const client = new BoreProcess([
      'local',
      ...mappings,
      '--to',
      '127.0.0.1',
      '--control-port',
      String(server.controlPort),
      '--local-host',
      '127.0.0.1',
      '--retry-first',
    ]);
    t.after(() => client.stop('SIGKILL'));

    // Whichever comes first: the summary of the first window, or more lines than the bound.
    const summary = /connection failed: server error: too many tunnels from this address … ([\d,]+) more like this in the last 10 s/;
    const tooMany = new RegExp(`(?:[^\\n]*\\n){${BOUND + 1}}`);
    await Promise.race([client.waitFor(summary, 30_000), client.waitFor(tooMany, 30_000)]);
    const upTo = client.output.match(summary);
    const before = client.output.slice(0, upTo?.index ?? client.output.length);
    const lines = before.split('\n').filter(Boolean);
    assert.ok(upTo, `no summary before ${lines.length} lines:\n${before}`);
    assert.ok(lines.length <= BOUND, `${lines.length} lines before the summary:\n${before}`);
    const warnings = lines.filter((l) => /WARN {2}connection failed: server error: too many tunnels/.test(l));
    assert.equal(warnings.length, 10, `the burst of warnings in full:\n${before}`);
    assert.ok(Number(upTo[1]!.replace(/,/g, '')) > 0);
    assert.equal(lines.filter((l) => /listening at/.test(l)).length, 2, before);
    assert.ok(lines.length > 0 && client.proc.exitCode === null, 'the tunnels keep retrying');
  },
);
