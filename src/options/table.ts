/**
 * Option tables: each option of an API declared once, with everything every reader of
 * it needs. The tunnel's table (`src/client/tunnel-options.ts`) and the server's
 * (`src/server/options.ts`) are read by
 *
 * - the library: the options' type ({@link OptionsOf}), their rules ({@link rulesOf},
 *   checked by `checkOptions` of `rules.ts`) and their defaults ({@link defaultsOf});
 * - the CLI (`src/cli/flags.ts`): each flag, its help, environment variable and
 *   default shown, and the check of its text, from the rule's {@link Range};
 * - the config file (`src/cli/config.ts`): each key's valibot schema, from the same range.
 *
 * One validator: the rules of `rules.ts` check the library's options; the CLI and the
 * config file derive their checks (and their own wording) from the rules' ranges, so a
 * range is written once. The library keeps the hand-written checker rather than
 * valibot, which is a devDependency bundled into the CLI only: the library would need
 * it at run time, and the checker's messages are the API's (see `rules.ts`).
 */
import type { Rule } from './rules.js';

/** One option of a table. Durations are milliseconds in the library (`unit: 'ms'`) and seconds on the command line and in the config file. */
export interface OptionSpec<V = unknown> {
  /** The library's check, and through its range the CLI's and the config file's. */
  readonly rule: Rule<V>;
  /** The library requires it. */
  readonly required?: true;
  /** The library's default (in the library's unit). */
  readonly default?: V;
  /** The CLI flag, without `--` (none: not on the command line). */
  readonly flag?: string;
  /** The flag's one-letter alias. */
  readonly alias?: string;
  /** The environment variable the CLI reads when the flag is not given. */
  readonly env?: string;
  /** The key in `bore.toml` (tunnel options only). */
  readonly config?: string;
  /** Another key of `bore.toml` for the same option, which takes a list (`servers` for `to`). */
  readonly configList?: string;
  /** `ms`: milliseconds in the library, seconds in flags and the config file. */
  readonly unit?: 'ms';
  /** The flag's help; `{env}` places the `[env: ...]` note, else it ends the text. */
  readonly help?: string;
  /** What `--help` shows as the default when it is not the default itself (`off`). */
  readonly shownDefault?: string;
  /** The flag may be given without a value (`--tls-self-signed`), which gives the library `true`. */
  readonly valueOptional?: true;
}

/** A table of options by key. */
export type OptionTable = Readonly<Record<string, OptionSpec>>;

/** The type of the values an option accepts. */
export type ValueOf<S> = S extends { readonly rule: Rule<infer V> } ? V : never;

type RequiredKeys<T> = { [K in keyof T]: T[K] extends { readonly required: true } ? K : never }[keyof T];

/** The options object of a table: required options as required, the others optional. */
export type OptionsOf<T> = { -readonly [K in keyof T]?: ValueOf<T[K]> } & { -readonly [K in RequiredKeys<T>]-?: ValueOf<T[K]> };

/** The defaults of a table's options that have one. */
export type DefaultsOf<T> = {
  readonly [K in keyof T as T[K] extends { readonly default: unknown } ? K : never]: ValueOf<T[K]>;
};

/** The rules of a table, for `checkOptions`. */
export function rulesOf<T extends OptionTable>(table: T): { [K in keyof T]-?: Rule } {
  return mapTable(table, (spec) => spec.rule);
}

/** The defaults of a table. */
export function defaultsOf<T extends OptionTable>(table: T): DefaultsOf<T> {
  const defaults: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(table)) if (spec.default !== undefined) defaults[key] = spec.default;
  return defaults as DefaultsOf<T>;
}

function mapTable<T extends OptionTable, R>(table: T, fn: (spec: OptionSpec) => R): { [K in keyof T]-?: R } {
  return Object.fromEntries(Object.entries(table).map(([key, spec]) => [key, fn(spec)])) as { [K in keyof T]-?: R };
}
