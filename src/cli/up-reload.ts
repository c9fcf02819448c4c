/**
 * `bore up`'s reload: each SIGHUP (one during start-up too, see `hangup.ts`) re-reads
 * the config file and applies it to the running set; a file that does not validate
 * changes nothing. When every tunnel has given up after a reload (a wrong secret in
 * the new file, say), the set waits (`waiting`, `machines/supervisor.ts`) rather than
 * ending: the process says so in one line and the next good reload brings the tunnels
 * back.
 */
import { onHangup } from './hangup.js';
import type { Logger } from '../log/logger.js';
import type { Tunnels, TunnelsReload } from '../run/tunnels.js';

/** Reloads `tunnels` from `file` (`read` parses it, or throws) on every SIGHUP, and logs when all of them have given up after one. */
export function reloadOnHangup(tunnels: Tunnels, logger: Logger, file: string, read: () => TunnelsReload): void {
  onHangup(() => {
    logger.info(`received SIGHUP, reloading ${file}`);
    try {
      tunnels.reload(read());
    } catch (err) {
      logger.error(`reload rejected, the running tunnels stay as they were: ${err instanceof Error ? err.message : String(err)}`, { file });
    }
  });
  let waiting = false;
  tunnels.onChange(({ state, tunnels: all }) => {
    if (state === 'waiting' && !waiting) {
      const reasons = [...new Set(Object.values(all).map((t) => t.lastError?.message ?? 'stopped'))];
      logger.error(
        `all tunnels have stopped after the reload of ${file} (${reasons.join('; ')}); waiting for a corrected file and SIGHUP`,
        { file, tunnels: Object.keys(all).length },
      );
    }
    waiting = state === 'waiting';
  });
}
