/**
 * The command line's messages for a mistake, from the real CLI as a child process:
 * "Did you mean" for a mistyped flag or command, a bad value named by where it came
 * from (flag or environment variable) and shown as typed, and the hint for `--to
 * host:port`. Every one is a usage error: exit code 2, no stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { didYouMean, editDistance } from '../src/cli/suggest.js';
import { BoreProcess } from './helpers/procs.js';

/** Runs the CLI to completion; resolves with its exit code and output. */
async function run(args: string[], env: Record<string, string> = {}) {
  const p = new BoreProcess(args, env);
  const code = await p.exited;
  return { code, output: p.output };
}

/** Asserts that `bore args` is a usage error whose first line is `error: <first>`. */
async function usageError(args: string[], first: string, env: Record<string, string> = {}) {
  const r = await run(args, env);
  assert.equal(r.code, 2, `bore ${args.join(' ')}: ${r.output}`);
  assert.equal(r.output.split('\n')[0], `error: ${first}`, r.output);
  assert.doesNotMatch(r.output, /\n\s+at /, r.output);
  return r.output;
}

test('edit distance and suggestions', () => {
  assert.equal(editDistance('too', 'to'), 1);
  assert.equal(editDistance('lcoal', 'local'), 1, 'a swap of adjacent letters is one edit');
  assert.equal(editDistance('', 'abc'), 3);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.equal(didYouMean('too', ['port', 'to', 'secret']), 'to');
  assert.equal(didYouMean('lcoal', ['local', 'server']), 'local');
  assert.equal(didYouMean('contrl-port', ['control-port', 'port']), 'control-port');
  assert.equal(didYouMean('xyz', ['local', 'server']), undefined, 'nothing close');
  assert.equal(didYouMean('z', ['to']), undefined, 'one letter: no guess');
  assert.equal(didYouMean('to', ['to']), undefined, 'a known name is no typo');
  assert.equal(didYouMean('heartbeat', ['port', 'heartbeat-timeout']), 'heartbeat-timeout', 'a prefix of a flag');
  assert.equal(didYouMean('he', ['heartbeat-timeout']), undefined, 'two letters are no prefix worth a guess');
  assert.equal(didYouMean('no-retry', ['retry-first', 'no-retry-first', 'no-reconnect']), 'no-reconnect', "other tools' word");
});

test("yargs's wording never reaches the user: each mistake names the flag, the value and the fix", { timeout: 60_000 }, async () => {
  // A first argument that is no command is the only error: not the flags that follow.
  await usageError(['lcoal', '3000', '--to', 'x'], 'unknown command lcoal. Did you mean local?');
  const lcoal = await run(['lcoal', '3000', '--to', 'x']);
  assert.doesNotMatch(lcoal.output, /unknown option|unexpected argument/, lcoal.output);
  await usageError(
    ['local', 'abc', '--to', 'x'],
    "invalid value for <LOCAL_PORT>: 'abc' (expected the local service's port, 1-65535, as a decimal number, e.g. `bore local 3000 --to bore.example.com`)",
  );
  await usageError(
    ['local', '0x50', '--to', 'x'],
    "invalid value for <LOCAL_PORT>: '0x50' (expected the local service's port, 1-65535, as a decimal number, e.g. `bore local 3000 --to bore.example.com`)",
  );
  await usageError(['local', '3000', '--to', 'x', '--no-retry'], 'unknown option --no-retry. Did you mean --no-reconnect?');
  await usageError(['local', '3000', '--to', 'x', '--heartbeat', '3'], 'unknown option --heartbeat. Did you mean --heartbeat-timeout?');
  await usageError(['local', '3000', '--to'], 'missing value for --to: give it as `--to <HOST>`');
  await usageError(
    ['local', '3000', '--to', 'x', '--heartbeat-timeout'],
    'missing value for --heartbeat-timeout: give it as `--heartbeat-timeout <SECONDS>`',
  );
  await usageError(
    ['local', '3000', '--to', 'x', '--log-format', 'xml'],
    "invalid value for --log-format: 'xml' (expected one of: human, json)",
  );
  await usageError(['local', '3000', '--to', 'x', '-l', ''], "--local-host must be a host name or address, got ''");
  await usageError(
    ['server', '--bind-addr', '999.1.1.1'],
    "invalid value for --bind-addr: '999.1.1.1' (expected an IP address of this machine, e.g. 0.0.0.0, :: or 127.0.0.1)",
  );
  await usageError(
    ['local', '--to', 'x', '--inspect', '44000'],
    "missing <LOCAL_PORT>: the port of the local service, e.g. `bore local 3000 --to bore.example.com` (--inspect took '44000' as its port: write --inspect=PORT, or put LOCAL_PORT first)",
  );
});

test(
  '--help shows each flag with the placeholder of its value, its default and its variable, and no type tags',
  { timeout: 30_000 },
  async () => {
    for (const command of ['local', 'server', 'up']) {
      const r = await run([command, '--help']);
      assert.equal(r.code, 0, r.output);
      assert.doesNotMatch(r.output, /\[string\]|\[boolean\]/, r.output);
      for (const line of r.output.split('\n')) assert.ok(line.length <= 100, `wider than 100 columns: ${line}`);
    }
    const local = (await run(['local', '--help'])).output;
    assert.match(local, /^ {2}-t, --to <HOST> +Address of the bore server \[env: BORE_SERVER\]/m, local);
    assert.match(local, /^ {6}--heartbeat-timeout <SECONDS> +Seconds without a message/m, local);
    assert.match(local, /^ {6}--tls-fingerprint <sha256:HEX> /m, local);
    assert.match(local, /^ {6}--retry-first +Keep retrying/m, local);
    assert.match(local, /\[default: 8\]/, local);
    const server = (await run(['server', '--help'])).output;
    assert.match(server, /^ {6}--max-pending <N> /m, server);
    assert.match(server, /^ {6}--metrics <ADDR:PORT> /m, server);
    assert.match(server, /^ {6}--tls-self-signed \[=DIR\] /m, server);
    assert.match(server, /^ {6}--tls-acme <HOST> /m, server);
    assert.match(server, /^ {6}--acme-directory <URL> /m, server);
  },
);

test("bore help <command> prints that command's help, as clap does", { timeout: 30_000 }, async () => {
  const help = await run(['help', 'local']);
  const direct = await run(['local', '--help']);
  assert.equal(help.code, 0, help.output);
  assert.equal(help.output, direct.output);
  assert.match(help.output, /--heartbeat-timeout/);
  const top = await run(['help']);
  assert.equal(top.code, 0, top.output);
  assert.match(top.output, /bore local/);
});

test('a mistyped flag or command: did you mean', { timeout: 30_000 }, async () => {
  await usageError(['local', '3000', '--too', 'x'], 'unknown option --too. Did you mean --to?');
  await usageError(['lcoal'], 'unknown command lcoal. Did you mean local?');
  await usageError(['sever'], 'unknown command sever. Did you mean server?');
  await usageError(['server', '--max-pendng', '3'], 'unknown option --max-pendng. Did you mean --max-pending?');
  await usageError(['local', '3000', '--to', 'x', '--secert=s'], 'unknown option --secert. Did you mean --secret?');
  // Nothing close: the name alone, each unknown one once, as typed.
  const out = await usageError(['local', '3000', '--to', 'x', '--bogus-flag', '1', '-z'], 'unknown option --bogus-flag');
  assert.match(out, /^unknown option -z$/m, out);
  assert.doesNotMatch(out, /bogusFlag/, out);
  await usageError(['frobnicate'], 'unknown command frobnicate: use `bore local`, `bore up` or `bore server` (see `bore --help`)');
  await usageError(['local', '3000', '--to', 'x', 'extra'], "unexpected argument 'extra'");
});

test('a bad value is shown as typed and named by where it came from', { timeout: 30_000 }, async () => {
  await usageError(['local', '3000', '--to', 'x'], "invalid value for BORE_PORT: 'abc' (expected a port number, 0-65535)", {
    BORE_PORT: 'abc',
  });
  await usageError(['local', '3000', '--to', 'x', '--port', 'abc'], "invalid value for --port: 'abc' (expected a port number, 0-65535)", {
    BORE_PORT: '1',
  });
  await usageError(['local'], "invalid value for BORE_LOCAL_PORT: '70000' (expected a port number, 1-65535)", {
    BORE_LOCAL_PORT: '70000',
    BORE_SERVER: 'x',
  });
  await usageError(['server'], "invalid value for BORE_CONTROL_PORT: 'x' (expected a port number, 0-65535)", { BORE_CONTROL_PORT: 'x' });
  await usageError(['server'], "invalid value for BORE_MIN_PORT: '1e9' (expected a port number, 1-65535)", { BORE_MIN_PORT: '1e9' });
  await usageError(
    ['local', '3000', '--to', 'x', '--heartbeat-timeout', 'abc'],
    "invalid value for --heartbeat-timeout: 'abc' (expected a number of seconds above 0)",
  );
  await usageError(['server', '--max-pending', 'lots'], "invalid value for --max-pending: 'lots' (expected a whole number of at least 1)");
  await usageError(
    ['server', '--client-timeout', '1s'],
    "invalid value for --client-timeout: '1s' (expected a number of seconds of at least 2)",
  );
});

test('--to host:port: the port goes in --control-port', { timeout: 30_000 }, async () => {
  await usageError(
    ['local', '3000', '--to', 'bore.example.com:7835'],
    "invalid value for --to: 'bore.example.com:7835' (the server's host without a port: use `--to bore.example.com --control-port 7835`)",
  );
  await usageError(
    ['local', '3000', '--to', '[::1]:9000'],
    "invalid value for --to: '[::1]:9000' (the server's host without a port: use `--to [::1] --control-port 9000`)",
  );
  await usageError(
    ['local', '3000'],
    "invalid value for BORE_SERVER: 'h:1' (the server's host without a port: set BORE_SERVER=h and BORE_CONTROL_PORT=1)",
    { BORE_SERVER: 'h:1' },
  );
});
