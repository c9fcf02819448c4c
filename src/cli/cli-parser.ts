/**
 * The yargs side of the command line: `--help`, every usage error in bore's words
 * (an unknown flag or command with the closest one, a missing value, a value not among
 * the choices) and any call the quick parse (`quick-args.ts`) leaves to it. Loaded by
 * `cli.ts` only then: a plain `bore server` or `bore local 3000 --to host` never loads
 * yargs (some 40 ms and 4 MB of a bare listener's start, see bench/README.md).
 */
import yargs, { type Argv } from 'yargs';
import { didYouMean } from './suggest.js';
import { placeholderOf } from './placeholders.js';
import { asksForHelp, widening, withPlaceholders } from './help.js';
import { UsageError, lastOfEachFlag } from './args.js';
import {
  LOCAL_DESCRIBE,
  LOCAL_USAGE,
  SERVER_DESCRIBE,
  SERVER_USAGE,
  UP_DESCRIBE,
  UP_USAGE,
  type Flags,
  LOCAL_PORT_POSITIONAL,
  localFlags,
  localOptions,
  serverFlags,
  serverOptions,
  upFlags,
  upOptions,
} from './flags.js';
import { COMMANDS, type CommandHandlers, isCommand } from './commands.js';
import { packageVersion } from './package-files.js';

/** The package's version, for `--version`. */
const version = packageVersion();

/**
 * yargs's "Unknown argument(s): too, z" rewritten to name each one as it was typed,
 * with a suggestion where one is close: `unknown option --too. Did you mean --to?`,
 * `unknown command lcoal. Did you mean local?`. `args` are the parser's arguments;
 * `options` lists the parser's options (called only when there is an error to report).
 */
function unknownArguments(msg: string, args: string[], options: () => string[]): string {
  const m = /^Unknown arguments?: (.+)$/.exec(msg);
  if (!m) return msg;
  const names = m[1]!.split(', ');
  const longOptions = () => options().filter((o) => o.length > 1);
  return (
    names
      // yargs adds the camelCase twin of a dashed name (too-much, tooMuch): report the one typed.
      .filter((name) => !names.some((other) => other !== name && other.replace(/-(\w)/g, (_, c: string) => c.toUpperCase()) === name))
      .map((name) => {
        // yargs reads --no-X as X = false: `--no-retry` reaches here as `retry`.
        const forms = [`--${name}`, `-${name}`, `--no-${name}`];
        const typed = args.find((a) => forms.some((f) => a === f || a.startsWith(`${f}=`)));
        if (typed !== undefined) {
          const flag = /^(--no-|--|-)/.exec(typed)![0] + name;
          const word = flag.replace(/^--?/, '');
          const long = longOptions();
          const near = flag.startsWith('--') ? didYouMean(word, [...long, ...long.map((o) => `no-${o}`)]) : undefined;
          return `unknown option ${flag}${near ? `. Did you mean --${near}?` : ''}`;
        }
        return `unexpected argument '${name}'`;
      })
      .join('\n')
  );
}

/** The command line's other yargs messages in bore's words: a flag without its value, a value not among the choices. */
function yargsMessage(msg: string, placeholder: (flag: string) => string): string {
  const missing = /^Not enough arguments following: (.+)$/.exec(msg);
  if (missing) {
    const flag = missing[1]!.length === 1 ? `-${missing[1]}` : `--${missing[1]}`;
    return `missing value for ${flag}: give it as \`${flag} ${placeholder(missing[1]!)}\``;
  }
  const invalid = /^Invalid values:\s+Argument: (.+), Given: (.+), Choices: (.+)$/.exec(msg.replace(/\n/g, ' '));
  if (invalid) {
    const unquote = (text: string) => text.replace(/^"(.*)"$/, '$1');
    const choices = invalid[3]!.split(', ').map(unquote);
    return `invalid value for --${invalid[1]}: '${unquote(invalid[2]!)}' (expected one of: ${choices.join(', ')})`;
  }
  return msg;
}

/** A first argument that is no command: the usage error that names it (and only it), with the closest command. */
function unknownCommand(name: string): UsageError {
  const near = didYouMean(name, COMMANDS);
  return new UsageError(
    `unknown command ${name}${near ? `. Did you mean ${near}?` : ': use `bore local`, `bore up` or `bore server` (see `bore --help`)'}`,
  );
}

/**
 * The long option names of a parser, for the suggestion of an unknown one: yargs's own
 * (`help`, `version`), the positional's and the command's `flags` (read from their data,
 * not from a parser built to list them).
 */
function optionNames(flags: Flags = {}, positional?: string): () => string[] {
  return () => ['help', 'version', ...(positional === undefined ? [] : [positional]), ...Object.keys(flags)];
}

/** The width `--help` is wrapped to: the terminal's, at most 100 columns. */
function helpWidth(): number {
  return Math.min(100, process.stdout.columns || 100);
}

/** What every parser shares: strict flags, --help/--version, usage errors thrown as {@link UsageError}. */
function common<T>(y: Argv<T>, args: string[], options: () => string[], duplicatesAsArray = false) {
  return y
    .parserConfiguration({ 'duplicate-arguments-array': duplicatesAsArray })
    .strict()
    .version(version)
    .help()
    .alias('h', 'help')
    .alias('V', 'version')
    .wrap(helpWidth())
    .fail((msg, err) => {
      // yargs reports its own validation failures (e.g. a flag without its value) as a
      // YError: those are usage errors too. Anything else came from a command's handler.
      if (err && err.name !== 'YError') throw err;
      const text = msg ?? err?.message ?? 'invalid arguments';
      throw new UsageError(yargsMessage(unknownArguments(text, args, options), placeholderOf));
    });
}

/**
 * Builds the parser, whose commands call `run`'s handlers; exported for tests of the usage text.
 *
 * `bore local ...` and `bore server ...` get a parser of their own in which the command
 * is the default one: yargs renders and caches a command's whole help text right after
 * starting its handler (not for a default command), and that rendering (string widths of
 * every word) made V8 optimize it, which kept about 4 MB more resident for the life of a
 * tunnel or server (see bench/README.md).
 */
export function buildCli(args: string[], run: CommandHandlers) {
  const [command, ...rest] = args;
  // The first word decides: a mistyped command is the only error reported.
  if (command !== undefined && !command.startsWith('-') && !isCommand(command)) throw unknownCommand(command);
  if (command === 'local') {
    // yargs keeps only the last value of a variadic positional unless repeated arguments
    // make arrays: they do here, and a flag given twice is reduced to its last value.
    return common(
      yargs(rest).scriptName('bore local').usage(LOCAL_USAGE),
      rest,
      optionNames(localFlags(), LOCAL_PORT_POSITIONAL.name),
      true,
    ).command('$0 [local-port..]', false, localOptions, (argv) => run.local(lastOfEachFlag(argv)));
  }
  if (command === 'up') {
    return common(yargs(rest).scriptName('bore up').usage(UP_USAGE), rest, optionNames(upFlags())).command('$0', false, upOptions, (argv) =>
      run.up(argv),
    );
  }
  if (command === 'server') {
    return common(yargs(rest).scriptName('bore server').usage(SERVER_USAGE), rest, optionNames(serverFlags())).command(
      '$0',
      false,
      serverOptions,
      (argv) => run.server(argv),
    );
  }
  return common(
    yargs(args)
      .scriptName('bore')
      .usage(
        '$0 <command> [options]\n\nA TCP tunnel that exposes a local port through a remote server (wire-compatible with the Rust bore).',
      )
      .command('local [local-port..]', LOCAL_DESCRIBE)
      .command('up', UP_DESCRIBE)
      .command('server', SERVER_DESCRIBE)
      .demandCommand(1, 'missing command: use `bore local`, `bore up` or `bore server` (see `bore --help`)'),
    args,
    optionNames(),
  );
}

/**
 * Parses `args` with yargs and runs the command through `run`, or prints the help it
 * asks for. Usage errors are thrown as {@link UsageError}.
 */
export async function parseAndRun(args: string[], run: CommandHandlers): Promise<void> {
  if (asksForHelp(args)) {
    // Rendered twice when the placeholders widen the flag column, so the text still fits the width.
    const text = await buildCli(args, run).getHelp();
    const extra = widening(text, placeholderOf);
    const fitted =
      extra > 0
        ? await buildCli(args, run)
            .wrap(helpWidth() - extra)
            .getHelp()
        : text;
    process.stdout.write(`${withPlaceholders(fitted, placeholderOf)}\n`);
    return;
  }
  await buildCli(args, run).parseAsync();
}
