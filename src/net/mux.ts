/**
 * Many public connections over one data connection: the bore-ts multiplexing extension
 * (frames in `protocol/mux-frames.ts`). The server opens a stream per visitor on the
 * tunnel's multiplexed connection; the client joins each stream to a new connection to
 * its local service. No TCP or TLS handshake between client and server per visitor.
 *
 * Each stream is a `Duplex` with per-stream flow control: a sender sends at most the
 * credit its receiver gave ({@link MUX_WINDOW} to start) and waits for a `WINDOW` frame
 * for more; a receiver gives credit back as what it received is read out of the stream
 * (in `_read`, a quarter of the window at a time), so a slow local service or visitor
 * holds up only its own stream, and at most a window of it is buffered. The window
 * grows (doubling, to {@link MUX_MAX_WINDOW}) while the reader keeps up with it. Streams
 * send frames of at most {@link MUX_FRAME} while the socket queues less than
 * {@link MUX_SOCKET_BUFFER}, the kernel's unsent bytes bounded ({@link MUX_UNSENT}): a
 * frame waits behind some 200 KiB of other streams' bytes on a slow link, not megabytes.
 *
 * Half-close passes through (`FIN` for a stream's end); a stream destroyed before both
 * ends finished sends `RST`, which destroys the peer's stream. When the connection
 * closes, every stream on it is destroyed. {@link MuxSession.retire} stops new streams
 * and closes the connection once the last one ends (a control session that ended does
 * not cut the connections in flight).
 */
import type { Socket } from 'node:net';
import { MuxDecoder, MuxType, type MuxTypeCode, muxHeader } from '../protocol/mux-frames.js';
import { type MuxLink, MuxStream } from './mux-stream.js';
import { boundUnsentBytes } from './socket-options.js';
import { onClose, onEnd } from './socket-events.js';
import { readIntoFreshWhenHeld } from './proxy.js';

/** Size of a multiplexed connection's read buffer (reused while its streams pass their bytes on at once). */
export const MUX_READ_BUFFER = 512 * 1024;
/** Bytes a multiplexed connection's socket may queue (in Node) before its streams' frames wait for it to drain. */
export const MUX_SOCKET_BUFFER = 64 * 1024;
/** Bytes the kernel may hold unsent on a multiplexed connection (`TCP_NOTSENT_LOWAT`, where it can be set). */
export const MUX_UNSENT = 64 * 1024;
/** The highest stream number; the next is 1 again. */
const MAX_STREAM_ID = 0xffff_ffff;

export { MUX_FRAME, MUX_MAX_WINDOW, MuxStream } from './mux-stream.js';

/** Options of a {@link MuxSession}. */
export interface MuxSessionOptions {
  /** (Client) a stream the server opened, for a new visitor. Without it an `OPEN` is a protocol violation. */
  onStream?: (stream: MuxStream) => void;
  /** (Client) the server acknowledged the connection (`WINDOW` on stream 0): streams may come. */
  onReady?: () => void;
  /** (Server) the number of the first stream (default 1; tests start near the top to see it wrap). */
  firstStreamId?: number;
  /** The connection closed: every stream on it is destroyed. */
  onClose?: () => void;
}

/** One multiplexed data connection, either end (see the module comment). */
export class MuxSession implements MuxLink {
  readonly #socket: Socket;
  readonly #streams = new Map<number, MuxStream>();
  readonly #onStream: ((stream: MuxStream) => void) | undefined;
  readonly #onReady: (() => void) | undefined;
  readonly #drained: (() => void)[] = [];
  #next = 1;
  #retired = false;
  #closed = false;
  /** Bytes of the read buffer are still held by a stream (see {@link held}). */
  #held = false;
  /** (Client) whether the server acknowledged the connection. */
  #acknowledged = false;
  /** Why the connection was closed for a protocol violation, if it was. */
  failure: string | undefined;
  /** Whether the kernel's unsent bytes are bounded ({@link MUX_UNSENT}); else a frame may wait behind its autotuned send buffer. */
  readonly unsentBounded: boolean;

  /** Runs the multiplexed connection on `socket` (its `MuxJoin` exchange done; `head`: bytes read past it). */
  constructor(socket: Socket, options: MuxSessionOptions = {}, head?: Buffer) {
    this.#socket = socket;
    this.#onStream = options.onStream;
    this.#onReady = options.onReady;
    this.#next = options.firstStreamId ?? 1;
    this.unsentBounded = boundUnsentBytes(socket, MUX_UNSENT);
    const decoder = new MuxDecoder({
      control: (type, stream, length) => this.#control(type, stream, length),
      data: (stream, bytes) => {
        const s = this.#streams.get(stream);
        if (s && !s.received(bytes)) this.#fail(`stream ${stream} sent past its credit`);
      },
    });
    const read = (chunk: Buffer): boolean => {
      this.#held = false;
      try {
        decoder.push(chunk);
      } catch (err) {
        this.#fail((err as Error).message);
      }
      return this.#held;
    };
    socket.on('drain', this.#wrote);
    socket.on('error', () => {});
    onEnd(socket, () => socket.destroy());
    onClose(socket, () => {
      this.#closed = true;
      for (const s of [...this.#streams.values()]) s.reset('the multiplexed connection closed', 'ECONNRESET');
      for (const cb of this.#drained.splice(0)) cb();
      options.onClose?.();
    });
    if (head?.length) read(head);
    // Into a reused buffer while the streams pass on what they get at once (or with `data` events where Node lacks it).
    if (!readIntoFreshWhenHeld(socket, MUX_READ_BUFFER, read)) socket.on('data', read);
    socket.resume();
  }

  /** (Client) whether the server acknowledged the connection (`WINDOW` on stream 0): streams may come. */
  get acknowledged(): boolean {
    return this.#acknowledged;
  }

  /** Streams open now. */
  get size(): number {
    return this.#streams.size;
  }

  /** Whether a new stream can be opened here (not closed, not retired). */
  get usable(): boolean {
    return !this.#closed && !this.#retired && !this.#socket.destroyed;
  }

  /** (Server) acknowledges the client's `MuxJoin`: streams may come. */
  ready(): void {
    this.control(MuxType.WINDOW, 0, 0);
  }

  /**
   * (Server) opens a stream for a new visitor: `OPEN` goes to the client. Numbers go up
   * and wrap after 2^32 - 1 to 1 (at 1,000 visitors a second that is 50 days), skipping
   * those still open.
   */
  open(): MuxStream {
    let id = this.#next;
    while (this.#streams.has(id)) id = id >= MAX_STREAM_ID ? 1 : id + 1;
    this.#next = id >= MAX_STREAM_ID ? 1 : id + 1;
    const stream = this.#add(id);
    this.control(MuxType.OPEN, stream.id);
    return stream;
  }

  /** Opens no more streams; closes the connection once the last stream has ended (at once if none is open). */
  retire(): void {
    this.#retired = true;
    if (this.#streams.size === 0) this.#socket.destroy();
  }

  /** Closes the connection at once, destroying every stream. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** @internal A stream still holds bytes of the chunk being read: the next read goes into a fresh buffer. */
  held(): void {
    this.#held = true;
  }

  /** @internal Whether the socket holds nothing unsent (or is closed): the kernel took every write. */
  get flushed(): boolean {
    return this.#closed || this.#socket.writableLength === 0;
  }

  /** @internal Writes a frame without payload. */
  control(type: MuxTypeCode, stream: number, length = 0): void {
    if (!this.#closed) this.#socket.write(muxHeader(type, stream, length), this.#wrote);
  }

  /**
   * @internal Writes a `DATA` frame; false once the socket holds {@link MUX_SOCKET_BUFFER}
   * bytes not yet taken by the kernel (wait for {@link whenDrained}).
   */
  data(stream: number, bytes: Buffer, written?: () => void): boolean {
    if (this.#closed) return true;
    const socket = this.#socket;
    socket.cork();
    socket.write(muxHeader(MuxType.DATA, stream, bytes.length));
    socket.write(bytes, written ? () => (written(), this.#wrote()) : this.#wrote);
    socket.uncork();
    return socket.writableLength < MUX_SOCKET_BUFFER;
  }

  /**
   * A write completed: the waiting streams go on once the socket holds less than its
   * mark. Not the socket's `drain`: that comes only once it is empty, and only if it
   * went past its own mark (64 KiB from Node 22, 16 KiB before), whatever ours is.
   */
  readonly #wrote = (): void => {
    if (this.#drained.length > 0 && (this.#closed || this.#socket.writableLength < MUX_SOCKET_BUFFER)) {
      for (const cb of this.#drained.splice(0)) cb();
    }
  };

  /** @internal Calls `cb` once the socket holds less than its mark (or closed). */
  whenDrained(cb: () => void): void {
    if (this.#closed) cb();
    else this.#drained.push(cb);
  }

  /** @internal A stream is gone: forgotten, and a retired connection closes after its last. */
  forget(id: number): void {
    this.#streams.delete(id);
    if (this.#retired && this.#streams.size === 0) this.#socket.destroy();
  }

  #add(id: number): MuxStream {
    const stream = new MuxStream(this, id);
    this.#streams.set(id, stream);
    return stream;
  }

  #control(type: MuxTypeCode, id: number, length: number): void {
    if (id === 0) {
      if (type === MuxType.WINDOW && length === 0 && !this.#acknowledged) {
        this.#acknowledged = true;
        this.#onReady?.();
      } else this.#fail(`unexpected frame ${type} on stream 0`);
      return;
    }
    if (type === MuxType.OPEN) {
      if (!this.#onStream || this.#streams.has(id)) return this.#fail(`unexpected OPEN of stream ${id}`);
      this.#onStream(this.#add(id));
      return;
    }
    const stream = this.#streams.get(id);
    if (!stream) return; // a stream already closed here: late frames are dropped
    if (type === MuxType.WINDOW) stream.credited(length);
    else if (type === MuxType.FIN) stream.ended();
    else if (type === MuxType.RST) stream.reset('the peer reset the stream', 'ECONNRESET');
  }

  /** A protocol violation: the connection closes (and with it its streams). */
  #fail(reason: string): void {
    this.failure ??= reason;
    this.#socket.destroy();
  }
}
