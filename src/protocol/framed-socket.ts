/**
 * A socket that speaks bore frames, like the Rust `Delimited<TcpStream>`: send typed
 * messages, receive them one at a time with a deadline, or switch to a stream of
 * messages; and hand the raw socket (plus any bytes read past the last frame) back for
 * proxying.
 */
import type { Socket } from 'node:net';
import { NETWORK_TIMEOUT_MS } from './constants.js';
import { FrameDecoder, ProtocolError, encodeFrame } from './framing.js';

/** The peer did not send the next message in time. */
export class TimeoutError extends Error {
  override name = 'TimeoutError';
  constructor() {
    super('timed out waiting for initial message');
  }
}

type Waiter<In> = {
  resolve: (msg: In | undefined) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
};

/** A bore-framed connection; `In` is the message type the peer sends. */
export class FramedSocket<In, Out> {
  readonly socket: Socket;
  readonly #decoder = new FrameDecoder();
  readonly #decode: (text: string) => In;
  readonly #encode: (msg: Out) => unknown;
  #waiter: Waiter<In> | undefined;
  #ended = false;
  #failure: Error | undefined;
  #onMessage: ((msg: In) => void) | undefined;

  constructor(socket: Socket, decode: (text: string) => In, encode: (msg: Out) => unknown) {
    this.socket = socket;
    this.#decode = decode;
    this.#encode = encode;
    socket.pause();
    // The socket may have ended, failed or closed before it was framed: start from
    // that state, since its events will not come again. The listeners stay removable
    // (detach) rather than going through socket-events.ts.
    if (socket.errored) this.#failure = socket.errored;
    this.#ended = socket.readableEnded || socket.closed;
    socket.on('data', this.#onData);
    // eslint-disable-next-line no-restricted-syntax -- state checked above
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    // eslint-disable-next-line no-restricted-syntax -- state checked above
    socket.on('close', this.#onClose);
  }

  /**
   * Sends messages in one write (one segment on the wire for a few small frames).
   * Returns the socket's `write` result (false: buffer full).
   */
  send(...msgs: Out[]): boolean {
    const frames = msgs.map((m) => encodeFrame(this.#encode(m)));
    return this.socket.write(frames.length === 1 ? frames[0]! : Buffer.concat(frames));
  }

  /**
   * Receives the next message, or `undefined` at EOF. Rejects with a
   * {@link TimeoutError} after `timeoutMs` (default 3 s; 0 for none), a
   * {@link ProtocolError} for a malformed frame, or the socket's error.
   */
  recv(timeoutMs = NETWORK_TIMEOUT_MS): Promise<In | undefined> {
    if (this.#waiter) return Promise.reject(new Error('recv already pending'));
    try {
      const ready = this.#poll();
      if (ready !== undefined) return Promise.resolve(ready);
    } catch (err) {
      const malformed = err as ProtocolError;
      return Promise.reject(malformed);
    }
    // The stream already stopped (its events may come while no recv is pending).
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#ended) {
      if (this.#decoder.buffered > 0) return Promise.reject(new ProtocolError('connection closed in the middle of a frame'));
      return Promise.resolve(undefined);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter<In> = { resolve, reject };
      if (timeoutMs > 0) {
        waiter.timer = setTimeout(() => this.#settle(undefined, new TimeoutError()), timeoutMs);
      }
      this.#waiter = waiter;
      this.socket.resume();
    });
  }

  /**
   * Switches to push mode: `onMessage` is called for every message as it arrives. The
   * socket's own `end`, `close` and `error` events tell when the stream stops; a
   * malformed frame destroys the socket with a {@link ProtocolError}.
   */
  listen(onMessage: (msg: In) => void): void {
    this.#onMessage = onMessage;
    this.#drain();
    this.socket.resume();
  }

  /**
   * Stops reading frames and returns the bytes already read past the last frame; the
   * socket is left paused with no listeners of ours, ready to be piped.
   */
  detach(): Buffer {
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('error', this.#onError);
    this.socket.off('close', this.#onClose);
    this.socket.pause();
    return this.#decoder.takeRest();
  }

  #poll(): In | undefined {
    const text = this.#decoder.next();
    return text === undefined ? undefined : this.#decode(text);
  }

  #drain(): void {
    try {
      for (let msg = this.#poll(); msg !== undefined; msg = this.#poll()) {
        this.#onMessage!(msg);
        if (this.socket.destroyed) return;
      }
    } catch (err) {
      this.socket.destroy(err as Error);
    }
  }

  #settle(msg: In | undefined, err?: Error): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    this.#waiter = undefined;
    clearTimeout(waiter.timer);
    this.socket.pause();
    if (err) waiter.reject(err);
    else waiter.resolve(msg);
  }

  #onData = (chunk: Buffer): void => {
    this.#decoder.push(chunk);
    if (this.#onMessage) {
      this.#drain();
      return;
    }
    this.socket.pause();
    if (!this.#waiter) return;
    try {
      const msg = this.#poll();
      if (msg !== undefined) this.#settle(msg);
      else this.socket.resume();
    } catch (err) {
      this.#settle(undefined, err as Error);
    }
  };

  #onEnd = (): void => {
    this.#ended = true;
    if (this.#decoder.buffered > 0 && this.#waiter) {
      this.#settle(undefined, new ProtocolError('connection closed in the middle of a frame'));
    } else {
      this.#settle(undefined);
    }
  };

  #onError = (err: Error): void => {
    this.#failure = err;
    this.#settle(undefined, err);
  };

  #onClose = (): void => {
    this.#ended = true;
    this.#settle(undefined, this.#failure);
  };
}

export { ProtocolError };
