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
import { didYouMean } from './suggest.js';
import { SecretFileError, readSecrets } from '../system/secret-file.js';
import type { TunnelSpecOptions, TunnelsReload } from '../run/tunnels.js';
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';
import type { OptionSpec } from '../options/table.js';
import { type ServerOption, type ServersOption, parseServer } from '../client/servers.js';

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

function count(min: number, max: number) {
  const range = `${min}-${max}`;
  return v.pipe(v.number(got(`a whole number ${range}`)), v.integer(got(range)), v.minValue(min, got(range)), v.maxValue(max, got(range)));
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

/** An entry of `servers`: `host` or `host:port`, or a table with the server's own control port and TLS. */
const serverEntry = v.union(
  [
    v.pipe(
      v.string(),
      v.nonEmpty(),
      v.check((text) => {
        try {
          parseServer(text, 1);
          return true;
        } catch {
          return false;
        }
      }),
    ),
    v.strictObject({
      host,
      control_port: v.optional(port(1)),
      tls: v.optional(v.boolean(got('true or false'))),
      tls_ca: v.optional(v.pipe(v.string(got('a path')), v.nonEmpty(got('a path')))),
      tls_fingerprint: v.optional(v.pipe(v.string(got('a fingerprint')), v.nonEmpty(got('a fingerprint')))),
    }),
  ],
  (issue) =>
    `must be a server: "host", "host:port" or { host = "...", control_port = N, tls_ca = "...", tls_fingerprint = "..." }, got ${shown(issue.input)}`,
);
const serverList = v.pipe(
  v.array(serverEntry, got('a list of servers, e.g. ["a.example.com", "b.example.com:7836"]')),
  v.minLength(1, 'must name at least one server'),
);

/** `servers`' entries as the library's `to` list takes them. */
function serversOption(list: unknown[]): ServersOption {
  return list.map((entry) => {
    if (typeof entry === 'string') return entry;
    const t = entry as Record<string, unknown>;
    const server: ServerOption = { host: t.host as string };
    if (t.control_port !== undefined) server.controlPort = t.control_port as number;
    if (t.tls !== undefined) server.tls = t.tls as boolean;
    if (t.tls_ca !== undefined) server.tlsCa = t.tls_ca as string;
    if (t.tls_fingerprint !== undefined) server.tlsFingerprint = t.tls_fingerprint as string;
    return server;
  });
}

/** The schema of a key, from its option's range in the tunnel's table (`client/tunnel-options.ts`). */
function schemaOf(key: string, spec: OptionSpec): v.GenericSchema {
  const range = spec.rule.range;
  // Beyond the library's rules: `to` holds no port, and a secret file's path is kept out of messages like a secret.
  if (key === 'to') return host;
  if (key === 'servers') return serverList;
  if (key === 'secret_file') return secretText('a path');
  switch (range?.kind) {
    case 'integer':
      return range.port ? port(range.min) : count(range.min, range.max);
    case 'duration':
      return seconds;
    case 'string':
      return range.secret ? secretText('a string') : text(range.nonEmpty ?? 'a string');
    case 'boolean':
      return flag;
    default:
      throw new Error(`config key ${key}: no schema for its option`);
  }
}

/** The keys of the file: each config key of the tunnel's table, with its option's key and spec. */
const KEYS = Object.entries<OptionSpec>(TUNNEL_OPTIONS).flatMap(([option, spec]) => [
  ...(spec.config === undefined ? [] : [{ key: spec.config, option, spec }]),
  ...(spec.configList === undefined ? [] : [{ key: spec.configList, option, spec }]),
]);

/** The keys only a tunnel sets (the rest may be set at the top level too, for every tunnel). */
const PER_TUNNEL = ['local_port', 'remote_port'];

/**
 * Keys a tunnel may set, or the top level for every tunnel; the server's address first
 * (the order in which messages list them).
 */
const SHARED: Record<string, v.GenericSchema> = Object.fromEntries(
  KEYS.filter(({ key }) => !PER_TUNNEL.includes(key))
    .sort((a, b) => Number(b.key === 'control_port' || b.key === 'to') - Number(a.key === 'control_port' || a.key === 'to'))
    .map(({ key, spec }) => [key, v.optional(schemaOf(key, spec))]),
);

/** A tunnel's table: `local_port` required, `remote_port` optional. */
const TUNNEL = v.strictObject(
  Object.fromEntries(
    KEYS.map(({ key, spec }) => [key, PER_TUNNEL.includes(key) && spec.required ? schemaOf(key, spec) : v.optional(schemaOf(key, spec))]),
  ),
  got('a table'),
);

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

/** A table of the file (the top level or a tunnel's), valid. */
type Table = Record<string, unknown>;
/** The file, valid: its top-level keys and its tunnels' tables by name. */
type Config = Table & { tunnels: Record<string, Table> };

/** Reads, parses and validates the config file at `path`; throws a {@link ConfigError}; likely mistakes go to `warnings`. */
export function loadConfig(path: string, warnings: string[] = []): TunnelsReload {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError(
      `cannot read config file ${path} (${code})${code === 'ENOENT' ? ': write one (see examples/bore.toml) or give its path with --config' : ''}`,
    );
  }
  return parseConfig(source, path, warnings);
}

/**
 * Parses and validates `source`, the text of the config file `path` (which relative
 * `secret_file` paths are resolved against); throws a {@link ConfigError} listing every
 * mistake. What is valid but likely a mistake (a duration over an hour: milliseconds
 * for seconds?) is added to `warnings`.
 */
export function parseConfig(source: string, path: string, warnings: string[] = []): TunnelsReload {
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
  // Every mistake at once, in the order of the file: the schema's and the checks across keys.
  const errors: { line: number; text: string }[] = [];
  const fail = (keys: string[], message: string) => {
    errors.push({ line: lineOf(source, keys), text: `${path}:${lineOf(source, keys)}: ${keys.join('.')} ${message}` });
  };
  if (!result.success) {
    for (const issue of result.issues) errors.push({ line: lineOf(source, keysOf(issue)), text: describe(issue, source, path) });
  }
  const config = result.success ? result.output : asConfig(data);
  const options = config && resolveConfig(config, source, path, fail, warnings);
  if (errors.length > 0 || !options) {
    throw new ConfigError(
      errors
        .sort((a, b) => a.line - b.line)
        .map((l) => l.text)
        .join('\n'),
    );
  }
  return options;
}

/** `data` as a config to check across keys when the schema refused it: a table whose `tunnels` is a table of tables, else undefined. */
function asConfig(data: unknown): Config | undefined {
  const isTable = (x: unknown): x is Table => typeof x === 'object' && x !== null && !Array.isArray(x) && !(x instanceof Date);
  if (!isTable(data) || !isTable(data.tunnels) || !Object.values(data.tunnels).every(isTable)) return undefined;
  return data as Config;
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

/** A mistake found across keys, reported with the others. */
type Fail = (keys: string[], message: string) => void;

/** The checks across keys (each mistake to `fail`), and the options of `startTunnels`. */
function resolveConfig(config: Config, source: string, path: string, fail: Fail, warnings: string[]): TunnelsReload {
  const byRemote = new Map<string, string>();
  const tunnels: Record<string, Partial<TunnelSpecOptions>> = {};
  const shared = optionsOf(config, [], fail, path);
  warnLongDurations(config, [], source, path, warnings);
  for (const [name, t] of Object.entries(config.tunnels)) {
    if (!TUNNEL_NAME.test(name)) fail(['tunnels', name], 'is not a valid tunnel name (letters, digits, - and _)');
    const server = `${JSON.stringify(t.to ?? t.servers ?? config.to ?? config.servers)}:${Number(t.control_port ?? config.control_port ?? 0)}`;
    if (typeof t.remote_port === 'number' && t.remote_port !== 0) {
      const other = byRemote.get(`${server}/${t.remote_port}`);
      if (other) fail(['tunnels', name, 'remote_port'], `${t.remote_port} is also the remote_port of tunnels.${other} on the same server`);
      byRemote.set(`${server}/${t.remote_port}`, name);
    }
    if (t.to === undefined && t.servers === undefined && config.to === undefined && config.servers === undefined)
      fail(['tunnels', name], 'has no server: set to at the top of the file or in the tunnel');
    tunnels[name] = optionsOf(t, ['tunnels', name], fail, path);
    warnLongDurations(t, ['tunnels', name], source, path, warnings);
  }
  return { ...shared, tunnels };
}

/**
 * The keys of a table (the top level, or a tunnel's) as library options: each key's
 * option of the tunnel's table, seconds made milliseconds.
 */
function optionsOf(table: Table, at: string[], fail: Fail, path: string): Partial<TunnelSpecOptions> {
  const both = table.secret !== undefined && table.secret_file !== undefined;
  if (both) fail([...at, 'secret_file'], 'and secret given together: use one of them');
  if (table.to !== undefined && table.servers !== undefined) fail([...at, 'servers'], 'and to given together: use one of them');
  const options: Record<string, unknown> = {};
  for (const { key, option, spec } of KEYS) {
    const value = table[key];
    if (value === undefined) continue;
    if (key === 'servers' && Array.isArray(value)) options[option] = serversOption(value);
    else options[option] = spec.unit === 'ms' && typeof value === 'number' ? value * 1000 : value;
  }
  // A secret file is checked now and read again by the tunnel at every connection attempt.
  if (typeof table.secret_file === 'string' && !both) {
    const secretFile = resolve(dirname(path), table.secret_file);
    try {
      readSecrets(secretFile);
    } catch (err) {
      if (!(err instanceof SecretFileError)) throw err;
      fail([...at, 'secret_file'], err.code === 'EMPTY' ? `is empty: '${secretFile}'` : `cannot be read: '${secretFile}' (${err.code})`);
      return options;
    }
    options.secretFile = secretFile;
  }
  // The schema checked each key against its option's range; startTunnels checks them again.
  return options;
}

/** Durations are seconds: one over an hour is likely milliseconds (`heartbeat_timeout = 8000`). */
const LONG_DURATION_S = 3600;

/** Warns of each duration of `table` longer than an hour, with what it comes to and what was likely meant. */
function warnLongDurations(table: Table, at: string[], source: string, path: string, warnings: string[]): void {
  for (const { key, spec } of KEYS) {
    const value = table[key];
    if (spec.unit !== 'ms' || typeof value !== 'number' || value <= LONG_DURATION_S) continue;
    const keys = [...at, key];
    const h = Math.floor(value / 3600);
    const min = Math.round((value % 3600) / 60);
    warnings.push(
      `${path}:${lineOf(source, keys)}: ${keys.join('.')} = ${value} is ${h} h ${min} min (durations are seconds): did you mean ${value / 1000}?`,
    );
  }
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
