/**
 * The client machine's settings (`machines/client.ts`) and the rules of its sticky
 * public port: a tunnel given any port asks for the one it had again, a few times,
 * before it takes any.
 */
import type { ClientRuntime } from '../src/client/actors.js';
import type { ErrorCode } from '../src/client/errors.js';
import type { ServerAddress } from '../src/client/servers.js';

/** Settings of one tunnel; the names and defaults match the CLI's flags. */
export interface TunnelSettings {
  /** Server host (`--to`). */
  to: string;
  /** Server control port (`--control-port`, default 7835). */
  controlPort: number;
  /** Local service host (`--local-host`, default localhost). */
  localHost: string;
  /** Local service port. */
  localPort: number;
  /** Public port to ask for (`--port`, 0 = any). */
  port: number;
  /** Declare the connection lost after this long without a message (ms). */
  heartbeatTimeoutMs: number;
  /** Cap on the reconnect delay (ms). */
  maxReconnectDelayMs: number;
  /** Reconnect after a loss (false: `--no-reconnect`). */
  reconnect: boolean;
  /** Retry the first attempt too instead of failing fast (`--retry-first`). */
  retryFirst: boolean;
  /** Uptime after which the backoff schedule starts over (ms). */
  stableAfterMs: number;
  /** Idle pooled data connections to ask a bore-ts server for (`--pool`, 0: none). */
  pool: number;
  /** Every server, in the order tried (`--to a,b`; `machines/failover.ts`); absent: `to` and `controlPort` alone. */
  servers?: readonly ServerAddress[];
  /** Return to the first server once it has answered for `stableAfterMs` (`--prefer-first`). */
  preferFirst?: boolean;
}

/** Input of the client machine. */
export interface ClientMachineInput {
  settings: TunnelSettings;
  runtime: ClientRuntime;
}

/** Times the old public port is asked for again before the client takes any port. */
export const STICKY_PORT_TRIES = 3;

/** What the sticky port's rules read of the machine's context. */
interface StickyContext {
  settings: Pick<TunnelSettings, 'port'>;
  /** The port asked for in the current attempt. */
  requestedPort: number;
  /** Consecutive refusals of the old port. */
  stickyRefusals: number;
}

/** The current attempt asks for the old port on its own (the tunnel was given any port). */
export function isStickyRequest(context: StickyContext): boolean {
  return context.settings.port === 0 && context.requestedPort !== 0;
}

/** A refusal of the old port we asked for on our own: fall back to any port, never fatal. */
export function stickyPortRefusal(context: StickyContext, code: ErrorCode): boolean {
  if (!isStickyRequest(context)) return false;
  if (code === 'port-in-use') return context.stickyRefusals + 1 >= STICKY_PORT_TRIES;
  return code === 'port-not-allowed' || code === 'permission-denied' || code === 'bind-failed';
}
