/**
 * Public connections waiting for their data connection (`Accept(id)`), across all
 * tunnels: each expires after a deadline, and each tunnel keeps at most a fixed number,
 * so a flood of public connections cannot pile up. A full tunnel pauses its public
 * listener (the visitors wait in the kernel's backlog and their SYN retries) and resumes
 * it once a quarter of its places are free again; only where the listener cannot pause
 * is the oldest connection dropped instead.
 */
import { monotonicMs, randomId } from '../protocol/on-demand.js';
import type { Socket } from 'node:net';
import type { Logger } from '../log/logger.js';
import { onClose } from '../net/socket-events.js';
import { formatPeer } from '../net/address.js';
import type { PublicConnection } from './connection.js';

/** The unclaimed connections of one tunnel, oldest first, and how its listener pauses. */
export class PendingGroup extends Set<string> {
  /** Stops the tunnel's accepting; false where it cannot (then the oldest is dropped). */
  pause: () => boolean = () => false;
  /** Starts the tunnel's accepting again. */
  resume: () => void = () => {};
  /** Whether {@link pause} succeeded and no resume followed. */
  paused = false;
}

interface Entry {
  /** The connection; its `peer` is read only for `onUnclaimed`. */
  conn: PublicConnection;
  group: PendingGroup;
  timer: NodeJS.Timeout;
}

/** Called, when set, for each public connection that ends without being claimed. */
export type OnUnclaimed = (conn: PublicConnection) => void;

/** Limits of a {@link PendingConnections}. */
export interface PendingLimits {
  /** Unclaimed connections kept per tunnel; the tunnel's listener pauses at it. */
  maxPerTunnel: number;
  /** How long a connection waits for its `Accept` before it is closed. */
  expiryMs: number;
}

/** The registry of unclaimed public connections, keyed by the id sent to the client. */
export class PendingConnections {
  readonly #entries = new Map<string, Entry>();
  readonly #limits: PendingLimits;
  readonly #log: Logger;
  readonly #onUnclaimed: OnUnclaimed | undefined;
  /** Public connections that ended without being claimed (dropped, expired or closed by the visitor). */
  unclaimed = 0;
  /** Public connections ever registered (every public connection a tunnel accepted). */
  added = 0;

  constructor(limits: PendingLimits, log: Logger, onUnclaimed?: OnUnclaimed) {
    if (!(limits.maxPerTunnel >= 1)) throw new RangeError(`maxPendingPerTunnel must be at least 1, got ${limits.maxPerTunnel}`);
    this.#limits = limits;
    this.#log = log;
    this.#onUnclaimed = onUnclaimed;
  }

  /** Number of unclaimed connections over all tunnels. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Registers `socket`, a public connection of the tunnel on `port` (whose client is at
   * `client`), and returns its new
   * id; pauses the group's listener once the group is full. Where it could not pause,
   * drops the group's oldest connection first if the group is full (a paused group takes
   * the few its listener had accepted before the pause).
   */
  add(group: PendingGroup, port: number, client: string, socket: Socket): string {
    if (group.size >= this.#limits.maxPerTunnel && !group.paused) {
      const oldest = group.values().next().value as string;
      this.#log.warn('too many unclaimed connections, dropping the oldest', { port, id: oldest, max: this.#limits.maxPerTunnel });
      this.drop(oldest);
    }
    const id = randomId();
    this.added++;
    const timer = setTimeout(() => {
      if (this.#entries.has(id)) {
        this.#log.warn('removed stale connection', { port, id });
        this.drop(id);
      }
    }, this.#limits.expiryMs);
    const peer = this.#onUnclaimed ? formatPeer(socket) : '';
    this.#entries.set(id, { conn: { visitor: socket, port, id, client, since: monotonicMs(), peer }, group, timer });
    group.add(id);
    if (group.size >= this.#limits.maxPerTunnel && !group.paused && group.pause()) {
      group.paused = true;
      this.#log.info('too many unclaimed connections: accepting paused until the client claims some', {
        port,
        max: this.#limits.maxPerTunnel,
      });
    }
    onClose(socket, () => {
      const entry = this.#remove(id);
      if (entry) this.#ended(entry);
    });
    return id;
  }

  /**
   * Removes connection `id` and hands it over; `undefined` if the id is unknown, expired,
   * or its socket already closed.
   */
  claim(id: string): PublicConnection | undefined {
    const entry = this.#remove(id);
    if (!entry) return undefined;
    if (entry.conn.visitor.destroyed) {
      this.#ended(entry);
      return undefined;
    }
    return entry.conn;
  }

  /** Whether `id` is an unclaimed connection waiting for its `Accept`. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** Closes connection `id` if it is still unclaimed. */
  drop(id: string): void {
    const entry = this.#remove(id);
    if (!entry) return;
    entry.conn.visitor.destroy();
    this.#ended(entry);
  }

  /** Counts (and reports, if asked to) a connection that ended unclaimed. */
  #ended(entry: Entry): void {
    this.unclaimed++;
    this.#onUnclaimed?.(entry.conn);
  }

  /** Closes every unclaimed connection of a group (its tunnel is gone). */
  dropGroup(group: PendingGroup): void {
    for (const id of [...group]) this.drop(id);
  }

  #remove(id: string): Entry | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    const group = entry.group;
    group.delete(id);
    clearTimeout(entry.timer);
    if (group.paused && group.size <= (this.#limits.maxPerTunnel * 3) / 4) {
      group.paused = false;
      group.resume();
      this.#log.debug('accepting again', { port: entry.conn.port, unclaimed: group.size });
    }
    return entry;
  }
}
