/**
 * Defaults of the tunnel's options (`TunnelOptions`, declared in `tunnel-options.ts`),
 * which are also the defaults of `bore local`'s flags, and the exit codes of a tunnel.
 * Plain values only: the CLI imports this module to build its help without loading the
 * client.
 */
import { defaultsOf } from '../options/table.js';
import { TUNNEL_OPTIONS } from './tunnel-options.js';

/** Default of each optional tunnel option, durations in milliseconds (the CLI's flags take seconds). */
export const TUNNEL_DEFAULTS = defaultsOf(TUNNEL_OPTIONS);

/**
 * Exit codes of `bore local` and `bore up`, and each tunnel's `exitCode`: 0 stopped,
 * 2 usage error, 3 fatal error (not retried), 4 lost or unreachable without retry.
 */
export const EXIT = { stopped: 0, usage: 2, fatal: 3, gaveUp: 4 } as const;
