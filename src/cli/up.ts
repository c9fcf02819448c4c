/** `bore up`: the tunnels of a config file, reloaded on SIGHUP (`up-reload.ts`). */
import { type Args, UsageError, fromEnv, inspectArg } from './args.js';
import { exit, logSettings, makeLogger, onStopSignal } from './process.js';
import { runTunnels } from './local.js';

/** Runs `bore up` with `argv`. */
export async function runUp(argv: Args): Promise<void> {
  // A SIGHUP during start-up (caught since bin.ts) is a reload once the tunnels run.
  const signals = onStopSignal(() => exit(0));
  const settings = logSettings(argv);
  const path = fromEnv(argv.config, 'BORE_CONFIG') ?? 'bore.toml';
  const { loadConfig, ConfigError } = await import('./config.js');
  const read = () => {
    try {
      return loadConfig(path);
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(err.message);
      throw err;
    }
  };
  const options = read();
  const logger = await makeLogger(settings);
  signals.setLogger(logger);
  logger.info(`config ${path}: ${Object.keys(options.tunnels).length} tunnels`, { file: path });
  await runTunnels(options, logger, signals, inspectArg(argv.inspect), { file: path, read });
}
