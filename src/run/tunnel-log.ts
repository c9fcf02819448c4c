/**
 * The log lines of a tunnel's transitions (`connecting to`, `listening at`, `connection
 * failed: ...` and `reconnecting in ...`, the error that ends it), for `trackTunnel`.
 * A retry whose warning the rate limit suppressed (`log-rate-limit.ts`) logs its
 * follow-up lines at debug: a flood of retries stays as bounded as its warnings.
 */
import type { ClientContext } from '../../machines/client.js';
import { formatHostPort } from '../net/address.js';
import type { Logger } from '../log/logger.js';
import { SUPPRESSED } from '../log/rate-limit.js';

/**
 * Logs a transition of a tunnel's client machine, from `from` to `state`. `quiet`: the
 * last retry's warning was rate-limited, and so go its follow-up lines (to debug).
 * Returns the new `quiet`.
 */
export function logTransition(logger: Logger, from: string | undefined, state: string, ctx: ClientContext, quiet: boolean): boolean {
  const server = formatHostPort(ctx.settings.to, ctx.settings.controlPort);
  const attempt = ctx.attempt;
  switch (state) {
    case 'connecting':
      if (attempt > 1 && !quiet) logger.info(`connecting to ${server}`, { state, attempt, port: ctx.requestedPort });
      else logger.debug(`connecting to ${server}`, { state, attempt });
      break;
    case 'authenticating':
      logger.debug('connected, authenticating', { state, attempt, server, port: ctx.requestedPort });
      break;
    case 'listening':
      if (ctx.reconnects > 0) logger.info('reconnected', { state, attempt, port: ctx.publicPort });
      logger.info(`listening at ${formatHostPort(ctx.settings.to, ctx.publicPort!)}`, {
        state,
        port: ctx.publicPort,
        local: formatHostPort(ctx.settings.localHost, ctx.settings.localPort),
      });
      break;
    case 'backoff': {
      const err = ctx.lastError!;
      const what = from === 'listening' ? 'connection lost' : 'connection failed';
      const hidden = logger.warn(`${what}: ${err.message}`, { state, attempt, code: err.code, class: err.class }) === SUPPRESSED;
      logger[hidden ? 'debug' : 'info'](`reconnecting in ${((ctx.retryDelayMs ?? 0) / 1000).toFixed(1)}s (attempt ${attempt + 1})`, {
        state,
        attempt: attempt + 1,
        delay: ctx.retryDelayMs,
      });
      return hidden;
    }
    case 'fatal': {
      const err = ctx.lastError!;
      const why =
        err.class === 'fatal'
          ? 'not retrying'
          : !ctx.everListened
            ? 'first attempt failed (use --retry-first to keep trying)'
            : 'reconnect disabled (--no-reconnect)';
      logger.error(err.message, { state, attempt, code: err.code, class: err.class, reason: why });
      break;
    }
    case 'stopped':
      logger.info('stopped', { state, from });
      break;
  }
  return quiet;
}
