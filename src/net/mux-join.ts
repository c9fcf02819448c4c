/**
 * A multiplexed stream joined to a socket (a visitor's on the server, the local
 * service's on the client): the bytes of a tunnel that multiplexes its visitors.
 *
 * The socket's bytes go into the stream as `src/net/proxy.ts` moves bytes between two
 * sockets: read into one reused buffer and framed straight from it
 * ({@link MuxStream.sendBorrowed}), reading stopped while a frame still holds the
 * buffer (waiting for credit, or for the multiplexed socket to take it). Through `pipe`
 * each 64 KiB read was a new allocation, and the garbage collector took a fifth of
 * each end's CPU in a bulk transfer (bench/README.md). The stream's bytes reach the
 * socket by `pipe`: they are views of the multiplexed connection's read buffer, which
 * moves to a fresh one whenever the socket does not take them at once
 * (`MuxStream.sink`, `readIntoFreshWhenHeld`).
 */
import type { Socket } from 'node:net';
import type { MuxStream } from './mux.js';
import { readReusing, releaseBuffer } from './proxy.js';
import { onClose, onEnd } from './socket-events.js';

/**
 * Joins `socket` to `stream` both ways until both have ended: each end's FIN passes on,
 * and a failure of either destroys the other (a stream destroyed before both ends
 * finished resets the peer's).
 */
export function joinStream(socket: Socket, stream: MuxStream): void {
  if (!forwardIntoStream(socket, stream)) socket.pipe(stream);
  stream.sink = socket;
  stream.pipe(socket);
  socket.on('error', () => stream.destroy());
  stream.on('error', () => socket.destroy());
  // A socket that closed with both ends finished leaves the stream to send what it still
  // holds (a write waiting for credit) and end by itself; any other close resets it.
  onClose(socket, () => {
    if (!stream.destroyed && (socket.errored || !socket.readableEnded || !socket.writableFinished)) stream.destroy();
  });
}

/**
 * Reads `socket` into a reused buffer (64 KiB, 512 KiB from its first full read) and
 * sends each read on `stream` from it; false (nothing changed) where Node lacks the
 * internals. The buffers go back to the proxy's spares once both have closed.
 */
function forwardIntoStream(socket: Socket, stream: MuxStream): boolean {
  const used: Buffer[] = [];
  let stalled = false;
  const released = (): void => {
    if (!stalled) return;
    stalled = false;
    restart!();
  };
  // Bytes read before the join (Node's own buffers) go first, through the stream's queue.
  for (let queued = socket.read() as Buffer | null; queued !== null; queued = socket.read() as Buffer | null) stream.write(queued);
  const restart = readReusing(socket, used, (chunk) => {
    if (stream.sendBorrowed(chunk, released)) return true;
    stalled = true;
    return false;
  });
  if (!restart) return false;
  onEnd(socket, () => stream.end());
  // Spare again once both have closed, unless a frame the multiplexed socket has not
  // sent yet still holds one (then they are left to the garbage collector).
  let open = 2;
  const closed = () => {
    if (--open === 0 && !stalled) for (const b of used) releaseBuffer(b);
  };
  onClose(socket, closed);
  onClose(stream, closed);
  return true;
}
