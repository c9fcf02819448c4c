/**
 * The events of a `BoreServer`, a typed `EventEmitter<ServerEvents>`. Each is
 * emitted once per tunnel or per claimed public connection, never per chunk, and its
 * payload is only built when the event has a listener.
 */
/** A client got its public port (`Hello` answered). */
export interface TunnelOpenedEvent {
  /** The public port. */
  port: number;
  /** The client's control connection, `host:port`. */
  peer: string;
}

/** A tunnel closed; its public port is free again. */
export interface TunnelClosedEvent {
  /** The public port it had. */
  port: number;
  /** The client's control connection, `host:port`. */
  peer: string;
  /**
   * Why: `closed by client`, `server shutting down`, a socket error code such as
   * `ECONNRESET` or `ETIMEDOUT` (a dead client), `client does not read its control connection`, ...
   */
  reason: string;
}

/** A public connection was claimed by its client's data connection and is being proxied. */
export interface ConnectionEvent {
  /** The public port it came in on. */
  port: number;
  /** The visitor, `host:port`. */
  visitor: string;
  /** The id the server announced it with (`Connection(id)`, `Accept(id)`). */
  id: string;
}

/** A proxied public connection ended (the one a {@link ConnectionEvent} announced). */
export interface ConnectionClosedEvent extends ConnectionEvent {
  /** Bytes read from the visitor. */
  bytesIn: number;
  /** Bytes written to the visitor. */
  bytesOut: number;
  /** Time from when the public connection was accepted until it closed, ms. */
  durationMs: number;
  /** How it ended: `closed`, `reset`, or another socket error code. */
  ended: string;
}

/**
 * The events of a `BoreServer`, by name, with their listeners' arguments:
 *
 * - `tunnelOpened`, `tunnelClosed`: a client's tunnel (its public port) opened or closed.
 * - `connection`, `connectionClosed`: a public connection claimed by its client and
 *   proxied, and its end. One that is never claimed emits neither (it is counted in
 *   `counters.publicFailed`, and the access log has it as `unclaimed`).
 * - `error`: a failure of the server itself rather than of one connection, such as the
 *   control listener failing (out of descriptors, libuv usually accepts and closes new
 *   connections itself and reports nothing: the CLI's `fd-watch.ts` says it). It is
 *   always logged at error level; it is emitted only when `error` has a listener, so
 *   unlike a plain `EventEmitter` an unhandled one does not throw (and the server keeps
 *   running).
 */
export interface ServerEvents {
  tunnelOpened: [event: TunnelOpenedEvent];
  tunnelClosed: [event: TunnelClosedEvent];
  connection: [event: ConnectionEvent];
  connectionClosed: [event: ConnectionClosedEvent];
  error: [error: Error];
}
