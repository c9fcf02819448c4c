/**
 * Validation of the library's options at the call: {@link startTunnel}'s `TunnelOptions`
 * and {@link BoreServer}'s `ServerOptions` are each described by a table of rules (next
 * to the API, in `tunnel.ts` and `server/server.ts`) and checked by {@link checkOptions}
 * before anything starts. A wrong type throws a `TypeError`, a wrong value a
 * `RangeError`, an unknown option (a typo) a `TypeError`; each message names the option
 * and the value (`localPort must be 1-65535, got 70000`), secrets excepted. Every error
 * has `code` {@link OPTION_ERROR}, which the CLI turns into a usage error.
 *
 * Hand-written rather than a schema library, measured (esbuild, minified, Node 20, one
 * schema of the dozen tunnel options): zod 4 is 454 KB, +25 ms to load and +5 MB RSS;
 * zod/mini 18 KB, valibot 5.7 KB, both about +1 ms and under +1 MB. Only the client and
 * server chunks would load it, so `bore --help` would not change, and valibot's cost is
 * negligible. What decides is the rest: the options are flat, a dozen numbers and
 * strings with ranges, which this module checks in about as many lines as a schema
 * would take to declare; either library needs a custom message per check and a
 * formatter to say `localPort must be 1-65535, got 70000` instead of `Invalid input`,
 * and to keep a secret out of the message; and a runtime dependency is one more package
 * for every install to pull and audit. If the options grow nested or are read from
 * files, valibot is the one to take.
 */
import { nodeUtil } from '../protocol/on-demand.js';

/** The `code` of every error thrown by {@link checkOptions}. */
export const OPTION_ERROR = 'ERR_BORE_INVALID_OPTION';

/** Longest delay a Node timer takes (ms); a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Where a rule keeps the type of the values it accepts (a type only, never set). */
declare const VALUE: unique symbol;

/**
 * What a rule accepts, as data: the option tables (`src/options/table.ts`) derive the
 * config file's schema and the CLI's checks of a flag's text from it.
 */
export type Range =
  /** A whole number from `min` to `max` (`Infinity`: unbounded); `port` for the ports' wording. */
  | { kind: 'integer'; min: number; max: number; port: boolean }
  /** Milliseconds above `min` (or from it, `inclusive`), at most {@link MAX_TIMER_MS}. */
  | { kind: 'duration'; min: number; inclusive: boolean }
  /** A string, non-empty if `nonEmpty` names what it holds; a `secret` is never shown. */
  | { kind: 'string'; nonEmpty: string | undefined; secret: boolean }
  | { kind: 'boolean' }
  /** Anything else (a logger, a signal, nested options): not a flag or a key of the file. */
  | { kind: 'other' };

/** Checks one option's value (of type `V` when valid); throws with `name` in the message. */
export type Rule<V = unknown> = ((name: string, value: unknown) => void) & { readonly range?: Range; readonly [VALUE]?: V };

/** A rule for each option of `T`. */
export type Rules<T> = { [K in keyof Required<T>]-?: Rule };

/** `check` with its {@link Range}. */
function ruled<V>(range: Range, check: (name: string, value: unknown) => void): Rule<V> {
  return Object.assign(check, { range });
}

function fail(Kind: typeof TypeError | typeof RangeError, message: string): never {
  throw Object.assign(new Kind(message), { code: OPTION_ERROR });
}

/** A value as the message shows it: `70000`, `''`, `{ port: 1 }`. */
function shown(value: unknown): string {
  return nodeUtil().inspect(value, { depth: 1, breakLength: Infinity, maxStringLength: 80 });
}

function number(name: string, value: unknown): number {
  if (typeof value !== 'number') fail(TypeError, `${name} must be a number, got ${shown(value)}`);
  return value;
}

/** A whole number from `min` to `max`: ports (`1-65535`) and counts. */
export function integer(min: number, max = Infinity): Rule<number> {
  const bounded = max !== Infinity;
  return ruled({ kind: 'integer', min, max, port: max === 65535 }, (name, value) => {
    const n = number(name, value);
    if (Number.isInteger(n) && n >= min && n <= max) return;
    const expected = !bounded
      ? `a whole number of at least ${min}`
      : Number.isInteger(n)
        ? `${min}-${max}`
        : `a whole number ${min}-${max}`;
    fail(RangeError, `${name} must be ${expected}, got ${shown(n)}`);
  });
}

/**
 * A duration in milliseconds (every duration of the API is, and its name ends in `Ms`)
 * above `min` (or from `min`, `inclusive`), within a Node timer.
 */
export function duration(min = 0, inclusive = false): Rule<number> {
  const max = MAX_TIMER_MS;
  return ruled({ kind: 'duration', min, inclusive }, (name, value) => {
    const n = number(name, value);
    if (!(inclusive ? n >= min : n > min) || !(n <= max)) {
      const expected = inclusive ? `from ${min} to ${max} ms` : `above ${min} and at most ${max} ms`;
      fail(RangeError, `${name} must be ${expected}, got ${shown(n)}`);
    }
  });
}

/** A string; `nonEmpty` names what it holds (`a host name or address`). A `secret` is never shown. */
export function string(nonEmpty?: string, secret = false): Rule<string> {
  return ruled({ kind: 'string', nonEmpty, secret }, (name, value) => {
    if (typeof value !== 'string')
      fail(TypeError, `${name} must be a string, got ${secret ? `a value of type ${typeof value}` : shown(value)}`);
    if (nonEmpty && value === '') fail(RangeError, `${name} must be ${nonEmpty}, got ''`);
  });
}

/**
 * A secret, or a non-empty list of non-empty secrets (the current one first); a message
 * names only the types, never a value.
 */
export const secrets: Rule<string | readonly string[]> = ruled({ kind: 'string', nonEmpty: undefined, secret: true }, (name, value) => {
  if (!Array.isArray(value)) return string(undefined, true)(name, value);
  if (value.length === 0) fail(RangeError, `${name} must hold at least one secret, got an empty list`);
  value.forEach((item: unknown, i) => string('a non-empty string', true)(`${name}[${i}]`, item));
});

/** `true` or `false`. */
export const boolean: Rule<boolean> = ruled({ kind: 'boolean' }, (name, value) => {
  if (typeof value !== 'boolean') fail(TypeError, `${name} must be true or false, got ${shown(value)}`);
});

/** An object with the methods `names` (a logger); `what` says so in the message. */
export function withMethods<V>(what: string, names: readonly string[]): Rule<V> {
  return (name, value) => {
    const record =
      (typeof value === 'object' && value !== null) || typeof value === 'function' ? (value as Record<string, unknown>) : undefined;
    if (!record || !names.every((m) => typeof record[m] === 'function')) fail(TypeError, `${name} must be ${what}, got ${shown(value)}`);
  };
}

/** A function. */
export const func: Rule = (name, value) => {
  if (typeof value !== 'function') fail(TypeError, `${name} must be a function, got ${shown(value)}`);
};

/** A function or an object (an observer) of type `V`. */
export function functionOrObject<V>(): Rule<V> {
  return (name, value) => {
    if (typeof value !== 'function' && (typeof value !== 'object' || value === null)) {
      fail(TypeError, `${name} must be a function or an object, got ${shown(value)}`);
    }
  };
}

/** An object whose options follow `rules`; their names in messages read `name.option`. */
export function nested<T>(rules: Rules<T>): Rule<T> {
  return (name, value) => check(rules, value, name, `${name}.`);
}

/** An `AbortSignal`. */
export const abortSignal: Rule<AbortSignal> = (name, value) => {
  if (!(value instanceof AbortSignal)) fail(TypeError, `${name} must be an AbortSignal, got ${shown(value)}`);
};

/**
 * Checks the options `options` of the call `where` (`startTunnel`) against `rules`, and
 * that the `required` ones are there; options set to `undefined` count as absent.
 * Returns them typed.
 */
export function checkOptions<T extends object>(rules: Rules<T>, options: unknown, where: string, required: readonly (keyof T)[] = []): T {
  check(rules, options, `the options of ${where}`, '');
  for (const key of required) {
    if ((options as T)[key] === undefined) fail(TypeError, `${String(key)} is required`);
  }
  return options as T;
}

function check<T>(rules: Rules<T>, options: unknown, what: string, prefix: string): void {
  if (typeof options !== 'object' || options === null) fail(TypeError, `${what} must be an object, got ${shown(options)}`);
  const record = options as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(rules, key)) {
      // The durations were in seconds, without the suffix, in 0.1.
      if (Object.hasOwn(rules, `${key}Ms`))
        fail(TypeError, `unknown option ${prefix}${key} (did you mean ${prefix}${key}Ms? durations are in milliseconds)`);
      fail(TypeError, `unknown option ${prefix}${key} (known: ${Object.keys(rules).join(', ')})`);
    }
  }
  for (const [key, rule] of Object.entries<Rule>(rules)) {
    const value = record[key];
    if (value !== undefined) rule(`${prefix}${key}`, value);
  }
}
