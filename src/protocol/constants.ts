/**
 * Facts both ends of the protocol share, each defined once (as the Rust bore's
 * `shared.rs`): the control port, the network timeout, the frame limit, and the error
 * texts a server sends with the client's code for each. Bottom layer: imports nothing.
 */

/** TCP port of the control connection (bore's `CONTROL_PORT`). */
export const CONTROL_PORT = 7835;

/** Longest frame (JSON text, without its NUL) a bore peer accepts (bore's `MAX_FRAME_LENGTH`). */
export const MAX_FRAME_LENGTH = 256;

/**
 * Largest pool of data connections a client may ask for or a server may allow (`--pool`,
 * `--max-pool`). On the wire any u32 is accepted: a larger request gets the server's cap.
 */
export const MAX_POOL_SIZE = 1024;

/**
 * Timeout for network connections and handshake messages (bore's `NETWORK_TIMEOUT`,
 * 3 s): the client's connect and handshake replies, the server's whole handshake.
 */
export const NETWORK_TIMEOUT_MS = 3000;

/**
 * Interval between a server's heartbeats on a control connection (the Rust bore's 500 ms);
 * a bore-ts client may ask a bore-ts server for a slower one (`HeartbeatInterval`).
 */
export const HEARTBEAT_INTERVAL_MS = 500;

/**
 * The texts of the `Error` messages a server sends, by the code the client reports
 * for each: the Rust server's (its clients match on some of them) and
 * `too-many-tunnels`, `address-cooling-down` and `tls-required`, which only this server sends. The server sends only these
 * texts, and the client's error codes include these keys, so a text or code added
 * on one side and not the other fails to compile.
 */
export const SERVER_ERROR_TEXTS = {
  'invalid-secret': 'invalid secret',
  'secret-required': 'server requires secret, but no secret was provided',
  'port-not-allowed': 'client port number not in allowed range',
  'port-in-use': 'port already in use',
  'permission-denied': 'permission denied',
  'bind-failed': 'failed to bind to port',
  'no-free-port': 'failed to find an available port',
  'too-many-tunnels': 'too many tunnels from this address',
  'address-cooling-down': 'too many failed handshakes from this address, try again later',
  'tls-required': 'this server requires TLS: connect with --tls',
} as const;

/** Code of an error a server reports with an `Error(text)` message. */
export type ServerErrorCode = keyof typeof SERVER_ERROR_TEXTS;

/** Text of an `Error` message a server sends. */
export type ServerErrorText = (typeof SERVER_ERROR_TEXTS)[ServerErrorCode];

const CODE_OF_TEXT: ReadonlyMap<string, ServerErrorCode> = new Map(
  (Object.keys(SERVER_ERROR_TEXTS) as ServerErrorCode[]).map((code) => [SERVER_ERROR_TEXTS[code], code]),
);

/** The code of a server's `Error(text)`; `undefined` for a text not in {@link SERVER_ERROR_TEXTS}. */
export function serverErrorCode(text: string): ServerErrorCode | undefined {
  return CODE_OF_TEXT.get(text);
}
