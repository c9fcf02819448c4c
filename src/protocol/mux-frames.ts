/**
 * The binary frames of a multiplexed data connection (`MuxJoin`, see `messages.ts`):
 * a bore-ts extension that only a bore-ts client asks for and only a bore-ts server
 * answers, so a Rust peer never sees one.
 *
 * A frame is a 9-byte header, `type` (u8), `stream` (u32, big-endian) and `length`
 * (u32), then `length` bytes of payload for `DATA` only:
 * - `OPEN`: server → client, a visitor's connection is stream `stream` (ids count up from 1).
 * - `DATA`: `length` bytes of the stream, within the credit the receiver gave.
 * - `FIN`: the sender's half of the stream ended (a TCP FIN).
 * - `RST`: the stream is gone, both ways (a reset, or the local service unreachable).
 * - `WINDOW`: the receiver consumed `length` more bytes of the stream: more credit.
 *   Stream 0 with length 0 is the server's acknowledgement of the `MuxJoin`.
 *
 * Each stream starts with {@link MUX_WINDOW} bytes of credit each way.
 */
import { ProtocolError } from './framing.js';

/** Frame types. */
export const MuxType = { OPEN: 1, DATA: 2, FIN: 3, RST: 4, WINDOW: 5 } as const;
/** A frame type's number. */
export type MuxTypeCode = (typeof MuxType)[keyof typeof MuxType];

/** Bytes of a frame header. */
export const MUX_HEADER = 9;
/** Credit each stream starts with, each way: bytes a sender may send before the receiver's first `WINDOW`. */
export const MUX_WINDOW = 256 * 1024;
/** Largest `DATA` payload a receiver takes in one frame; more is a protocol error. */
export const MUX_MAX_DATA = 1024 * 1024;

/** The header of a frame. */
export function muxHeader(type: MuxTypeCode, stream: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(MUX_HEADER);
  header[0] = type;
  header.writeUInt32BE(stream, 1);
  header.writeUInt32BE(length, 5);
  return header;
}

/** What a {@link MuxDecoder} hands its reader. */
export interface MuxFrameHandler {
  /** A frame without payload (`OPEN`, `FIN`, `RST`, `WINDOW`; for `WINDOW`, `length` is the credit). */
  control(type: MuxTypeCode, stream: number, length: number): void;
  /** Bytes of a `DATA` frame's payload, as they arrive (a frame's payload may come in several pieces). */
  data(stream: number, bytes: Buffer): void;
}

/**
 * Splits the bytes of a multiplexed connection into frames. A `DATA` payload is handed
 * on in the pieces it arrives in (slices of the chunks read, never copied); only a
 * header split across reads is copied. A frame of an unknown type or a `DATA` frame
 * over {@link MUX_MAX_DATA} throws a {@link ProtocolError}.
 */
export class MuxDecoder {
  readonly #handler: MuxFrameHandler;
  /** A header split across chunks: its first bytes. */
  #partial: Buffer | undefined;
  /** Payload bytes of the current `DATA` frame still to come, and its stream. */
  #remaining = 0;
  #stream = 0;

  constructor(handler: MuxFrameHandler) {
    this.#handler = handler;
  }

  /** Takes the next bytes read. */
  push(chunk: Buffer): void {
    let at = 0;
    if (this.#partial) {
      const need = MUX_HEADER - this.#partial.length;
      const joined = Buffer.concat([this.#partial, chunk.subarray(0, need)]);
      if (joined.length < MUX_HEADER) {
        this.#partial = joined;
        return;
      }
      this.#partial = undefined;
      at = need;
      this.#header(joined, 0);
    }
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - at);
        this.#remaining -= n;
        this.#handler.data(this.#stream, chunk.subarray(at, at + n));
        at += n;
        continue;
      }
      if (chunk.length - at < MUX_HEADER) {
        this.#partial = Buffer.from(chunk.subarray(at));
        return;
      }
      this.#header(chunk, at);
      at += MUX_HEADER;
    }
  }

  #header(buf: Buffer, at: number): void {
    const type = buf[at]!;
    const stream = buf.readUInt32BE(at + 1);
    const length = buf.readUInt32BE(at + 5);
    if (type === MuxType.DATA) {
      if (length > MUX_MAX_DATA) throw new ProtocolError(`multiplexed DATA frame of ${length} bytes (at most ${MUX_MAX_DATA})`);
      this.#stream = stream;
      this.#remaining = length;
      return;
    }
    if (type < MuxType.OPEN || type > MuxType.WINDOW) throw new ProtocolError(`unknown multiplexed frame type ${type}`);
    this.#handler.control(type as MuxTypeCode, stream, length);
  }
}
