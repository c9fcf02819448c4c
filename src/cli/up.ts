/** `bore up`: the tunnels of a config file, reloaded on SIGHUP (`up-reload.ts`); `--check` validates it, `--example` prints one. */
import { type Args, UsageError, fromEnv, inspectArg, secretFileArg } from './args.js';
import { exit, logSettings, makeLogger, onStopSignal } from './process.js';
import { runTunnels } from './local.js';
import type { TunnelsReload } from '../run/tunnels.js';
import { exampleConfig } from './package-files.js';

/** Runs `bore up` with `argv`. */
export async function runUp(argv: Args): Promise<void> {
  if (argv.example === true) {
    process.stdout.write(exampleConfig());
    return;
  }
  // A SIGHUP during start-up (caught since bin.ts) is a reload once the tunnels run.
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const path = fromEnv(argv.config, 'BORE_CONFIG') ?? 'bore.toml';
  const secretFile = secretFileArg(argv);
  const { loadConfig, ConfigError } = await import('./config.js');
  const sink: { warn?: (message: string) => void } = {};
  const pending: string[] = [];
  const read = (): TunnelsReload => {
    const warnings: string[] = [];
    try {
      const options = loadConfig(path, warnings);
      // --secret-file: the secret of the file's tunnels when its top level sets none (a tunnel's own still wins).
      if (secretFile !== undefined && options.secret === undefined && options.secretFile === undefined) options.secretFile = secretFile;
      return options;
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    } finally {
      // At start-up they wait for the logger; on a reload they are logged at once.
      for (const warning of warnings) (sink.warn ?? ((m) => pending.push(m)))(warning);
    }
  };
  const options = read();
  const names = Object.keys(options.tunnels);
  const summary = `${path}: ${names.length} tunnel${names.length === 1 ? '' : 's'} (${names.join(', ')})`;
  if (argv.check === true) {
    for (const warning of pending) process.stderr.write(`warning: ${warning}\n`);
    process.stdout.write(`${summary}: valid\n`);
    exit(0);
    return;
  }
  const logger = makeLogger(settings);
  signals.setLogger(logger);
  sink.warn = (message) => logger.warn(message, { file: path });
  logger.info(`config ${summary}`, { file: path });
  for (const warning of pending) sink.warn(warning);
  await runTunnels(options, logger, signals, inspectArg(argv.inspect), { file: path, read });
}
