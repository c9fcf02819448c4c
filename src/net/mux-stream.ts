/**
 * One stream of a multiplexed connection (`mux.ts`, which runs the connection): a
 * `Duplex` of a public connection's bytes with per-stream flow control and half-close
 * (see that module's comment).
 */
import { Duplex } from 'node:stream';
import { MUX_MAX_DATA, MUX_WINDOW, MuxType, type MuxTypeCode } from '../protocol/mux-frames.js';

/** Most payload a stream sends in one frame (a receiver takes up to `MUX_MAX_DATA`); the socket's mark is checked between frames. */
export const MUX_FRAME = 64 * 1024;
/** Most a stream's window grows to (see {@link MuxStream}'s `_read`). */
export const MUX_MAX_WINDOW = 4 * 1024 * 1024;

/** What a stream asks of its connection (`MuxSession`); see there. */
export interface MuxLink {
  /** Writes a frame without payload. */
  control(type: MuxTypeCode, stream: number, length?: number): void;
  /** Writes a `DATA` frame; false once the socket holds its mark (then wait for {@link whenDrained}). */
  data(stream: number, bytes: Buffer, written?: () => void): boolean;
  /** Calls `cb` once the socket holds less than its mark (or closed). */
  whenDrained(cb: () => void): void;
  /** Whether the socket holds nothing unsent (or is closed). */
  readonly flushed: boolean;
  /** A stream still holds bytes of the chunk being read: the next read goes into a fresh buffer. */
  held(): void;
  /** A stream is gone. */
  forget(id: number): void;
}

/** A stream's error: reset by the peer, or its connection gone. */
function streamError(message: string, code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(message), { code });
}

/** One public connection on a multiplexed connection: a `Duplex` of its bytes (see `mux.ts`'s module comment). */
export class MuxStream extends Duplex {
  /** The stream's number on its connection. */
  readonly id: number;
  readonly #session: MuxLink;
  /** Bytes this end may still send before the peer's next `WINDOW`. */
  #credit = MUX_WINDOW;
  /** Bytes received and not yet credited back to the peer. */
  #unacked = 0;
  /** The credit this end gives: {@link MUX_WINDOW}, doubled up to {@link MUX_MAX_WINDOW} while the reader keeps up. */
  #window = MUX_WINDOW;
  /** A write waiting for credit or for the socket: its rest, its callback, and whether it is borrowed ({@link sendBorrowed}). */
  #waiting: { chunk: Buffer; cb: (err?: Error | null) => void; borrowed: boolean } | undefined;
  /** @internal The socket this stream's bytes are written to ({@link joinStream}): whether it still holds them. */
  sink: { readonly writableLength: number } | undefined;
  #finSent = false;
  #finReceived = false;
  /** The peer reset the stream (or the connection went): no `RST` goes back. */
  #reset = false;
  /** The waiting write waits for the socket to drain. */
  #draining = false;

  /** @internal Made by the connection (`MuxSession`). */
  constructor(session: MuxLink, id: number) {
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
