/**
 * Draining on stop, for client and server alike: let open connections finish, up to a
 * deadline, then cut the rest.
 */
import type { Duplex } from 'node:stream';
import { onClose } from './socket-events.js';

/**
 * Waits until every socket of `sockets` has closed, or destroys those still open after
 * `ms`. Resolves with how many it cut: those not yet destroyed at the deadline (0 when
 * all closed in time).
 */
export async function drainSockets(sockets: Iterable<Duplex>, ms: number): Promise<number> {
  const open = [...sockets].filter((s) => !s.closed);
  if (open.length === 0) return 0;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(open.map((s) => new Promise<void>((r) => onClose(s, r)))),
    new Promise((r) => (timer = setTimeout(r, ms))),
  ]);
  clearTimeout(timer);
  const left = open.filter((s) => !s.destroyed);
  for (const s of left) s.destroy();
  return left.length;
}
