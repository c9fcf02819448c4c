/**
 * The quick parse (`src/cli/quick-args.ts`, Node's `util.parseArgs`) against yargs
 * (`src/cli/cli-parser.ts`), over the same flags: every command line the quick parse
 * accepts, yargs accepts too and hands the command the same argv; whatever it is unsure
 * of (help, a malformed or unknown flag, a missing value, a value not among the choices)
 * it leaves to yargs. Command lines are generated from the commands' own flags, with
 * values and words chosen to be awkward.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { quickArgs } from '../src/cli/quick-args.js';
import { buildCli } from '../src/cli/cli-parser.js';
import type { Args } from '../src/cli/args.js';
import type { Command } from '../src/cli/commands.js';
import { type Flags, localFlags, serverFlags, upFlags } from '../src/cli/flags.js';

/** What yargs hands the command for `args`, or the message of the usage error it reports. */
async function yargsArgv(args: string[]): Promise<{ argv: Args } | { error: string }> {
  let argv: Args | undefined;
  const capture = (a: Args) => {
    argv = a;
    return Promise.resolve();
  };
  try {
    await buildCli(args, { local: capture, up: capture, server: capture }).parseAsync();
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
  assert.ok(argv, `yargs ran no command for ${JSON.stringify(args)}`);
  return { argv };
}

/** `argv` without yargs's `$0`. */
function withoutScript(argv: Args): Record<string, unknown> {
  const { $0: _script, ...rest } = argv;
  return rest;
}

const FLAGS: Record<Command, Flags> = { local: localFlags(), up: upFlags(), server: serverFlags() };

/** Values a user might give, some awkward: empty, spaces, a leading dash, an equals sign, a number yargs could take for one. */
const VALUE = fc.constantFrom(
  'x',
  '3000',
  '',
  'a b',
  '0',
  '-1',
  '1e3',
  '0x10',
  'true',
  'false',
  'host:7835',
  '=',
  'a=b',
  'é',
  ' 12 ',
  '--to',
);

/** Words that are no flag of any command, or that yargs reads its own way. */
const ODD = fc.constantFrom(
  '--',
  '-',
  '-x',
  '--unknown',
  '--To',
  '--to-',
  '-tx',
  '-t=x',
  '---to',
  '--no-',
  '--log-level=',
  '3000',
  '8080:18080',
  'a',
);

/** The words of one flag of `flags`: its long or short form, a value joined or apart, or its negation. */
function flagWords(flags: Flags): fc.Arbitrary<string[]> {
  const names = Object.keys(flags);
  return fc.tuple(fc.constantFrom(...names), VALUE, fc.nat(4)).map(([name, value, form]) => {
    const flag = flags[name]!;
    const choices = flag.choices as readonly string[] | undefined;
    const v = choices && form % 2 === 0 ? choices[form % choices.length]! : value;
    if (flag.type === 'boolean') return form === 0 ? [`--no-${name}`] : form === 1 ? [`--${name}=${v}`] : [`--${name}`];
    if (form === 0 && typeof flag.alias === 'string') return [`-${flag.alias}`, v];
    if (form === 1) return [`--${name}=${v}`];
    if (form === 2) return [`--${name}`];
    return [`--${name}`, v];
  });
}

/** Command lines for `command`: mostly its flags, some positionals (mappings for `bore local`), now and then an odd word. */
function commandLines(command: Command): fc.Arbitrary<string[]> {
  const word = fc.oneof(
    { weight: 6, arbitrary: flagWords(FLAGS[command]) },
    { weight: 2, arbitrary: fc.constantFrom(['3000'], ['8080:18080'], ['22']) },
    { weight: 1, arbitrary: ODD.map((w) => [w]) },
  );
  return fc.array(word, { maxLength: 6 }).map((words) => [command, ...words.flat()]);
}

for (const command of ['local', 'up', 'server'] as const) {
  test(`bore ${command}: every command line the quick parse accepts, yargs reads the same`, async () => {
    let accepted = 0;
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(commandLines(command), async (args) => {
        runs++;
        const quick = quickArgs(args);
        if (quick === undefined) return;
        accepted++;
        assert.equal(quick.command, command);
        const slow = await yargsArgv(args);
        assert.ok('argv' in slow, `yargs refused what the quick parse took: ${JSON.stringify(args)}: ${'error' in slow ? slow.error : ''}`);
        assert.deepStrictEqual(withoutScript(quick.argv), withoutScript(slow.argv), JSON.stringify(args));
      }),
      { numRuns: 400 },
    );
    // The property holds trivially for a parse that accepts nothing: most lines are plain.
    assert.ok(accepted > runs / 5, `the quick parse took ${accepted} of ${runs} command lines`);
  });
}

test('the quick parse takes the everyday command lines', () => {
  for (const args of [
    ['server'],
    ['server', '--secret-file', '/etc/bore/secret', '--bind-addr', '127.0.0.1', '--min-port', '20000'],
    ['server', '--log-format', 'json', '--tls-self-signed'],
    ['local', '3000', '--to', 'bore.example.com'],
    ['local', '3000', '8080:18080', '-t', 'example.com', '-p', '0', '--log-level', 'debug'],
    ['local', '3000', '--to=example.com', '--inspect=0'],
    ['up', '-c', 'bore.toml', '--check'],
    ['up'],
  ]) {
    assert.ok(quickArgs(args), JSON.stringify(args));
  }
});

test('the quick parse leaves to yargs what yargs reports or reads its own way', async () => {
  for (const args of [
    [],
    ['serve'],
    ['server', '--help'],
    ['local', '-h'],
    ['server', '-V'],
    ['server', '--version'],
    ['server', 'extra'],
    ['local', '3000', '--to'],
    ['local', '3000', '--to', '-x'],
    ['server', '--log-level', 'loud'],
    ['server', '--no-such-flag'],
    ['local', '3000', '--', '4000'],
    ['local', '3000', '-tx'],
    ['local', '3000', '--To', 'x'],
    ['local', '3000', '--localHost', 'x'],
    ['up', '--check=yes'],
  ]) {
    assert.equal(quickArgs(args), undefined, JSON.stringify(args));
  }
  // And yargs still says what is wrong.
  const missing = await yargsArgv(['local', '3000', '--to']);
  assert.ok('error' in missing && /missing value for --to/.test(missing.error), JSON.stringify(missing));
  const choice = await yargsArgv(['server', '--log-level', 'loud']);
  assert.ok('error' in choice && /invalid value for --log-level: 'loud'/.test(choice.error), JSON.stringify(choice));
});
