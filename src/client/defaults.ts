/**
 * Defaults of the tunnel's options (`TunnelOptions` in `tunnel.ts`), which are also the
 * defaults of `bore local`'s flags. Plain values only: the CLI imports this module to
 * build its help without loading the client.
 */
import { CONTROL_PORT } from '../protocol/constants.js';
import { DEFAULT_MAX_DELAY_MS } from './backoff.js';

/** Default of each optional tunnel option, in the option's own unit (seconds for times). */
export const TUNNEL_DEFAULTS = {
  localHost: 'localhost',
  /** 0: any public port. */
  port: 0,
  controlPort: CONTROL_PORT,
  heartbeatTimeout: 8,
  maxReconnectDelay: DEFAULT_MAX_DELAY_MS / 1000,
  reconnect: true,
  retryFirst: false,
  stableAfter: 10,
  drainTimeout: 2,
} as const;
