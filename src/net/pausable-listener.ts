/**
 * A listener that can stop accepting without giving up its port. Node has no way to
 * pause a `net.Server` (libuv's listening handle accepts while it is open), so a pause
 * keeps a duplicate of the listening socket's descriptor (`dup`, through ffi-rs) and
 * closes the server: the socket stays bound and listening, the kernel keeps completing
 * handshakes into its backlog, and past the backlog visitors' SYNs wait for their
 * retransmissions, as with any process that accepts slowly. A resume listens on the
 * kept descriptor with a new server, which accepts the backlog first.
 */
import net, { type Server, type ServerOpts, type Socket } from 'node:net';
import { handleFd, loadLibc } from './libc.js';

/** How a {@link PausableListener} makes its servers and listens again. */
export interface PausableListenerOptions {
  /** Options of the servers made on resume (the first server's own). */
  serverOptions: ServerOpts;
  /** Listen backlog on resume. */
  backlog: number;
  /** Called with every accepted connection. */
  onConnection: (socket: Socket) => void;
  /** Called with an error of a server made on resume (the first server's handlers are the caller's). */
  onError: (err: Error) => void;
}

/** A listening server that {@link pause}s and {@link resume}s accepting, keeping its port. */
export class PausableListener {
  #server: Server;
  /** The duplicate descriptor of the listening socket while paused. */
  #held: number | undefined;
  #closed = false;
  readonly #options: PausableListenerOptions;

  /** Takes over `server`, listening: its connections go to `options.onConnection` from now on. */
  constructor(server: Server, options: PausableListenerOptions) {
    this.#server = server;
    this.#options = options;
    server.on('connection', options.onConnection);
  }

  /** Whether accepting is paused. */
  get paused(): boolean {
    return this.#held !== undefined;
  }

  /**
   * Stops accepting; the port stays bound and listening. False, with nothing changed,
   * where this cannot be done here (ffi-rs does not load, or the server has no descriptor).
   */
  pause(): boolean {
    if (this.#closed) return false;
    if (this.#held !== undefined) return true;
    const fd = handleFd(this.#server);
    const c = fd === undefined ? null : loadLibc();
    if (!c) return false;
    const held = c.dup(fd!);
    if (held < 0) return false;
    this.#held = held;
    this.#server.close();
    return true;
  }

  /** Accepts again (the connections the kernel kept meanwhile first). */
  resume(): void {
    if (this.#closed || this.#held === undefined) return;
    const { serverOptions, backlog, onConnection, onError } = this.#options;
    const server = net.createServer(serverOptions);
    server.on('connection', onConnection);
    server.on('error', onError);
    server.listen({ fd: this.#held, backlog });
    this.#server = server;
    this.#held = undefined;
  }

  /** Stops listening for good (the port is freed; connections the backlog held are reset). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#held !== undefined) loadLibc()?.close(this.#held);
    else this.#server.close();
    this.#held = undefined;
  }
}
