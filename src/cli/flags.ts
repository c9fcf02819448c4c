/**
 * The flags and help of each command, declared once as data: yargs reads them for
 * `--help`, usage errors and any call out of the ordinary (`cli-parser.ts`), the run
 * path's quick parse reads the same (`quick-args.ts`). The flags of the library's options
 * come from the option tables (`client/tunnel-options.ts`, `server/options.ts`): name,
 * alias, help, environment variable and default shown; the rest (logging, the
 * inspector, the config file, metrics) are the CLI's own.
 */
import type { Argv, Options, PositionalOptions } from 'yargs';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS } from '../log/levels.js';
import type { OptionSpec } from '../options/table.js';
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';
import { SERVER_OPTIONS } from '../server/options.js';
import { DRAIN_TIMEOUT_MS } from '../server/defaults.js';

/** A command's flags by name (without `--`), in the order `--help` lists them. */
export type Flags = Readonly<Record<string, Options>>;

/** The yargs option of a table's option. */
function flagOf(spec: OptionSpec): Options {
  const env = spec.env === undefined ? '' : `[env: ${spec.env}]`;
  const help = spec.help ?? '';
  const describe = help.includes('{env}') ? help.replace('{env}', env) : env === '' ? help : `${help} ${env}`;
  const range = spec.rule.range;
  if (range?.kind === 'boolean') {
    return spec.default === undefined
      ? { type: 'boolean', describe, defaultDescription: spec.shownDefault }
      : { type: 'boolean', describe, default: spec.default };
  }
  const d = spec.default;
  const shownDefault =
    spec.shownDefault ?? (typeof d === 'number' ? String(spec.unit === 'ms' ? d / 1000 : d) : typeof d === 'string' ? d : undefined);
  return {
    alias: spec.alias,
    type: 'string',
    describe,
    defaultDescription: shownDefault,
    // A port flag without its value is reported as an invalid port ('').
    requiresArg: !(range?.kind === 'integer' && range.port) && !spec.valueOptional,
  };
}

/** The flags of `table`'s options that have one, in the table's order, with `after`'s after the option they follow. */
function tableFlags(table: Readonly<Record<string, OptionSpec>>, after: Readonly<Record<string, Flags>> = {}): Record<string, Options> {
  const flags: Record<string, Options> = {};
  for (const [key, spec] of Object.entries(table)) {
    if (spec.flag !== undefined) flags[spec.flag] = flagOf(spec);
    Object.assign(flags, after[key]);
  }
  return flags;
}

/** `--log-level` and `--log-format`, of every command. */
const LOG_FLAGS: Flags = {
  'log-level': {
    describe: 'Least severe log level to print [env: BORE_LOG_LEVEL]',
    choices: LOG_LEVELS,
    defaultDescription: DEFAULT_LOG_LEVEL,
  },
  'log-format': {
    describe: 'Log line format [env: BORE_LOG_FORMAT]',
    choices: LOG_FORMATS,
    defaultDescription: DEFAULT_LOG_FORMAT,
  },
};

/** The one-line description of `bore local`. */
export const LOCAL_DESCRIBE = 'Expose a local port through a bore server';
/** The one-line description of `bore server`. */
export const SERVER_DESCRIBE = 'Run a bore server that clients can expose ports through';
/** The one-line description of `bore up`. */
export const UP_DESCRIBE = 'Run the tunnels of a config file (bore.toml); SIGHUP reloads it';
/** The usage line and text of `bore local --help`. */
export const LOCAL_USAGE =
  '$0 <LOCAL_PORT>[:REMOTE_PORT]... --to <TO> [options]\n\nExpose the local port LOCAL_PORT [env: BORE_LOCAL_PORT] through the bore server TO; several mappings (`3000 8080:18080`) run as several tunnels in one process. SIGHUP is logged and changes nothing (there is nothing to reload): a terminal hang-up does not stop it.';
/** The usage line and text of `bore up --help`. */
export const UP_USAGE = `$0 [--config PATH]\n\n${UP_DESCRIBE}: added tunnels start, removed ones stop, changed ones restart, the others keep their connections (a SIGHUP during start-up is applied once the tunnels run).`;
/** The usage line and text of `bore server --help`. */
export const SERVER_USAGE = `$0\n\n${SERVER_DESCRIBE}. SIGHUP reads --secret-file (to rotate the secret) and --tls-cert/--tls-key (a renewed certificate) again, without dropping a tunnel; otherwise it is logged and changes nothing.`;

/** The positional of `bore local`: its mappings, any number of them. */
export const LOCAL_PORT_POSITIONAL = {
  name: 'local-port',
  options: {
    describe:
      'Port of the local service to expose [env: BORE_LOCAL_PORT]; LOCAL_PORT:REMOTE_PORT also asks for the public port; several give several tunnels',
    type: 'string',
  } satisfies PositionalOptions,
};

/** The flags of `bore local`. */
export function localFlags(): Flags {
  return {
    ...tableFlags(TUNNEL_OPTIONS),
    inspect: {
      type: 'string',
      describe:
        'Serve a live view of the client state machine (with several mappings: of every tunnel and their supervisor) on http://127.0.0.1:PORT/ (--inspect or --inspect=PORT; random port by default)',
    },
    ...LOG_FLAGS,
  };
}

/** The flags of `bore up`. */
export function upFlags(): Flags {
  return {
    config: {
      alias: 'c',
      type: 'string',
      requiresArg: true,
      describe: 'The config file (TOML; see examples/bore.toml) [env: BORE_CONFIG]',
      defaultDescription: 'bore.toml',
    },
    'secret-file': {
      type: 'string',
      requiresArg: true,
      describe:
        "The secret's file for the tunnels when the config file's top level sets neither secret nor secret_file (a tunnel's own still wins); systemd: ${CREDENTIALS_DIRECTORY}/secret [env: BORE_SECRET_FILE]",
    },
    check: {
      type: 'boolean',
      describe: 'Check the config file and exit: 0 and a summary if it is valid, 2 and every mistake if not (as nginx -t)',
    },
    example: {
      type: 'boolean',
      describe: 'Print an example config file to start from (bore up --example > bore.toml) and exit',
    },
    inspect: {
      type: 'string',
      describe:
        'Serve a live view of the supervisor and every tunnel (state, context, chart) on http://127.0.0.1:PORT/; GET /snapshot has every tunnel under "children" (--inspect or --inspect=PORT)',
    },
    ...LOG_FLAGS,
  };
}

/** The flags of `bore server`. */
export function serverFlags(): Flags {
  return {
    ...tableFlags(SERVER_OPTIONS, {
      secret: {
        'secret-file': {
          type: 'string',
          describe:
            'File of secrets clients may use, one per line (during a rotation the new and the old), re-read on SIGHUP; instead of --secret [env: BORE_SECRET_FILE]',
          requiresArg: true,
        },
      },
      maxPoolPerTunnel: {
        'drain-timeout': {
          type: 'string',
          requiresArg: true,
          describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)',
          defaultDescription: String(DRAIN_TIMEOUT_MS / 1000),
        },
        metrics: {
          type: 'string',
          requiresArg: true,
          describe: 'Serve Prometheus metrics and /healthz over HTTP on <addr:port> [env: BORE_METRICS]',
          defaultDescription: 'off',
        },
        'metrics-host': {
          type: 'string',
          requiresArg: true,
          describe: 'Host names /metrics answers to besides IP addresses and localhost, comma-separated [env: BORE_METRICS_HOST]',
        },
      },
    }),
    ...LOG_FLAGS,
  };
}

/** The exit statuses of `bore local`, the end of its help. */
const LOCAL_EPILOGUE =
  'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error; 3 fatal error, not retried (invalid secret, port not allowed, ...); 4 connection lost or server unreachable and not retrying. With several mappings, one tunnel giving up leaves the others running; once all are gone: 4 if any gave up on a loss or an unreachable server, else 3.';

/** The exit statuses of `bore up`, the end of its help. */
const UP_EPILOGUE =
  'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error or invalid config file; once every tunnel has given up before any reload, 4 if any was lost or unreachable (a restart may help), else 3 (every one failed with a fatal error). One tunnel giving up is logged and leaves the others running. After a reload the process does not exit when every tunnel has given up (a wrong secret in the new file): it logs it and waits for a corrected file and SIGHUP.';

/** `y` with `flags` declared. */
function withFlags<T>(y: Argv<T>, flags: Flags): Argv<T> {
  let out: Argv = y;
  for (const [name, options] of Object.entries(flags)) out = out.option(name, options);
  return out as Argv<T>;
}

/** The yargs builder of `bore local`. */
export function localOptions<T>(y: Argv<T>): Argv<T> {
  return withFlags(y.positional(LOCAL_PORT_POSITIONAL.name, LOCAL_PORT_POSITIONAL.options), localFlags()).epilogue(LOCAL_EPILOGUE);
}

/** The yargs builder of `bore up`. */
export function upOptions<T>(y: Argv<T>): Argv<T> {
  return withFlags(y, upFlags()).epilogue(UP_EPILOGUE);
}

/** The yargs builder of `bore server`. */
export function serverOptions<T>(y: Argv<T>): Argv<T> {
  return withFlags(y, serverFlags());
}
