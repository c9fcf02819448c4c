/**
 * Defaults of the server's options ({@link ServerOptions} in `server.ts`), which are
 * also the defaults of `bore server`'s flags. Plain values only: the CLI imports this
 * module to build its help without loading the server.
 */
import { CONTROL_PORT, NETWORK_TIMEOUT_MS } from '../protocol/constants.js';

/** The per-address limits' defaults, defined in `peer-limits.ts`. */
export { AUTH_FAILURE_WINDOW_MS, IPV6_PREFIX_LENGTH, MAX_AUTH_FAILURES, MAX_TUNNELS_PER_ADDR } from './peer-limits.js';

/** Default port of the control listener (the protocol's). */
export const DEFAULT_CONTROL_PORT = CONTROL_PORT;
/** Default lowest public port a client may get. */
export const DEFAULT_MIN_PORT = 1024;
/** Default highest public port a client may get. */
export const DEFAULT_MAX_PORT = 65535;
/** Default address of the control and public listeners. */
export const DEFAULT_BIND_ADDR = '0.0.0.0';
/** Default bound on detecting a silently dead client. */
export const CLIENT_TIMEOUT_MS = 15_000;
/** Part of the client timeout kept for the heartbeat interval and timer granularity. */
export const CLIENT_TIMEOUT_SLACK_MS = 1000;
/** Shortest client timeout accepted: twice its slack. */
export const MIN_CLIENT_TIMEOUT_MS = 2 * CLIENT_TIMEOUT_SLACK_MS;
/** Default cap on unclaimed public connections per tunnel. */
export const MAX_PENDING_PER_TUNNEL = 1024;
/** Default cap on the idle pooled data connections a client may keep per tunnel. */
export const MAX_POOL_PER_TUNNEL = 16;
/** How long a public connection waits for its `Accept`. */
export const ACCEPT_TIMEOUT_MS = 10_000;
/** Deadline for a whole handshake (challenge answer and `Hello`/`Accept`): the network timeout. */
export const HANDSHAKE_TIMEOUT_MS = NETWORK_TIMEOUT_MS;
/** How long a closing server lets proxied connections finish (`close()`, `--drain-timeout`). */
export const DRAIN_TIMEOUT_MS = 5000;
/** Default ACME directory of `--tls-acme`: Let's Encrypt's production CA. */
export const DEFAULT_ACME_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
/** Default port of the ACME HTTP-01 responder: the port the CA connects to. */
export const DEFAULT_ACME_HTTP_PORT = 80;
