/**
 * `bore up`'s config file: bad files are usage errors (status 2) from the real CLI,
 * naming the file, the line and the key; the example file parses; `lineOf` finds keys.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lineOf, loadConfig } from '../src/cli/config.js';
import { BoreProcess } from './helpers/procs.js';

const DIR = mkdtempSync(join(tmpdir(), 'bore-config-'));
after(() => rmSync(DIR, { recursive: true, force: true }));

/** Writes `text` to a file of its own; returns its path. */
function file(name: string, text: string): string {
  const path = join(DIR, name);
  writeFileSync(path, text);
  return path;
}

/** Runs `bore up --config path`; asserts a usage error and returns its lines before the hint. */
async function rejected(path: string, env: Record<string, string> = {}): Promise<string[]> {
  const p = new BoreProcess(['up', '--config', path], env);
  const code = await p.exited;
  assert.equal(code, 2, p.output);
  assert.doesNotMatch(p.output, /\n\s+at /, p.output);
  return p.output.split('\n\n')[0]!.split('\n');
}

test('bad config files: file, line and key in every message, status 2', { timeout: 60_000 }, async () => {
  const range = file(
    'range.toml',
    ['to = "127.0.0.1"', '', '[tunnels.web]', 'local_port = 3000', '', '[tunnels.api]', 'local_port = 70000', 'remote_port = -1'].join(
      '\n',
    ),
  );
  assert.deepEqual(await rejected(range), [
    `error: ${range}:7: tunnels.api.local_port must be 1-65535, got 70000`,
    `${range}:8: tunnels.api.remote_port must be 0-65535, got -1`,
  ]);

  // valibot reports the first unknown key of each table.
  const unknown = file(
    'unknown.toml',
    [
      'to = "127.0.0.1"',
      'secrt = "x"',
      '[tunnels.web]',
      'local_port = 3000',
      'lcoal_host = "x"',
      '[tunnels.b]',
      'local_port = 1',
      'colour = 1',
    ].join('\n'),
  );
  const lines = await rejected(unknown);
  assert.deepEqual(lines.slice(0, 2), [
    `error: ${unknown}:2: unknown key secrt (did you mean secret?)`,
    `${unknown}:5: unknown key tunnels.web.lcoal_host (did you mean tunnels.web.local_host?)`,
  ]);
  assert.match(lines[2]!, /:8: unknown key tunnels\.b\.colour \(known: to, control_port, .*local_port, remote_port\)$/);

  const dup = file('dup.toml', ['to = "127.0.0.1"', '[tunnels.web]', 'local_port = 1', '', '[tunnels.web]', 'local_port = 2'].join('\n'));
  assert.deepEqual(await rejected(dup), [`error: ${dup}:5: duplicate tunnel name web ([tunnels.web] is defined twice)`]);

  const samePort = file(
    'same-port.toml',
    [
      'to = "127.0.0.1"',
      '[tunnels.a]',
      'local_port = 1',
      'remote_port = 18080',
      '[tunnels.b]',
      'local_port = 2',
      'remote_port = 18080',
    ].join('\n'),
  );
  assert.deepEqual(await rejected(samePort), [
    `error: ${samePort}:7: tunnels.b.remote_port 18080 is also the remote_port of tunnels.a on the same server`,
  ]);

  const missing = join(DIR, 'nope.toml');
  assert.deepEqual(await rejected(missing), [
    `error: cannot read config file ${missing} (ENOENT): write one (see examples/bore.toml) or give its path with --config`,
  ]);

  const syntax = file('syntax.toml', ['to = "127.0.0.1"', '[tunnels.web', 'local_port = 1'].join('\n'));
  assert.match((await rejected(syntax))[0]!, new RegExp(`^error: ${syntax}:2: invalid TOML: `));

  const other = file(
    'other.toml',
    [
      'to = "h:7835"',
      'heartbeat_timeout = 0',
      'secret = "a"',
      'secret_file = "s"',
      '[tunnels.web]',
      'remote_port = 1',
      '[tunnels.x]',
      'local_port = "3000"',
    ].join('\n'),
  );
  assert.deepEqual(await rejected(other), [
    `error: ${other}:1: to must be the server's host without a port (the port goes in control_port)`,
    `${other}:2: heartbeat_timeout must be a number of seconds above 0, got 0`,
    // Across keys, with the schema's errors (before: only once those were fixed).
    `${other}:4: secret_file and secret given together: use one of them`,
    `${other}:5: tunnels.web.local_port is required`,
    `${other}:8: tunnels.x.local_port must be a port number (1-65535), got "3000"`,
  ]);

  // BORE_CONFIG names the file when --config is not given; the default is ./bore.toml.
  const p = new BoreProcess(['up'], { BORE_CONFIG: dup });
  assert.equal(await p.exited, 2);
  assert.match(p.output, /dup\.toml:5: duplicate tunnel name web/);
});

test('schema errors and errors across keys are reported together, in the order of the file', { timeout: 30_000 }, async () => {
  const both = file(
    'both.toml',
    ['[tunnels.a]', 'local_port = 3000', 'remote_port = 9000', '[tunnels.b]', 'local_port = 70000', 'remote_port = 9000'].join('\n'),
  );
  // Before: only the schema's error (local_port), the missing server and the clash came after it was fixed.
  assert.deepEqual(await rejected(both, { BORE_CONFIG: '' }), [
    `error: ${both}:1: tunnels.a has no server: set to at the top of the file or in the tunnel`,
    `${both}:4: tunnels.b has no server: set to at the top of the file or in the tunnel`,
    `${both}:5: tunnels.b.local_port must be 1-65535, got 70000`,
    `${both}:6: tunnels.b.remote_port 9000 is also the remote_port of tunnels.a on the same server`,
  ]);
});

test(
  'bore up --check validates and exits; a duration over an hour is a warning; --example prints a valid file',
  { timeout: 30_000 },
  async () => {
    const ms = file('ms.toml', ['to = "127.0.0.1"', 'heartbeat_timeout = 8000', '[tunnels.web]', 'local_port = 3000'].join('\n'));
    const check = new BoreProcess(['up', '--check', '--config', ms]);
    assert.equal(await check.exited, 0, check.output);
    assert.match(check.output, new RegExp(`^${ms}: 1 tunnel \\(web\\): valid$`, 'm'), check.output);
    assert.match(
      check.output,
      new RegExp(`warning: ${ms}:2: heartbeat_timeout = 8000 is 2 h 13 min \\(durations are seconds\\): did you mean 8\\?`),
      check.output,
    );
    const bad = new BoreProcess(['up', '--check', '--config', file('bad.toml', 'to = 1')]);
    assert.equal(await bad.exited, 2, bad.output);
    const example = new BoreProcess(['up', '--example']);
    assert.equal(await example.exited, 0, example.output);
    const written = file('example.toml', example.output);
    const recheck = new BoreProcess(['up', '--check', '--config', written]);
    assert.equal(await recheck.exited, 0, recheck.output);
    assert.match(recheck.output, /3 tunnels \(web, api, db\): valid/, recheck.output);
  },
);

test('the example file is valid', () => {
  const options = loadConfig(fileURLToPath(new URL('../examples/bore.toml', import.meta.url)));
  assert.deepEqual(Object.keys(options.tunnels), ['web', 'api', 'db']);
  assert.equal(options.heartbeatTimeoutMs, 8000, 'seconds in the file, milliseconds in the library');
  assert.deepEqual(options.tunnels.web, { localPort: 3000, port: 18080 });
});

test('lineOf: keys, dotted keys, tables and inline tables', () => {
  const source = [
    'a = 1',
    '[tunnels.web]',
    'local_port = 1',
    '',
    '[tunnels]',
    'api.local_port = 2',
    'db = { local_port = 3 }',
    "[tunnels.'q']",
  ].join('\n');
  assert.equal(lineOf(source, ['a']), 1);
  assert.equal(lineOf(source, ['tunnels', 'web', 'local_port']), 3);
  assert.equal(lineOf(source, ['tunnels', 'web', 'remote_port']), 2, 'absent: its table');
  assert.equal(lineOf(source, ['tunnels', 'api', 'local_port']), 6);
  assert.equal(lineOf(source, ['tunnels', 'db', 'local_port']), 7, 'inside an inline table: its line');
  assert.equal(lineOf(source, ['tunnels', 'q']), 8);
  assert.equal(lineOf(source, ['nothing']), 1);
});
