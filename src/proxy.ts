/**
 * The hot path: bytes between two sockets, both ways, with backpressure (stream
 * `pipe`), half-close passed through (one side's FIN ends the other's writes), and
 * both sockets destroyed as soon as either fails. No logging, no per-chunk work.
 */
import type { Socket } from 'node:net';

/**
 * Pipes `a` and `b` into each other; `head` (bytes already read from `a`) is written
 * to `b` first. Resolves when both sockets are closed; never rejects.
 */
export function proxy(a: Socket, b: Socket, head?: Buffer): Promise<void> {
  return new Promise((resolve) => {
    let open = 2;
    const onClose = () => {
      if (--open === 0) resolve();
    };
    const fail = () => {
      a.destroy();
      b.destroy();
    };
    for (const s of [a, b]) {
      if (s.closed) onClose();
      else s.on('close', onClose);
      s.on('error', fail);
    }
    if (a.destroyed || b.destroyed) fail();
    if (head && head.length > 0) b.write(head);
    a.pipe(b);
    b.pipe(a);
  });
}
