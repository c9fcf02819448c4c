/**
 * Reading the parsed command line: each flag's value (or its environment variable's)
 * checked and converted, with usage errors that say how to fix the call. The options
 * of the tables (`src/options/table.ts`) are read by {@link fromTable}, which takes the
 * check of each from its rule's range.
 */
import { type Range } from '../options/rules.js';
import type { OptionSpec } from '../options/table.js';
import { SecretFileError, readSecrets } from '../system/secret-file.js';

/** The parsed command line, as yargs hands it over: every value is checked before use. */
export type Args = Readonly<Record<string, unknown>>;

/** A mistake in the call: exits with status 2 and says how to fix it. */
export class UsageError extends Error {}

/**
 * Runs `start` (a library call given options the flags were checked into), turning the
 * library's own option errors (`OPTION_ERROR` of `options/rules.ts`, not imported into
 * the help's path by name) into usage errors: the few values the flags accept but the
 * library does not, such as an empty `--local-host`. An error that begins with an
 * option of `table` names its flag instead (`localHost must be` → `--local-host must be`).
 */
export function asUsage<T>(start: () => T, table: Readonly<Record<string, OptionSpec>> = {}): T {
  try {
    return start();
  } catch (err) {
    if (err instanceof Error && 'code' in err && err.code === 'ERR_BORE_INVALID_OPTION') {
      const key = /^\w+/.exec(err.message)?.[0] ?? '';
      const flag = Object.hasOwn(table, key) ? table[key]!.flag : undefined;
      throw new UsageError(flag === undefined ? err.message : `--${flag}${err.message.slice(key.length)}`);
    }
    throw err;
  }
}

/** A flag's value as the user typed it (yargs hands over strings, numbers or booleans). */
export function shown(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return `${value}`;
  return JSON.stringify(value) ?? 'undefined';
}

/** An option's value: the flag if given, else its environment variable, else the default. */
export function fromEnv(value: unknown, env: string): string | undefined {
  return given(value, env, '')?.text;
}

/** An option's value as text and the name to report it under: the flag if given, else its environment variable. */
export function given(value: unknown, env: string, flag: string): { text: string; name: string } | undefined {
  if (value !== undefined) return { text: shown(value), name: flag };
  const v = env === '' ? undefined : process.env[env];
  return v === undefined || v === '' ? undefined : { text: v, name: env };
}

/** A port number from `min` to 65535. */
export function portArg(value: unknown, env: string, name: string, fallback: number, min = 0): number {
  const arg = given(value, env, name);
  if (arg === undefined) return fallback;
  const n = Number(arg.text);
  if (arg.text.trim() === '' || !Number.isInteger(n) || n < min || n > 65535) {
    throw new UsageError(`invalid value for ${arg.name}: '${arg.text}' (expected a port number, ${min}-65535)`);
  }
  return n;
}

/** A number of seconds above 0 (and at least `min`). */
export function secondsArg(value: unknown, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (shown(value).trim() === '' || !Number.isFinite(n) || n <= 0 || n < min) {
    throw new UsageError(
      `invalid value for ${name}: '${shown(value)}' (expected a number of seconds${min > 0 ? ` of at least ${min}` : ' above 0'})`,
    );
  }
  return n;
}

/** A whole number from `min` to `max`. */
export function countArg(value: unknown, name: string, fallback: number, min = 1, max = Infinity, env = ''): number {
  const arg = given(value, env, name);
  if (arg === undefined) return fallback;
  const n = Number(arg.text);
  if (arg.text.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    const expected = max === Infinity ? `a whole number of at least ${min}` : `a whole number, ${min}-${max}`;
    throw new UsageError(`invalid value for ${arg.name}: '${arg.text}' (expected ${expected})`);
  }
  return n;
}

/**
 * The value of a table's option from its flag (or environment variable), checked by
 * the kind of its rule's range and converted to the library's unit; its default if
 * neither is given (`undefined` for a number without one).
 */
function valueOf(spec: OptionSpec, flag: string, argv: Args): unknown {
  const range: Range | undefined = spec.rule.range;
  const value = argv[flag];
  const name = `--${flag}`;
  const env = spec.env ?? '';
  const fallback = typeof spec.default === 'number' ? spec.default : undefined;
  if (spec.valueOptional && value === '') return true;
  switch (range?.kind) {
    case 'integer':
      // An option without a default whose flag is not given is left out (its default depends on others).
      if (fallback === undefined && given(value, env, name) === undefined) return undefined;
      return range.port
        ? portArg(value, env, name, fallback ?? -1, range.min)
        : countArg(value, name, fallback ?? -1, range.min, range.max, env);
    case 'duration':
      // The flags take seconds, the library milliseconds.
      return secondsArg(value, name, (fallback ?? 0) / 1000, range.inclusive ? range.min / 1000 : 0) * 1000;
    case 'boolean':
      return typeof value === 'boolean' ? value : spec.default;
    default:
      return given(value, env, name)?.text ?? spec.default;
  }
}

/**
 * The library options of `table` read from their flags, except those in `skip` (read
 * by the command itself: the secret, the server's address...).
 */
export function fromTable(table: Readonly<Record<string, OptionSpec>>, argv: Args, skip: readonly string[] = []): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) {
    if (spec.flag !== undefined && !skip.includes(key)) options[key] = valueOf(spec, spec.flag, argv);
  }
  return options;
}

/**
 * The secret: `--secret` or `--secret-file` (not both), else `BORE_SECRET` or
 * `BORE_SECRET_FILE` (not both): the text, or the path of a file (one secret per line,
 * the first the current one) that is checked now. An unreadable or empty file is a
 * usage error that names the path, never the content.
 */
export function secretArg(argv: Args): { secret?: string; file?: string } {
  const flag = given(argv.secret, '', '--secret');
  const flagFile = given(argv['secret-file'], '', '--secret-file');
  if (flag && flagFile) throw new UsageError('--secret and --secret-file given together: use one of them');
  if (flag) return { secret: flag.text };
  if (flagFile) return { file: checkSecretFile(flagFile) };
  const env = given(undefined, 'BORE_SECRET', 'BORE_SECRET');
  const envFile = given(undefined, 'BORE_SECRET_FILE', 'BORE_SECRET_FILE');
  if (env && envFile) throw new UsageError('BORE_SECRET and BORE_SECRET_FILE both set: use one of them');
  if (env) return { secret: env.text };
  return envFile ? { file: checkSecretFile(envFile) } : {};
}

/**
 * `--secret-file` (else `BORE_SECRET_FILE`) alone, for `bore up`: the path of a secret
 * file, checked now, if given. Under systemd it names the unit's credential
 * (`${CREDENTIALS_DIRECTORY}/secret`), which a config file cannot.
 */
export function secretFileArg(argv: Args): string | undefined {
  const arg = given(argv['secret-file'], 'BORE_SECRET_FILE', '--secret-file');
  return arg && checkSecretFile(arg);
}

/** The path `arg` names, once its file has been read and holds a secret. */
function checkSecretFile(arg: { text: string; name: string }): string {
  try {
    readSecrets(arg.text);
  } catch (err) {
    if (err instanceof SecretFileError) throw new UsageError(`invalid value for ${arg.name}: ${err.message}`);
    throw err;
  }
  return arg.text;
}

/** `--inspect` or `--inspect=PORT`: the inspector's port (0: any), if asked for. */
export function inspectArg(value: unknown): number | undefined {
  return value === undefined ? undefined : portArg(value === '' ? '0' : value, '', '--inspect', 0);
}

/** `argv` with each flag given more than once reduced to its last value (the positional mappings excepted). */
export function lastOfEachFlag(argv: Args): Args {
  return Object.fromEntries(
    Object.entries(argv).map(([key, value]) => [
      key,
      Array.isArray(value) && key !== 'localPort' && key !== 'local-port' && key !== '_' ? value.at(-1) : value,
    ]),
  );
}
