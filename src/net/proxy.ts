/**
 * The hot path: bytes between two sockets, both ways, with backpressure, half-close
 * passed through (one side's FIN ends the other's writes), and both sockets destroyed
 * as soon as either fails. No logging, no per-chunk work beyond the copy itself.
 *
 * Each direction reads into one reused buffer instead of a fresh 64 KiB allocation per
 * read (what `pipe` does): on loopback that allocation, its page faults and its garbage
 * collection cost about four times the CPU of the copy itself (see bench/README.md).
 * This is Node's own `onread` mechanism (a public option of `net.connect`), applied to
 * sockets that are already open, which needs three Node internals: the socket's
 * `kBuffer`/`kBufferCb` symbols and its handle's `useUserBuffer`. They have been stable
 * since Node 12; where they are missing the proxy falls back to `pipe`.
 *
 * A direction starts with a 64 KiB buffer and moves to a 512 KiB one at its first read
 * that fills the buffer (a bulk transfer): on loopback 1 GiB through the tunnel went
 * from 1.18 GB/s to 1.57-1.70 GB/s (256 KiB: 1.39-1.45; 1 MiB: no better than 512 KiB),
 * while short exchanges keep the small buffer. The swap uses the socket's `kBufferGen`
 * hook, also internal; without it the buffer stays at 64 KiB.
 *
 * Read buffers outlive their connection: once both sockets have closed, nothing reads
 * into or writes from them any more, and they are kept (up to 64 small and 16 bulk ones)
 * for the next connections. Without that, each connection allocated 128 KiB, and 512 KiB
 * per bulk direction, of malloc memory that lived until the next garbage collection,
 * and glibc kept what they freed: after the 100,000 connections of `bench/churn.ts`,
 * 41-62 MB of the server's and of the client's RSS was free memory in glibc's main
 * arena (15-17 MB with the spare buffers; see bench/README.md).
 *
 * Backpressure: after each read the chunk is written to the other socket; if the kernel
 * did not take it all at once, reading stops until the write completes, so at most one
 * buffer per direction is ever in flight, whatever the reader's pace.
 *
 * A TLS socket's reads are different (see {@link forwardGathering}): Node's TLSWrap
 * hands over its cleartext one record (at most 16 KiB) at a time, every record it can
 * decrypt from what it read, even after reading was stopped; so those records are
 * copied out of the read buffer (a record must not overwrite bytes a pending write still
 * holds) and gathered into one write per turn of the event loop.
 */
import type { Socket } from 'node:net';
import { onClose, onEnd } from './socket-events.js';

/** Size of the read buffer of each direction at first (Node's own read size). */
export const READ_BUFFER_SIZE = 64 * 1024;
/** Size a direction's read buffer grows to once a read fills it. */
export const BULK_READ_BUFFER_SIZE = 512 * 1024;

/** Most cleartext Node's TLSWrap hands over per read of a TLS socket (one TLS record). */
export const TLS_RECORD_SIZE = 16 * 1024;
/** Bytes a direction from a TLS socket gathers before it writes them (one write per turn of the loop below that). */
export const GATHER_BUFFER_SIZE = 256 * 1024;

/** Options of {@link proxy}. */
export interface ProxyOptions {
  /** Read into a reused buffer when the Node internals allow it (default true); false always uses `pipe`. */
  reuseBuffers?: boolean;
  /** Called once, after the first bytes read from `b` were handed to `a` (the reply, on a request-response connection). */
  onReply?: () => void;
}

/** The libuv stream handle behind a socket, as far as the proxy uses it. */
interface StreamHandle {
  reading?: boolean;
  useUserBuffer?(buffer: Uint8Array): void;
  readStart?(): number;
}

type InternalSocket = Socket & { _handle?: StreamHandle | null } & Record<symbol, unknown>;

/** The `kBuffer`/`kBufferCb`/`kBufferGen` symbols of `net.Socket`, found once; null if absent. */
let userBufferSymbols: { buffer: symbol; callback: symbol; generator: symbol | undefined } | null | undefined;

function findSymbols(socket: Socket): { buffer: symbol; callback: symbol; generator: symbol | undefined } | null {
  if (userBufferSymbols === undefined) {
    const symbols = Object.getOwnPropertySymbols(socket);
    const buffer = symbols.find((s) => s.description === 'kBuffer');
    const callback = symbols.find((s) => s.description === 'kBufferCb');
    const generator = symbols.find((s) => s.description === 'kBufferGen');
    userBufferSymbols = buffer && callback ? { buffer, callback, generator } : null;
  }
  return userBufferSymbols;
}

/**
 * Makes every read of `src` go into `buffer` and calls `onRead` with the bytes read (a
 * view of the buffer, valid only during the call); `onRead` returning false stops
 * reading until the returned `restart()` is called. With `grow`, the first read that
 * fills the buffer replaces it with the one `grow()` returns for the reads after it (the
 * old one stays valid for whatever still uses it). Bytes the stream had already queued
 * are passed first. The socket is resumed. Returns null, and changes nothing, where this
 * Node lacks the internals it needs (or the socket was created with `onread`).
 */
export function readIntoBuffer(src: Socket, buffer: Buffer, onRead: (chunk: Buffer) => boolean, grow?: () => Buffer): (() => void) | null {
  const symbols = findSymbols(src);
  const socket = src as InternalSocket;
  const handle = socket._handle;
  if (!symbols || !handle || typeof handle.useUserBuffer !== 'function' || typeof handle.readStart !== 'function') return null;
  if (socket[symbols.buffer] != null || socket[symbols.callback] != null) return null;

  for (let chunk = src.read() as Buffer | null; chunk !== null; chunk = src.read() as Buffer | null) onRead(chunk);
  let full = false;
  // Called by Node for every read with the buffer it read into; returning false stops
  // reading (readStop).
  socket[symbols.callback] = (nread: number, into: Buffer): boolean => {
    if (nread === into.length) {
      full = true;
      return onRead(into);
    }
    return onRead(into.subarray(0, nread));
  };
  // Called by Node after every read: a buffer returned here is used from the next read on.
  if (grow && symbols.generator) {
    const generator = symbols.generator;
    socket[generator] = (): Buffer | null => {
      if (!full) return null;
      socket[generator] = null;
      return grow();
    };
  }
  socket[symbols.buffer] = buffer;
  handle.useUserBuffer(buffer);
  src.resume();
  return () => {
    if (src.destroyed || socket._handle !== handle) return;
    handle.reading = true;
    handle.readStart!();
  };
}

/**
 * Reads `src` into reused buffers of `size` bytes for as long as nothing holds on to
 * what was read: `onRead` gets each chunk (a view of the buffer) and returns whether its
 * bytes are still held after it returns (queued for a write, buffered for a reader); the
 * reads after that go into a fresh buffer, and the held one is left to its holders (and
 * then the garbage collector). Reading never stops here: the caller's flow control
 * bounds what is held. Returns false, and changes nothing, where this Node lacks the
 * internals (or `src` is a TLS socket, whose records are handed over regardless).
 */
export function readIntoFreshWhenHeld(src: Socket, size: number, onRead: (chunk: Buffer) => boolean): boolean {
  const generator = findSymbols(src)?.generator;
  if (isTls(src) || !generator) return false;
  let held = false;
  const restart = readIntoBuffer(src, Buffer.allocUnsafeSlow(size), (chunk) => {
    held = onRead(chunk) || held;
    return true;
  });
  if (!restart) return false;
  // Called by Node after every read: a buffer returned here is used from the next read on.
  (src as InternalSocket)[generator] = (): Buffer | null => {
    if (!held) return null;
    held = false;
    return Buffer.allocUnsafeSlow(size);
  };
  return true;
}

/**
 * Read buffers of closed connections, kept for the next connections: at most `max` of
 * each size (4 MiB of small ones, 8 MiB of bulk ones); the rest is left to the garbage
 * collector.
 */
const spares = new Map<number, { buffers: Buffer[]; max: number }>([
  [READ_BUFFER_SIZE, { buffers: [], max: 64 }],
  [GATHER_BUFFER_SIZE, { buffers: [], max: 16 }],
  [BULK_READ_BUFFER_SIZE, { buffers: [], max: 16 }],
]);

/** A read buffer of `size` bytes: a spare one if there is one. */
function takeBuffer(size: number): Buffer {
  return spares.get(size)!.buffers.pop() ?? Buffer.allocUnsafeSlow(size);
}

/** Keeps `buffer`, which nothing reads into or writes from any more, as a spare if there is room. */
export function releaseBuffer(buffer: Buffer): void {
  const kept = spares.get(buffer.length)!;
  if (kept.buffers.length < kept.max) kept.buffers.push(buffer);
}

/**
 * Forwards `src` to `dst` reading into one reused buffer, and adds every buffer it
 * reads into to `used`. Returns false (and does nothing) if this Node lacks the
 * internals it needs.
 */
function forwardReusingBuffer(src: Socket, dst: Socket, used: Buffer[], first?: () => void): boolean {
  let stalled = false;
  const written = (): void => {
    // Only once every write is done: an earlier write's callback must not restart reading.
    if (!stalled || dst.writableLength > 0) return;
    stalled = false;
    restart!();
  };
  const restart = readReusing(src, used, (chunk) => {
    dst.write(chunk, written);
    if (first) first = once(first);
    if (dst.writableLength === 0) return true; // the kernel took it all: the buffer is free again
    stalled = true;
    return false;
  });
  if (!restart) return false;
  onEnd(src, () => dst.end());
  return true;
}

/**
 * {@link readIntoBuffer} with a spare read buffer of {@link READ_BUFFER_SIZE}, moved to one
 * of {@link BULK_READ_BUFFER_SIZE} at the first read that fills it; each buffer is added
 * to `used` (the caller makes them spares again once nothing uses them). Returns the
 * restart, or null (nothing changed) where this Node lacks the internals.
 */
export function readReusing(src: Socket, used: Buffer[], onRead: (chunk: Buffer) => boolean): (() => void) | null {
  const buffer = takeBuffer(READ_BUFFER_SIZE);
  const restart = readIntoBuffer(src, buffer, onRead, () => {
    const bulk = takeBuffer(BULK_READ_BUFFER_SIZE);
    used.push(bulk);
    return bulk;
  });
  if (!restart) {
    releaseBuffer(buffer);
    return null;
  }
  used.push(buffer);
  return restart;
}

/** Calls `callback` and returns undefined: `first = once(first)` calls a one-time callback and forgets it. */
function once(callback: () => void): undefined {
  callback();
  return undefined;
}

/** Whether `socket` is a TLS socket (its reads come one TLS record at a time); tells it without loading `tls`. */
export function isTls(socket: Socket): boolean {
  return (socket as Socket & { encrypted?: boolean }).encrypted === true;
}

/**
 * Forwards a TLS socket `src` to `dst`. Its TLSWrap decrypts every record it can from
 * what it read and hands each one over into the same read buffer, without checking
 * whether reading was stopped: a record written straight from that buffer could be
 * overwritten by the next one while the kernel had not taken it (the bytes of a slow
 * reader's connection corrupted). So every record is copied into a gather buffer: a
 * short record (the end of what the peer wrote) is written at once, full ones once per
 * turn of the event loop or when the gather buffer is full, in one write instead of
 * one per 16 KiB. A gather buffer a pending write still holds is set aside until its
 * write completes. Reading stops while more than a gather buffer waits in `dst`.
 * Returns false (and does nothing) if this Node lacks the internals it needs.
 */
function forwardGathering(src: Socket, dst: Socket, used: Buffer[], first?: () => void): boolean {
  const free: Buffer[] = [];
  const newGather = (): Buffer => {
    const buffer = free.pop();
    if (buffer) return buffer;
    const taken = takeBuffer(GATHER_BUFFER_SIZE);
    used.push(taken);
    return taken;
  };
  let gather = newGather();
  let filled = 0;
  let scheduled: NodeJS.Immediate | undefined;
  let stalled = false;
  const written = (): void => {
    if (!stalled || dst.writableLength > 0) return;
    stalled = false;
    restart!();
  };
  const flush = (): void => {
    if (scheduled) clearImmediate(scheduled);
    scheduled = undefined;
    if (filled === 0 || dst.destroyed) return;
    const buffer = gather;
    let held = false;
    dst.write(buffer.subarray(0, filled), () => {
      if (held) free.push(buffer);
      written();
    });
    if (first) first = once(first);
    filled = 0;
    // The kernel did not take it all: the write holds the buffer until its callback.
    held = dst.writableLength > 0;
    if (held) gather = newGather();
  };
  const read = takeBuffer(READ_BUFFER_SIZE);
  const restart = readIntoBuffer(src, read, (chunk) => {
    if (filled + chunk.length > gather.length) flush();
    chunk.copy(gather, filled);
    filled += chunk.length;
    if (chunk.length < TLS_RECORD_SIZE) flush();
    else scheduled ??= setImmediate(flush);
    if (dst.writableLength <= GATHER_BUFFER_SIZE) return true;
    stalled = true;
    return false;
  });
  if (!restart) {
    releaseBuffer(read);
    return false;
  }
  used.push(read);
  onEnd(src, () => {
    flush();
    dst.end();
  });
  return true;
}

/**
 * Pipes `a` and `b` into each other; `head` (bytes already read from `a`) is written
 * to `b` first. Resolves when both sockets are closed; never rejects.
 */
export function proxy(a: Socket, b: Socket, head?: Buffer, options: ProxyOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    // Once both sockets are closed nothing reads into or writes from their buffers.
    const used: Buffer[] = [];
    const closed = () => {
      if (--open > 0) return;
      for (const buffer of used) releaseBuffer(buffer);
      resolve();
    };
    const fail = () => {
      a.destroy();
      b.destroy();
    };
    // Either socket may already have ended, failed or closed before it was handed
    // over (a FIN read while it waited for its peer): onEnd/onClose see that too.
    for (const s of [a, b]) {
      onClose(s, closed);
      s.on('error', fail);
    }
    if (a.destroyed || b.destroyed) {
      fail();
      return;
    }
    if (head && head.length > 0) b.write(head);
    const reuse = options.reuseBuffers ?? true;
    const forward = (src: Socket, dst: Socket, first?: () => void) =>
      reuse && (isTls(src) ? forwardGathering(src, dst, used, first) : forwardReusingBuffer(src, dst, used, first));
    if (!forward(a, b)) a.pipe(b);
    if (!forward(b, a, options.onReply)) {
      const onReply = options.onReply;
      if (onReply) b.once('data', () => process.nextTick(onReply));
      b.pipe(a);
    }
  });
}
