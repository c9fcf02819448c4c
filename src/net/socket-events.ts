/**
 * Socket (and stream) lifecycle events that cannot be missed. A socket's `'end'` and `'close'` are
 * emitted once; a listener attached after that moment never runs. That moment can come
 * earlier than it looks: a paused socket still reads, and Node emits `'end'` as soon as
 * it reads the FIN (net's `onStreamRead` calls `read(0)` at EOF), so a socket handed
 * from one owner to the next (framed handshake → proxy) may have ended in between.
 *
 * Every `'end'` or `'close'` listener in `src/` goes through these two functions (a
 * lint rule in eslint.config.js fails on a bare one): each runs its callback on the
 * next tick if the event already happened, else once when it does.
 */
import type { Duplex } from 'node:stream';

/**
 * Calls `fn` once `socket`'s readable side has ended (the peer's FIN was read).
 * Returns a function that cancels the call.
 */
export function onEnd(socket: Duplex, fn: () => void): () => void {
  return once(socket, socket.readableEnded, 'end', fn);
}

/**
 * Calls `fn` once `socket` is closed (destroyed and its handle released). Returns a
 * function that cancels the call.
 */
export function onClose(socket: Duplex, fn: () => void): () => void {
  return once(socket, socket.closed, 'close', fn);
}

function once(socket: Duplex, past: boolean, event: 'end' | 'close', fn: () => void): () => void {
  if (past) {
    let cancelled = false;
    process.nextTick(() => cancelled || fn());
    return () => (cancelled = true);
  }
  socket.once(event, fn);
  return () => socket.off(event, fn);
}
