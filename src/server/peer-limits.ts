/**
 * Per-address bookkeeping of the server: how many tunnels each peer address holds, and
 * its recent failed handshakes, with a cool-down once they pass a limit. Time comes
 * from an injectable clock, so tests need no sleeping. Memory stays bounded: failure
 * entries expire, and past `maxTracked` addresses the least recently failing is
 * forgotten; tunnel counts exist only while the address holds a tunnel.
 */

/** Default cap on tunnels per address. */
export const MAX_TUNNELS_PER_ADDR = 16;
/** Default number of failed handshakes from one address that starts a cool-down. */
export const MAX_AUTH_FAILURES = 10;
/** Default window in which those failures are counted, and length of the cool-down. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Default bound on the addresses whose failures are remembered. */
export const MAX_TRACKED_ADDRESSES = 10_000;

/** Limits of a {@link PeerLimits}. */
export interface PeerLimitOptions {
  /** Tunnels one address may hold at once; 0 for no limit. */
  maxTunnels: number;
  /** Failed handshakes within `windowMs` that start a cool-down; 0 disables it. */
  maxFailures: number;
  /** Window in which failures are counted, and length of the cool-down (ms). */
  windowMs: number;
  /** Addresses whose failures are remembered at most (default {@link MAX_TRACKED_ADDRESSES}). */
  maxTracked?: number;
  /** Clock in ms (default `performance.now`). */
  now?: () => number;
}

interface FailureEntry {
  /** Times of the failures within the window, oldest first. */
  times: number[];
  /** End of the cool-down, 0 if none. */
  blockedUntil: number;
  /** When the entry can be forgotten. */
  expires: number;
}

/** The address a limit applies to: an IPv4-mapped IPv6 address counts as its IPv4 address. */
export function peerKey(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** Per-address tunnel counts and failed-handshake cool-downs. */
export class PeerLimits {
  readonly #opts: Required<PeerLimitOptions>;
  readonly #tunnels = new Map<string, number>();
  /** Failure entries, least recently failed first (an entry is moved to the end on each failure). */
  readonly #failures = new Map<string, FailureEntry>();

  constructor(options: PeerLimitOptions) {
    const { maxTunnels, maxFailures, windowMs } = options;
    if (!(Number.isInteger(maxTunnels) && maxTunnels >= 0))
      throw new RangeError(`maxTunnelsPerAddr must be a whole number of at least 0, got ${maxTunnels}`);
    if (!(Number.isInteger(maxFailures) && maxFailures >= 0))
      throw new RangeError(`maxAuthFailures must be a whole number of at least 0, got ${maxFailures}`);
    if (!(windowMs > 0)) throw new RangeError(`authFailureWindowMs must be above 0, got ${windowMs}`);
    this.#opts = { maxTracked: MAX_TRACKED_ADDRESSES, now: () => performance.now(), ...options };
  }

  /**
   * Counts a tunnel for `address` if it is below the cap. Returns the function that
   * gives the slot back (safe to call twice), or undefined when the cap is reached.
   */
  reserveTunnel(address: string): (() => void) | undefined {
    const key = peerKey(address);
    const held = this.#tunnels.get(key) ?? 0;
    if (this.#opts.maxTunnels > 0 && held >= this.#opts.maxTunnels) return undefined;
    this.#tunnels.set(key, held + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#tunnels.get(key) ?? 1) - 1;
      if (left > 0) this.#tunnels.set(key, left);
      else this.#tunnels.delete(key);
    };
  }

  /** Tunnels `address` holds. */
  tunnels(address: string): number {
    return this.#tunnels.get(peerKey(address)) ?? 0;
  }

  /** Whether `address` is in a cool-down: its connections are to be closed unanswered. */
  isBlocked(address: string): boolean {
    return (this.#failures.get(peerKey(address))?.blockedUntil ?? 0) > this.#opts.now();
  }

  /**
   * Records a failed handshake from `address`. Returns true when this failure starts a
   * cool-down (the caller logs it once); failures during a cool-down are ignored.
   */
  recordFailure(address: string): boolean {
    const { maxFailures, windowMs, maxTracked } = this.#opts;
    if (maxFailures === 0) return false;
    const now = this.#opts.now();
    this.#expire(now);
    const key = peerKey(address);
    const entry = this.#failures.get(key) ?? { times: [], blockedUntil: 0, expires: 0 };
    if (entry.blockedUntil > now) return false;
    entry.times = entry.times.filter((t) => t > now - windowMs);
    entry.times.push(now);
    const blocks = entry.times.length >= maxFailures;
    if (blocks) {
      entry.times = [];
      entry.blockedUntil = now + windowMs;
    }
    // Window and cool-down have the same length, so an entry expires `windowMs` after
    // its last failure, and moving it to the end keeps the map ordered by expiry.
    entry.expires = now + windowMs;
    this.#failures.delete(key);
    if (this.#failures.size >= maxTracked) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(key, entry);
    return blocks;
  }

  /** Addresses whose failures are currently remembered. */
  get trackedAddresses(): number {
    return this.#failures.size;
  }

  /** Forgets expired entries; they sit at the front of the map. */
  #expire(now: number): void {
    for (const [key, entry] of this.#failures) {
      if (entry.expires > now) break;
      this.#failures.delete(key);
    }
  }
}
