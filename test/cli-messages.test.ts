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
