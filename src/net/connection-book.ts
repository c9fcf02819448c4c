/**
 * The books of a tunnel's public connections, kept by the client's proxies actor (and
 * read by the inspector, hence here, below both): the open ones
 * (with their two sockets, for the drain on stop), plain counters (opened, closed, bytes
 * of the closed ones), and a bounded ring of the most recently closed ones. Nothing here
 * runs per byte: a connection costs one entry when it opens and one update when it
 * closes; its bytes are read from its local socket's own counters (`bytesWritten`:
 * visitor to service, `bytesRead`: service to visitor) only when someone samples the
 * books ({@link ConnectionBook.sample}, the inspector page once a second).
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { onEnd } from './socket-events.js';

/** One public connection as the books show it. */
export interface ConnectionRecord {
  /** The server's id of the public connection. */
  readonly id: string;
  /** Epoch ms when it reached the local service. */
  readonly openedAt: number;
  /** Epoch ms when both of its sockets had closed (open ones: undefined). */
  closedAt?: number;
  /** Bytes from the visitor to the local service. */
  bytesIn: number;
  /** Bytes from the local service to the visitor. */
  bytesOut: number;
  /** How it ended: `visitor closed`, `service closed`, or an error and its side (open ones: undefined). */
  end?: string;
}

/** What {@link ConnectionBook.sample} returns: the counters now and the connections to list. */
export interface ConnectionSample {
  /** Epoch ms of the sample. */
  time: number;
  /** Connections opened and closed since the tunnel started. */
  opened: number;
  closed: number;
  /** Connections open now. */
  open: number;
  /** Bytes each way since the tunnel started, open connections included. */
  bytesIn: number;
  bytesOut: number;
  /** The most recently opened connections still open (at most `limit`), newest first. */
  openList: ConnectionRecord[];
  /** The most recently closed connections, newest first. */
  recent: ConnectionRecord[];
}

/** An open connection: its record, its sockets, and what was seen of its end so far. */
interface OpenEntry {
  readonly record: ConnectionRecord;
  /** The connection to the server (a data connection, or a stream of the multiplexed one). */
  readonly remote: Duplex;
  readonly local: Socket;
  /** Which side's FIN came first, if any. */
  ended?: 'visitor closed' | 'service closed';
}

/** The books of one tunnel's public connections; see the module comment. */
export class ConnectionBook {
  /** Closed connections kept for the inspector. */
  static readonly RECENT = 50;

  /** Open connections, in the order they opened (a Set keeps insertion order). */
  readonly #open = new Set<OpenEntry>();
  readonly #recent: ConnectionRecord[] = [];
  /** Where the next closed connection goes in {@link #recent} (a ring once full). */
  #next = 0;
  #opened = 0;
  #closed = 0;
  #closedIn = 0;
  #closedOut = 0;
  readonly #now: () => number;

  /** `now`: the clock of the records (the runtime's). */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** Records public connection `id`, joined to the local service; returns the function to call once both sockets closed. */
  open(id: string, remote: Duplex, local: Socket): () => void {
    const entry: OpenEntry = { record: { id, openedAt: this.#now(), bytesIn: 0, bytesOut: 0 }, remote, local };
    this.#open.add(entry);
    this.#opened++;
    onEnd(remote, () => (entry.ended ??= 'visitor closed'));
    onEnd(local, () => (entry.ended ??= 'service closed'));
    return () => this.#close(entry);
  }

  #close(entry: OpenEntry): void {
    if (!this.#open.delete(entry)) return;
    const r = entry.record;
    r.closedAt = this.#now();
    readBytes(entry);
    r.end = endOf(entry);
    this.#closed++;
    this.#closedIn += r.bytesIn;
    this.#closedOut += r.bytesOut;
    this.#recent[this.#next] = r;
    this.#next = (this.#next + 1) % ConnectionBook.RECENT;
  }

  /** Connections open now. */
  get size(): number {
    return this.#open.size;
  }

  /** Both sockets of every open connection (for the drain on stop). */
  sockets(): Duplex[] {
    const out: Duplex[] = [];
    for (const e of this.#open) out.push(e.remote, e.local);
    return out;
  }

  /** The counters now, the newest `limit` open connections and the recently closed ones (reads every open socket's counters once). */
  sample(limit = 50): ConnectionSample {
    let bytesIn = this.#closedIn;
    let bytesOut = this.#closedOut;
    const open: ConnectionRecord[] = [];
    for (const e of this.#open) {
      readBytes(e);
      bytesIn += e.record.bytesIn;
      bytesOut += e.record.bytesOut;
      open.push(e.record);
    }
    const recent = [...this.#recent.slice(this.#next), ...this.#recent.slice(0, this.#next)].reverse();
    return {
      time: this.#now(),
      opened: this.#opened,
      closed: this.#closed,
      open: this.#open.size,
      bytesIn,
      bytesOut,
      openList: open
        .slice(-limit)
        .reverse()
        .map((r) => ({ ...r })),
      recent: recent.map((r) => ({ ...r })),
    };
  }
}

/** Copies the local socket's byte counters (kept by Node) into the record. */
function readBytes(entry: OpenEntry): void {
  entry.record.bytesIn = entry.local.bytesWritten;
  entry.record.bytesOut = entry.local.bytesRead;
}

/** How a connection ended: an error on either side first, else the side whose FIN came first. */
function endOf(entry: OpenEntry): string {
  const remoteError = errorCode(entry.remote.errored);
  const localError = errorCode(entry.local.errored);
  if (remoteError) return `${remoteError} (server side)`;
  if (localError) return `${localError} (service side)`;
  return entry.ended ?? 'cut';
}

/** The `code` of a socket's error (`ECONNRESET`), if it failed. */
function errorCode(error: Error | null): string | undefined {
  return error ? ((error as NodeJS.ErrnoException).code ?? error.message) : undefined;
}
