/**
 * The config file of `bore up` (default `bore.toml`): the server's settings and named
 * tunnels, in TOML, parsed by smol-toml and validated by a valibot schema. Every error
 * names the file, the line and the key, `bore.toml:7: tunnels.web.local_port must be
 * 1-65535, got 70000`. Durations are in seconds, as on the command line; the result is
 * the options of `startTunnels` (milliseconds). See `examples/bore.toml`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { TomlError, parse } from 'smol-toml';
import * as v from 'valibot';
import { MAX_TIMER_MS } from '../options/rules.js';
import { MAX_POOL_SIZE } from '../protocol/constants.js';
import { didYouMean } from './suggest.js';
import { SecretFileError, readSecrets } from '../system/secret-file.js';
import type { TunnelSpecOptions, TunnelsReload } from '../run/tunnels.js';

/** A config file that cannot be read, parsed or validated; the message names file, line and key. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return typeOf(value);
  return String(value);
}

/** The kind of a TOML value, never the value itself: all an error about a secret may say of it. */
function typeOf(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  if (value instanceof Date) return 'a date';
  return Array.isArray(value) ? 'an array' : 'a table';
}

type Msg = (issue: v.BaseIssue<unknown>) => string;
const got =
  (expected: string): Msg =>
  (issue) =>
    issue.input === undefined ? 'is required' : `must be ${expected}, got ${shown(issue.input)}`;

function port(min: number) {
  const range = `${min}-65535`;
  return v.pipe(
    v.number(got(`a port number (${range})`)),
    v.integer(got(range)),
    v.minValue(min, got(range)),
    v.maxValue(65535, got(range)),
  );
}

const seconds = v.pipe(
  v.number(got('a number of seconds')),
  v.gtValue(0, got('a number of seconds above 0')),
  v.maxValue(MAX_TIMER_MS / 1000, got(`at most ${MAX_TIMER_MS / 1000} seconds`)),
);
const host = v.pipe(
  v.string(got('a host name or address')),
  v.nonEmpty(got('a host name or address')),
  v.check((h) => !/^(\[[^\]]*\]|[^:]*):(\d+)$/.test(h), "must be the server's host without a port (the port goes in control_port)"),
);
const text = (what: string) => v.pipe(v.string(got(what)), v.nonEmpty(got(what)));
const flag = v.boolean(got('true or false'));
/** `secret` and `secret_file`: an error names the type of a wrong value, never the value (it may be the secret). */
const secretText = (what: string) =>
  v.pipe(
    v.string((issue) => (issue.input === undefined ? 'is required' : `must be ${what} in quotes, got ${typeOf(issue.input)}`)),
    v.nonEmpty('must not be empty'),
  );

/** Keys a tunnel may set, or the top level for every tunnel. */
const SHARED = {
  to: v.optional(host),
  control_port: v.optional(port(1)),
  secret: v.optional(secretText('a string')),
  secret_file: v.optional(secretText('a path')),
  local_host: v.optional(text('a host name or address')),
  heartbeat_timeout: v.optional(seconds),
  max_reconnect_delay: v.optional(seconds),
  drain_timeout: v.optional(seconds),
  reconnect: v.optional(flag),
  retry_first: v.optional(flag),
  pool: v.optional(
    v.pipe(
      v.number(got(`a whole number 0-${MAX_POOL_SIZE}`)),
      v.integer(got(`0-${MAX_POOL_SIZE}`)),
      v.minValue(0, got(`0-${MAX_POOL_SIZE}`)),
      v.maxValue(MAX_POOL_SIZE, got(`0-${MAX_POOL_SIZE}`)),
    ),
  ),
};

const TUNNEL = v.strictObject({ ...SHARED, local_port: port(1), remote_port: v.optional(port(0)) }, got('a table'));

const TUNNEL_NAME = /^[A-Za-z0-9_-]+$/;

const CONFIG = v.strictObject(
  {
    ...SHARED,
    tunnels: v.pipe(
      v.record(v.string(), TUNNEL, got('a table of tunnels, [tunnels.NAME]')),
      v.check((t) => Object.keys(t).length > 0, 'must name at least one tunnel ([tunnels.NAME] with local_port)'),
    ),
  },
  got('a table'),
);

type Shared = { [K in keyof typeof SHARED]?: v.InferOutput<(typeof SHARED)[K]> };
type Config = v.InferOutput<typeof CONFIG>;

/** Reads, parses and validates the config file at `path`; throws a {@link ConfigError}. */
export function loadConfig(path: string): TunnelsReload {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(
      `cannot read config file ${path} (${code})${code === 'ENOENT' ? ': write one (see examples/bore.toml) or give its path with --config' : ''}`,
    );
  }
  return parseConfig(source, path);
}

/** Parses and validates `source`, the text of the config file `path` (which relative `secret_file` paths are resolved against). */
export function parseConfig(source: string, path: string): TunnelsReload {
  let data: unknown;
  try {
    data = parse(source);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '');
    const line = source.split(/\r?\n/)[err.line - 1] ?? '';
    const header = /^\s*\[\s*tunnels\s*\.\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*\]/.exec(line);
    if (header && /redefine/.test(reason))
      throw new ConfigError(`${path}:${err.line}: duplicate tunnel name ${header[1]} ([tunnels.${header[1]}] is defined twice)`);
    throw new ConfigError(`${path}:${err.line}: invalid TOML: ${reason}`);
  }
  const result = v.safeParse(CONFIG, data, { abortEarly: false });
  if (!result.success) {
    // In the order of the file.
    const lines = result.issues.map((issue) => ({ line: lineOf(source, keysOf(issue)), text: describe(issue, source, path) }));
    throw new ConfigError(
      lines
        .sort((a, b) => a.line - b.line)
        .map((l) => l.text)
        .join('\n'),
    );
  }
  return resolveConfig(result.output, source, path);
}

function keysOf(issue: v.BaseIssue<unknown>): string[] {
  return (issue.path ?? []).map((p) => String(p.key as string | number));
}

/** One issue as `file:line: key message`. */
function describe(issue: v.BaseIssue<unknown>, source: string, path: string): string {
  const keys = keysOf(issue);
  const where = `${path}:${lineOf(source, keys)}`;
  const key = keys.join('.');
  if (issue.type === 'strict_object' && issue.expected === 'never') {
    const parent = keys.slice(0, -1);
    const known = Object.keys(parent.length === 0 ? { ...SHARED, tunnels: 0 } : { ...SHARED, local_port: 0, remote_port: 0 });
    const near = didYouMean(keys.at(-1)!, known);
    return `${where}: unknown key ${key}${near ? ` (did you mean ${[...parent, near].join('.')}?)` : ` (known: ${known.join(', ')})`}`;
  }
  if (issue.type === 'strict_object' && issue.input === undefined) return `${where}: ${key} is required`;
  return `${where}: ${key || 'the file'} ${issue.message}`;
}

/** The checks across keys, and the options of `startTunnels`. */
function resolveConfig(config: Config, source: string, path: string): TunnelsReload {
  const fail = (keys: string[], message: string): never => {
    throw new ConfigError(`${path}:${lineOf(source, keys)}: ${keys.join('.')} ${message}`);
  };
  const byRemote = new Map<string, string>();
  const tunnels: Record<string, Partial<TunnelSpecOptions>> = {};
  const shared = sharedOptions(config, [], fail, path);
  for (const [name, t] of Object.entries(config.tunnels)) {
    if (!TUNNEL_NAME.test(name)) fail(['tunnels', name], 'is not a valid tunnel name (letters, digits, - and _)');
    const server = `${t.to ?? config.to}:${t.control_port ?? config.control_port ?? ''}`;
    if (t.remote_port) {
      const other = byRemote.get(`${server}/${t.remote_port}`);
      if (other) fail(['tunnels', name, 'remote_port'], `${t.remote_port} is also the remote_port of tunnels.${other} on the same server`);
      byRemote.set(`${server}/${t.remote_port}`, name);
    }
    if (t.to === undefined && config.to === undefined)
      fail(['tunnels', name], 'has no server: set to at the top of the file or in the tunnel');
    tunnels[name] = { ...sharedOptions(t, ['tunnels', name], fail, path), localPort: t.local_port, port: t.remote_port };
  }
  return { ...shared, tunnels };
}

/** The shared keys of a table (the top level, or a tunnel's) as library options. */
function sharedOptions(
  table: Shared,
  at: string[],
  fail: (keys: string[], message: string) => never,
  path: string,
): Partial<TunnelSpecOptions> {
  if (table.secret !== undefined && table.secret_file !== undefined)
    fail([...at, 'secret_file'], 'and secret given together: use one of them');
  // A secret file is checked now and read again by the tunnel at every connection attempt.
  let secretFile: string | undefined;
  if (table.secret_file !== undefined) {
    secretFile = resolve(dirname(path), table.secret_file);
    try {
      readSecrets(secretFile);
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      return fail(
        [...at, 'secret_file'],
        err.code === 'EMPTY' ? `is empty: '${secretFile}'` : `cannot be read: '${secretFile}' (${err.code})`,
      );
    }
  }
  const ms = (s: number | undefined) => (s === undefined ? undefined : s * 1000);
  const options: Partial<TunnelSpecOptions> = {
    to: table.to,
    controlPort: table.control_port,
    secret: table.secret,
    secretFile,
    localHost: table.local_host,
    heartbeatTimeoutMs: ms(table.heartbeat_timeout),
    maxReconnectDelayMs: ms(table.max_reconnect_delay),
    drainTimeoutMs: ms(table.drain_timeout),
    reconnect: table.reconnect,
    retryFirst: table.retry_first,
    pool: table.pool,
  };
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

const KEY = String.raw`(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')`;
const DOTTED = new RegExp(String.raw`^\s*(${KEY}(?:\s*\.\s*${KEY})*)`);
const TABLE = new RegExp(String.raw`^\s*\[\[?\s*(${KEY}(?:\s*\.\s*${KEY})*)\s*\]\]?`);

function splitKey(dotted: string): string[] {
  return [...dotted.matchAll(new RegExp(KEY, 'g'))].map((m) => m[0].replace(/^(["'])(.*)\1$/, '$2'));
}

/**
 * The line (1-based) that defines `keys` in `source`: the `key = ...` line (dotted keys
 * and tables followed), else the line that holds its closest parent (a table header,
 * or the line of an inline table), else 1.
 */
export function lineOf(source: string, keys: readonly string[]): number {
  let table: string[] = [];
  let best = { depth: 0, line: 1 };
  const consider = (path: string[], line: number) => {
    const depth = path.length <= keys.length && path.every((k, i) => k === keys[i]) ? path.length : 0;
    if (depth > best.depth) best = { depth, line };
  };
  source.split(/\r?\n/).forEach((text, i) => {
    const header = TABLE.exec(text);
    if (header) {
      table = splitKey(header[1]!);
      consider(table, i + 1);
      return;
    }
    const key = DOTTED.exec(text);
    if (key && text.slice(key[0].length).trimStart().startsWith('=')) consider([...table, ...splitKey(key[1]!)], i + 1);
  });
  return best.line;
}
