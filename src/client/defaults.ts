/**
 * Defaults of the tunnel's options (`TunnelOptions` in `tunnel.ts`), which are also the
 * defaults of `bore local`'s flags. Plain values only: the CLI imports this module to
 * build its help without loading the client.
 */
import { CONTROL_PORT } from '../protocol/constants.js';
import { DEFAULT_MAX_DELAY_MS } from './backoff.js';

/** Default of each optional tunnel option, durations in milliseconds (the CLI's flags take seconds). */
export const TUNNEL_DEFAULTS = {
  localHost: 'localhost',
  /** 0: any public port. */
  port: 0,
  controlPort: CONTROL_PORT,
  heartbeatTimeoutMs: 8000,
  maxReconnectDelayMs: DEFAULT_MAX_DELAY_MS,
  reconnect: true,
  retryFirst: false,
  stableAfterMs: 10_000,
  drainTimeoutMs: 2000,
  /** Idle pooled data connections asked of a bore-ts server. */
  pool: 4,
} as const;
