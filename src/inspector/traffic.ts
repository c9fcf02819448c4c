/**
 * The inspector's view of each tunnel's traffic: samples the books of its public
 * connections (`ConnectionBook`, kept by the proxies actor) when asked, once a second
 * while a page is open, and keeps a bounded history of rates for the page's chart. The
 * tunnel's hot path knows nothing of it: a sample reads counters Node and the books
 * already keep.
 */
import type { ConnectionBook, ConnectionRecord } from '../net/connection-book.js';

/** One point of a tunnel's traffic chart: rates over the interval before `time`. */
export interface TrafficPoint {
  /** Epoch ms of the sample. */
  time: number;
  /** Connections open at that time. */
  open: number;
  /** Bytes per second, visitor to service and back. */
  inRate: number;
  outRate: number;
  /** Connections opened per second. */
  connRate: number;
}

/** What the page gets of one tunnel's traffic (the `traffic` event, by tunnel name). */
export interface TunnelTraffic {
  /** Since the tunnel started: connections opened, closed and open, bytes each way. */
  totals: { opened: number; closed: number; open: number; bytesIn: number; bytesOut: number };
  /** The newest open connections (at most {@link TrafficSampler.LIST}), newest first. */
  open: ConnectionRecord[];
  /** The most recently closed connections, newest first. */
  recent: ConnectionRecord[];
  /** Chart points, oldest first: every kept one in a page's first event, else only the new one. */
  history: TrafficPoint[];
}

/** The `traffic` event: each tunnel's traffic by name (`''`: a single tunnel), and whether `history` is whole. */
export interface TrafficEvent {
  time: number;
  full: boolean;
  tunnels: Record<string, TunnelTraffic>;
}

/** Samples the tunnels' books and keeps their chart's history; see the module comment. */
export class TrafficSampler {
  /** Chart points kept per tunnel: five minutes at one a second. */
  static readonly HISTORY = 300;
  /** Open connections listed per tunnel. */
  static readonly LIST = 50;

  readonly #books: () => Map<string, ConnectionBook>;
  readonly #history = new Map<string, TrafficPoint[]>();
  readonly #last = new Map<string, { time: number; opened: number; bytesIn: number; bytesOut: number }>();
  #latest: TrafficEvent | undefined;

  /** `books`: the books of every tunnel now, by name. */
  constructor(books: () => Map<string, ConnectionBook>) {
    this.#books = books;
  }

  /** Takes a sample of every tunnel: its new chart point in `history`. */
  sample(): TrafficEvent {
    const books = this.#books();
    const tunnels: Record<string, TunnelTraffic> = {};
    for (const name of this.#history.keys()) {
      if (books.has(name)) continue;
      this.#history.delete(name);
      this.#last.delete(name);
    }
    for (const [name, book] of books) {
      const s = book.sample(TrafficSampler.LIST);
      const before = this.#last.get(name);
      const seconds = before ? Math.max(0.001, (s.time - before.time) / 1000) : 1;
      const point: TrafficPoint = {
        time: s.time,
        open: s.open,
        inRate: before ? Math.max(0, s.bytesIn - before.bytesIn) / seconds : 0,
        outRate: before ? Math.max(0, s.bytesOut - before.bytesOut) / seconds : 0,
        connRate: before ? Math.max(0, s.opened - before.opened) / seconds : 0,
      };
      this.#last.set(name, { time: s.time, opened: s.opened, bytesIn: s.bytesIn, bytesOut: s.bytesOut });
      const history = this.#history.get(name) ?? [];
      history.push(point);
      if (history.length > TrafficSampler.HISTORY) history.shift();
      this.#history.set(name, history);
      const { opened, closed, open, bytesIn, bytesOut } = s;
      tunnels[name] = { totals: { opened, closed, open, bytesIn, bytesOut }, open: s.openList, recent: s.recent, history: [point] };
    }
    this.#latest = { time: Date.now(), full: false, tunnels };
    return this.#latest;
  }

  /** The latest sample with every kept chart point (a page's first `traffic` event); samples now if there is none yet. */
  whole(): TrafficEvent {
    const latest = this.#latest ?? this.sample();
    const tunnels: Record<string, TunnelTraffic> = {};
    for (const [name, t] of Object.entries(latest.tunnels)) tunnels[name] = { ...t, history: [...(this.#history.get(name) ?? [])] };
    return { ...latest, full: true, tunnels };
  }
}
