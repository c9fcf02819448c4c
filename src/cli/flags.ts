/**
 * The flags and help of each command. The flags of the library's options come from the
 * option tables (`client/tunnel-options.ts`, `server/options.ts`): name, alias, help,
 * environment variable and default shown; the rest (logging, the inspector, the
 * config file, metrics) are the CLI's own.
 */
import type { Argv, Options } from 'yargs';
import { DEFAULT_LOG_FORMAT, DEFAULT_LOG_LEVEL, LOG_FORMATS, LOG_LEVELS } from '../log/levels.js';
import type { OptionSpec } from '../options/table.js';
import { TUNNEL_OPTIONS } from '../client/tunnel-options.js';
import { SERVER_OPTIONS } from '../server/options.js';
import { DRAIN_TIMEOUT_MS } from '../server/defaults.js';

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

/** What a command adds after a table's option (its own flags). */
type After = Record<string, (y: Argv) => Argv>;

/** Adds the flags of `table`'s options that have one, in the table's order, with `after`'s after theirs. */
function tableFlags<T>(y: Argv<T>, table: Readonly<Record<string, OptionSpec>>, after: After = {}): Argv<T> {
  let out: Argv = y;
  for (const [key, spec] of Object.entries(table)) {
    if (spec.flag !== undefined) out = out.option(spec.flag, flagOf(spec));
    out = after[key]?.(out) ?? out;
  }
  return out as Argv<T>;
}

/** `--log-level` and `--log-format`, of every command. */
function logOptions<T>(y: Argv<T>) {
  return y
    .option('log-level', {
      describe: 'Least severe log level to print [env: BORE_LOG_LEVEL]',
      choices: LOG_LEVELS,
      defaultDescription: DEFAULT_LOG_LEVEL,
    })
    .option('log-format', {
      describe: 'Log line format [env: BORE_LOG_FORMAT]',
      choices: LOG_FORMATS,
      defaultDescription: DEFAULT_LOG_FORMAT,
    });
}

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

/** The flags of `bore local`. */
export function localOptions<T>(y: Argv<T>) {
  return logOptions(
    tableFlags(
      y.positional('local-port', {
        describe:
          'Port of the local service to expose [env: BORE_LOCAL_PORT]; LOCAL_PORT:REMOTE_PORT also asks for the public port; several give several tunnels',
        type: 'string',
      }),
      TUNNEL_OPTIONS,
    )
      .option('inspect', {
        type: 'string',
        describe:
          'Serve a live view of the client state machine (with several mappings: of every tunnel and their supervisor) on http://127.0.0.1:PORT/ (--inspect or --inspect=PORT; random port by default)',
      })
      .epilogue(
        'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error; 3 fatal error, not retried (invalid secret, port not allowed, ...); 4 connection lost or server unreachable and not retrying. With several mappings, one tunnel giving up leaves the others running; once all are gone: 4 if any gave up on a loss or an unreachable server, else 3.',
      ),
  );
}

/** The flags of `bore up`. */
export function upOptions<T>(y: Argv<T>) {
  return logOptions(
    y
      .option('config', {
        alias: 'c',
        type: 'string',
        requiresArg: true,
        describe: 'The config file (TOML; see examples/bore.toml) [env: BORE_CONFIG]',
        defaultDescription: 'bore.toml',
      })
      .option('secret-file', {
        type: 'string',
        requiresArg: true,
        describe:
          "The secret's file for the tunnels when the config file's top level sets neither secret nor secret_file (a tunnel's own still wins); systemd: ${CREDENTIALS_DIRECTORY}/secret [env: BORE_SECRET_FILE]",
      })
      .option('check', {
        type: 'boolean',
        describe: 'Check the config file and exit: 0 and a summary if it is valid, 2 and every mistake if not (as nginx -t)',
      })
      .option('example', {
        type: 'boolean',
        describe: 'Print an example config file to start from (bore up --example > bore.toml) and exit',
      })
      .option('inspect', {
        type: 'string',
        describe:
          'Serve a live view of the supervisor and every tunnel (state, context, chart) on http://127.0.0.1:PORT/; GET /snapshot has every tunnel under "children" (--inspect or --inspect=PORT)',
      })
      .epilogue(
        'Exit status: 0 stopped by SIGINT/SIGTERM; 2 usage error or invalid config file; once every tunnel has given up before any reload, 4 if any was lost or unreachable (a restart may help), else 3 (every one failed with a fatal error). One tunnel giving up is logged and leaves the others running. After a reload the process does not exit when every tunnel has given up (a wrong secret in the new file): it logs it and waits for a corrected file and SIGHUP.',
      ),
  );
}

/** The flags of `bore server`. */
export function serverOptions<T>(y: Argv<T>) {
  return logOptions(
    tableFlags(y, SERVER_OPTIONS, {
      secret: (s) =>
        s.option('secret-file', {
          type: 'string',
          describe:
            'File of secrets clients may use, one per line (during a rotation the new and the old), re-read on SIGHUP; instead of --secret [env: BORE_SECRET_FILE]',
          requiresArg: true,
        }),
      maxPoolPerTunnel: (s) =>
        s
          .option('drain-timeout', {
            type: 'string',
            requiresArg: true,
            describe: 'On SIGINT/SIGTERM, seconds to let open connections finish (a second signal skips the wait)',
            defaultDescription: String(DRAIN_TIMEOUT_MS / 1000),
          })
          .option('metrics', {
            type: 'string',
            requiresArg: true,
            describe: 'Serve Prometheus metrics and /healthz over HTTP on <addr:port> [env: BORE_METRICS]',
            defaultDescription: 'off',
          })
          .option('metrics-host', {
            type: 'string',
            requiresArg: true,
            describe: 'Host names /metrics answers to besides IP addresses and localhost, comma-separated [env: BORE_METRICS_HOST]',
          }),
    }),
  );
}
