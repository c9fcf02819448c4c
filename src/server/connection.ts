/**
 * A public connection as the server passes it around: from its accept on a tunnel's
 * port, through the wait for its client's data connection (or a pooled one at once),
 * to the books kept on it when it is proxied and when it ends.
 */
import type { Socket } from 'node:net';

/** A visitor's connection to a tunnel's public port, and what the server knows of it. */
export interface PublicConnection {
  /** The visitor's socket. */
  readonly visitor: Socket;
  /** The public port it came in on (its tunnel's). */
  readonly port: number;
  /** The id the server announces it with (`Connection(id)`, answered by `Accept(id)`). */
  readonly id: string;
  /** The address of its tunnel's client (its control connection), `host:port`. */
  readonly client: string;
  /** When it was accepted (`monotonicMs()`, ms). */
  readonly since: number;
  /**
   * The visitor's address, `host:port`, when it was read at the accept for the access
   * log (a closed socket no longer knows it); `''` when not read.
   */
  readonly peer: string;
}
