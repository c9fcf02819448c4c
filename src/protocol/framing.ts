/**
 * NUL-delimited JSON framing, as in the Rust bore's `Delimited` codec.
 *
 * A frame is the JSON text of one message followed by a single 0x00 byte; a frame
 * longer than {@link MAX_FRAME_LENGTH} bytes is a protocol error.
 */
import { MAX_FRAME_LENGTH } from './constants.js';

/** The frame limit, defined in `constants.ts`; re-exported for the framing's users. */
export { MAX_FRAME_LENGTH };

const EMPTY = Buffer.alloc(0);
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A violation of the wire protocol by the peer: the connection should be closed. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Encodes one value as a frame: its JSON text and a NUL byte. */
export function encodeFrame(value: unknown): Buffer {
  const text = JSON.stringify(value);
  const frame = Buffer.allocUnsafe(Buffer.byteLength(text) + 1);
  const n = frame.write(text, 0, 'utf8');
  frame[n] = 0;
  return frame;
}

/**
 * Splits a byte stream into frames. Bytes are pushed as they arrive and frames are
 * pulled one at a time with {@link FrameDecoder.next}, so the reader can stop after any
 * frame and take the raw bytes that follow with {@link FrameDecoder.takeRest} (the
 * `Accept` hand-off). While waiting for a delimiter it holds at most
 * {@link MAX_FRAME_LENGTH} bytes; more is a {@link ProtocolError}.
 */
export class FrameDecoder {
  /** Bytes of an incomplete frame, carried over from earlier chunks. */
  private partial: Buffer = EMPTY;
  /** Bytes not yet looked at. */
  private pending: Buffer = EMPTY;

  /** Adds bytes read from the peer. */
  push(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
  }

  /**
   * Returns the text of the next complete frame, or `undefined` if more bytes are
   * needed. Throws a {@link ProtocolError} for an oversized frame or invalid UTF-8.
   */
  next(): string | undefined {
    const end = this.pending.indexOf(0);
    if (end === -1) {
      if (this.partial.length + this.pending.length > MAX_FRAME_LENGTH) {
        this.partial = this.pending = EMPTY;
        throw new ProtocolError(`frame longer than ${MAX_FRAME_LENGTH} bytes`);
      }
      if (this.pending.length > 0) {
        this.partial = this.partial.length === 0 ? Buffer.from(this.pending) : Buffer.concat([this.partial, this.pending]);
        this.pending = EMPTY;
      }
      return undefined;
    }
    const head = this.pending.subarray(0, end);
    const frame = this.partial.length === 0 ? head : Buffer.concat([this.partial, head]);
    this.partial = EMPTY;
    this.pending = this.pending.subarray(end + 1);
    if (frame.length > MAX_FRAME_LENGTH) {
      throw new ProtocolError(`frame longer than ${MAX_FRAME_LENGTH} bytes`);
    }
    try {
      return utf8.decode(frame);
    } catch {
      throw new ProtocolError('frame is not valid UTF-8');
    }
  }

  /** Number of bytes held (an incomplete frame plus bytes not yet looked at). */
  get buffered(): number {
    return this.partial.length + this.pending.length;
  }

  /** Removes and returns every byte held: the raw stream after the last frame read. */
  takeRest(): Buffer {
    const rest = this.partial.length === 0 ? this.pending : Buffer.concat([this.partial, this.pending]);
    this.partial = this.pending = EMPTY;
    return rest;
  }
}
