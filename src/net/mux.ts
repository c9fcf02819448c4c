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
import { Duplex } from 'node:stream';
import { MUX_MAX_DATA, MUX_WINDOW, MuxDecoder, MuxType, type MuxTypeCode, muxHeader } from '../protocol/mux-frames.js';
import { boundUnsentBytes } from './socket-options.js';
import { onClose, onEnd } from './socket-events.js';
import { readIntoFreshWhenHeld } from './proxy.js';

/** Size of a multiplexed connection's read buffer (reused while its streams pass their bytes on at once). */
export const MUX_READ_BUFFER = 512 * 1024;
/** Bytes a multiplexed connection's socket may queue (in Node) before its streams' frames wait for it to drain. */
export const MUX_SOCKET_BUFFER = 64 * 1024;
/** Bytes the kernel may hold unsent on a multiplexed connection (`TCP_NOTSENT_LOWAT`, where it can be set). */
export const MUX_UNSENT = 64 * 1024;
/** Most payload a stream sends in one frame (a receiver takes up to `MUX_MAX_DATA`); the socket's mark is checked between frames. */
export const MUX_FRAME = 64 * 1024;
/** The highest stream number; the next is 1 again. */
const MAX_STREAM_ID = 0xffff_ffff;
/** Most a stream's window grows to (see {@link MuxStream}'s `_read`). */
export const MUX_MAX_WINDOW = 4 * 1024 * 1024;

/** A stream's error: reset by the peer, or its connection gone. */
function streamError(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** One public connection on a multiplexed connection: a `Duplex` of its bytes (see the module comment). */
export class MuxStream extends Duplex {
  /** The stream's number on its connection. */
  readonly id: number;
  readonly #session: MuxSession;
  /** Bytes this end may still send before the peer's next `WINDOW`. */
  #credit = MUX_WINDOW;
  /** Bytes received and not yet credited back to the peer. */
  #unacked = 0;
  /** The credit this end gives: {@link MUX_WINDOW}, doubled up to {@link MUX_MAX_WINDOW} while the reader keeps up. */
  #window = MUX_WINDOW;
  /** A write waiting for credit: its rest, its callback, and whether it is borrowed ({@link sendBorrowed}). */
  #waiting: { chunk: Buffer; cb: (err?: Error | null) => void; borrowed: boolean } | undefined;
  /** @internal The socket this stream's bytes are written to ({@link joinStream}): whether it still holds them. */
  sink: { readonly writableLength: number } | undefined;
  #finSent = false;
  #finReceived = false;
  /** The peer reset the stream (or the connection went): no `RST` goes back. */
  #reset = false;
  /** The waiting write waits for the socket to drain. */
  #draining = false;

  /** @internal Made by {@link MuxSession}. */
  constructor(session: MuxSession, id: number) {
    super({ allowHalfOpen: true, readableHighWaterMark: 64 * 1024, writableHighWaterMark: 64 * 1024 });
    this.#session = session;
    this.id = id;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#send(chunk, cb, false)) cb();
  }

  /**
   * Sends `chunk`, a view of a read buffer its caller reuses, without a copy: true if
   * nothing refers to it any more (the kernel took it all); else false, and `released`
   * is called once nothing does (after a wait for credit, the write, or the stream's
   * end). The caller reads nothing more into the buffer until then, and sends nothing
   * else meanwhile. Bytes queued by `write` go first (the chunk is then copied after them).
   */
  sendBorrowed(chunk: Buffer, released: () => void): boolean {
    if (this.destroyed || this.writableEnded) return true;
    if (this.#waiting?.borrowed) throw new Error('sendBorrowed before the last borrowed chunk was released');
    if (this.#waiting || this.writableLength > 0) {
      this.write(Buffer.from(chunk));
      return true;
    }
    return this.#send(chunk, released, true);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#finSent = true;
    this.#session.control(MuxType.FIN, this.id);
    cb();
  }

  /**
   * The reader wants more: credit goes back once a quarter of the window was read out.
   * If the reader has taken everything that came (nothing left buffered), the window
   * was the limit, not the reader: it doubles, up to {@link MUX_MAX_WINDOW}, so that one
   * stream can fill a link with latency (256 KiB a round trip is 13 MB/s over 20 ms).
   */
  override _read(): void {
    if (this.#unacked < this.#window / 4) return;
    let credit = this.#unacked;
    if (this.readableLength === 0 && this.#window < MUX_MAX_WINDOW) {
      credit += this.#window;
      this.#window *= 2;
    }
    this.#session.control(MuxType.WINDOW, this.id, credit);
    this.#unacked = 0;
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.cb(err ?? streamError('stream closed', 'ERR_STREAM_DESTROYED'));
    if (!this.#reset && !(this.#finSent && this.#finReceived)) this.#session.control(MuxType.RST, this.id);
    this.#session.forget(this.id);
    cb(err);
  }

  /**
   * Sends `chunk` within the credit, in frames of at most {@link MUX_FRAME}, while the
   * socket holds less than its mark (the first frame of a write goes at once, so a short
   * reply never waits behind a drain); the rest waits for credit or for the drain. True
   * when done at once (the caller calls `cb`); else `cb` is called later: once the
   * socket drained below its mark, or (`borrowed`) once its write of the last frame
   * completed.
   */
  #send(chunk: Buffer, cb: (err?: Error | null) => void, borrowed: boolean): boolean {
    let rest = chunk;
    let ok = true;
    while (rest.length > 0) {
      if (this.#credit <= 0 || !ok) {
        this.#waiting = { chunk: rest, cb, borrowed };
        if (this.#credit > 0) this.#waitForDrain();
        return false;
      }
      const n = Math.min(rest.length, this.#credit, MUX_FRAME);
      this.#credit -= n;
      const last = n === rest.length;
      ok = this.#session.data(this.id, rest.subarray(0, n), borrowed && last ? () => cb() : undefined);
      rest = rest.subarray(n);
    }
    // A borrowed chunk's write calls `cb` when it completes, whatever this returns.
    if (borrowed || ok) return borrowed ? this.#session.flushed : true;
    this.#session.whenDrained(() => cb());
    return false;
  }

  /** The waiting write goes on once the socket drained (not on credit meanwhile). */
  #waitForDrain(): void {
    this.#draining = true;
    this.#session.whenDrained(() => {
      this.#draining = false;
      this.#resume();
    });
  }

  /** Sends the waiting write's rest, if it can go on. */
  #resume(): void {
    const waiting = this.#waiting;
    if (!waiting || this.#draining || this.#credit <= 0) return;
    this.#waiting = undefined;
    if (this.#send(waiting.chunk, waiting.cb, waiting.borrowed)) waiting.cb();
  }

  /** @internal The peer's `WINDOW`: more credit, which sends a waiting write. */
  credited(n: number): void {
    this.#credit += n;
    this.#resume();
  }

  /** @internal Payload of the peer's `DATA`. False: more than the credit given (a protocol violation). */
  received(bytes: Buffer): boolean {
    if (this.destroyed || this.#finReceived) return true;
    this.#unacked += bytes.length;
    if (this.#unacked > this.#window + MUX_MAX_DATA) return false;
    // A view of the session's read buffer goes on only to a reader that takes it now (a
    // flowing pipe to a socket with nothing queued); anything else gets a copy, so that
    // the buffer is free again (a stream not yet joined, or a slow reader).
    const sink = this.sink;
    const direct = sink !== undefined && sink.writableLength === 0 && this.readableFlowing === true && this.readableLength === 0;
    this.push(direct ? bytes : Buffer.from(bytes));
    // The socket did not take it all: the session's next read goes into a fresh buffer.
    if (direct && (this.readableLength > 0 || sink.writableLength > 0)) this.#session.held();
    return true;
  }

  /** @internal The peer's `FIN`. */
  ended(): void {
    this.#finReceived = true;
    this.push(null);
  }

  /** @internal The peer's `RST`, or the connection's end. */
  reset(message: string, code: string): void {
    this.#reset = true;
    this.destroy(streamError(message, code));
  }
}

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
export class MuxSession {
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
    socket.on('drain', () => {
      for (const cb of this.#drained.splice(0)) cb();
    });
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
    if (!this.#closed) this.#socket.write(muxHeader(type, stream, length));
  }

  /**
   * @internal Writes a `DATA` frame; false once the socket holds {@link MUX_SOCKET_BUFFER}
   * bytes not yet taken by the kernel (wait for {@link whenDrained}). The socket's own
   * mark (16 KiB) would drain the pipe between frames on a fast link.
   */
  data(stream: number, bytes: Buffer, written?: () => void): boolean {
    if (this.#closed) return true;
    const socket = this.#socket;
    socket.cork();
    socket.write(muxHeader(MuxType.DATA, stream, bytes.length));
    socket.write(bytes, written);
    socket.uncork();
    return socket.writableLength < MUX_SOCKET_BUFFER;
  }

  /** @internal Calls `cb` once the socket has drained (or closed). */
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
