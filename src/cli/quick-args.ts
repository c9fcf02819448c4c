/**
 * The run path's parse: `bore server ...`, `bore local 3000 --to host ...` and
 * `bore up ...` read by Node's `util.parseArgs` over the flags yargs declares
 * (`flags.ts`), into the argv yargs would hand the command. yargs costs some 40 ms and
 * 4 MB of a bare listener's start (bench/README.md), more than the CLI's own code.
 *
 * It never reports an error: anything out of the ordinary (help, version, an unknown,
 * grouped (`-tx`) or malformed flag, a flag without its value, a value that begins with
 * `-`, a value not among the choices, `--`) is left to yargs (`cli-parser.ts`), which
 * says what is wrong in bore's words. `test/quick-args.test.ts` holds the two parsers to
 * the same argv.
 */
import type { ParseArgsConfig } from 'node:util';
import { nodeUtil } from '../protocol/on-demand.js';
import type { Args } from './args.js';
import { type Command, isCommand } from './commands.js';
import { type Flags, LOCAL_PORT_POSITIONAL, localFlags, serverFlags, upFlags } from './flags.js';

/** Each command's flags. */
const FLAGS_OF: Readonly<Record<Command, () => Flags>> = { local: localFlags, up: upFlags, server: serverFlags };

/**
 * A word read the same by both parsers: a long flag in lower case (`--to`, `--to=host`),
 * a one-letter flag alone (`-t`), or a word that does not begin with `-`.
 */
const PLAIN = /^(?:--[a-z][a-z0-9]*(?:-[a-z0-9]+)*(?:=[\s\S]*)?|-[a-zA-Z]|[^-][\s\S]*)$/;

/** `local-port` as yargs also names it: `localPort`. */
function camelCase(name: string): string {
  return name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `words` with each flag that may go without its value (`--tls-self-signed`, `--inspect`,
 * a port) given none made `--flag=`, the empty value yargs gives it: when it is the last
 * word or the next is a flag. (Followed by a word, both parsers take the word as its value.)
 */
function withEmptyValues(words: readonly string[], flags: Flags): string[] {
  return words.map((word, i) => {
    const flag = word.startsWith('--') ? flags[word.slice(2)] : undefined;
    const optional = flag !== undefined && flag.type === 'string' && flag.requiresArg !== true;
    const next = words[i + 1];
    return optional && (next === undefined || next.startsWith('-')) ? `${word}=` : word;
  });
}

/** A parsed command line: the command and its argv as yargs gives it (for `bore local`, each flag's last value). */
export interface QuickParse {
  readonly command: Command;
  readonly argv: Args;
}

/** `args` (the words after `bore`) parsed without yargs, or `undefined` to leave them to it. */
export function quickArgs(args: readonly string[]): QuickParse | undefined {
  const [command, ...rest] = args;
  if (!isCommand(command) || !rest.every((word) => PLAIN.test(word))) return undefined;
  const flags = FLAGS_OF[command]();
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, flag] of Object.entries(flags)) {
    options[name] = {
      type: flag.type === 'boolean' ? 'boolean' : 'string',
      ...(typeof flag.alias === 'string' ? { short: flag.alias } : {}),
    };
  }
  let parsed: { values: Record<string, unknown>; positionals: string[]; tokens?: { kind: string; name?: string; value?: unknown }[] };
  try {
    parsed = nodeUtil().parseArgs({
      args: withEmptyValues(rest, flags),
      options,
      strict: true,
      allowPositionals: command === 'local',
      allowNegative: true,
      tokens: true,
    });
  } catch {
    return undefined;
  }
  const argv: Record<string, unknown> = { _: [], $0: `bore ${command}` };
  const set = (name: string, value: unknown, alias?: unknown) => {
    argv[name] = value;
    argv[camelCase(name)] = value;
    if (typeof alias === 'string') argv[alias] = value;
  };
  // Each value of a flag with choices is checked, not only the last: yargs checks them all.
  for (const token of parsed.tokens ?? []) {
    const choices = token.kind === 'option' ? (flags[token.name ?? '']?.choices as readonly unknown[] | undefined) : undefined;
    if (choices !== undefined && !choices.includes(token.value)) return undefined;
  }
  for (const [name, flag] of Object.entries(flags)) {
    const value: unknown = parsed.values[name] ?? flag.default;
    if (value !== undefined) set(name, value, flag.alias);
  }
  if (command === 'local' && parsed.positionals.length > 0) set(LOCAL_PORT_POSITIONAL.name, parsed.positionals);
  return { command, argv };
}
