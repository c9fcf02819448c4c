/**
 * Per-address bookkeeping of the server: how many tunnels each peer address holds, and
 * its recent failed handshakes, with a cool-down once they pass a limit. Time comes
 * from an injectable clock, so tests need no sleeping. Memory stays bounded: failure
 * entries expire, and past `maxTracked` addresses the least recently failing is
 * forgotten; tunnel counts exist only while the address holds a tunnel.
 */
import { monotonicMs } from '../protocol/on-demand.js';

/** Default cap on tunnels per address. */
export const MAX_TUNNELS_PER_ADDR = 16;
/** Default number of failed handshakes from one address that starts a cool-down. */
export const MAX_AUTH_FAILURES = 10;
/** Default window in which those failures are counted, and length of the cool-down. */
export const AUTH_FAILURE_WINDOW_MS = 60_000;
/** Default bound on the addresses whose failures are remembered. */
export const MAX_TRACKED_ADDRESSES = 10_000;
/**
 * Data connections with an unknown id or pool token one address may open per window
 * before each further one counts as a failed handshake. Honest ones come from races (a
 * tunnel's pool joins in flight when its session ends, an `Accept` just after its
 * connection expired): at most a pool's worth per tunnel per reconnect.
 */
export const UNKNOWN_CLAIM_ALLOWANCE = 256;
/** Default length of the IPv6 prefix an address is counted by (a /64 is one subscriber's network). */
export const IPV6_PREFIX_LENGTH = 64;

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
  /** Unknown ids or tokens per window before they count as failures (default {@link UNKNOWN_CLAIM_ALLOWANCE}). */
  unknownClaimAllowance?: number;
  /** IPv6 addresses are counted by their first this many bits (default {@link IPV6_PREFIX_LENGTH}; 128: each address). */
  ipv6PrefixLength?: number;
  /** Clock in ms (default `monotonicMs`). */
  now?: () => number;
}

interface FailureEntry {
  /** Times of the failures within the window, oldest first. */
  times: number[];
  /** End of the cool-down, 0 if none. */
  blockedUntil: number;
  /** Data connections with an unknown id or token in the current window, and when it started. */
  unknown: number;
  unknownSince: number;
  /** When the entry can be forgotten. */
  expires: number;
}

/**
 * The address a limit applies to: an IPv4-mapped IPv6 address counts as its IPv4
 * address, and an IPv6 address as its first `ipv6PrefixLength` bits (`2001:db8:1:2::/64`),
 * since one subscriber gets a whole /64 and can use any address in it.
 */
export function peerKey(address: string, ipv6PrefixLength = IPV6_PREFIX_LENGTH): string {
  const lower = address.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice(7);
  // IPv4, loopback (one host) and a prefix of the whole address are counted as they are.
  if (!lower.includes(':') || lower === '::1' || ipv6PrefixLength >= 128) return lower;
  const groups = ipv6Groups(lower);
  if (!groups) return lower;
  const kept = groups.map((g, i) => {
    const bits = Math.min(16, Math.max(0, ipv6PrefixLength - i * 16));
    return bits === 16 ? g : bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
  // The URL parser writes the masked address in its canonical, compressed form.
  const canonical = new URL(`http://[${kept.map((g) => g.toString(16)).join(':')}]`).hostname.slice(1, -1);
  return `${canonical}/${ipv6PrefixLength}`;
}

/** The eight 16-bit groups of an IPv6 address (zone and embedded IPv4 allowed), or undefined. */
function ipv6Groups(address: string): number[] | undefined {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [left, right, ...rest] = text.split('::');
  if (rest.length > 0) return undefined;
  const parse = (part: string | undefined) => (part ? part.split(':').map((g) => parseInt(g, 16)) : []);
  const head = parse(left);
  const tail = parse(right);
  const fill = right === undefined ? 0 : 8 - head.length - tail.length;
  const groups = [...head, ...new Array<number>(Math.max(0, fill)).fill(0), ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** Per-address tunnel counts and failed-handshake cool-downs. */
export class PeerLimits {
  #opts: Required<PeerLimitOptions>;
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
    this.#opts = {
      maxTracked: MAX_TRACKED_ADDRESSES,
      unknownClaimAllowance: UNKNOWN_CLAIM_ALLOWANCE,
      ipv6PrefixLength: IPV6_PREFIX_LENGTH,
      now: monotonicMs,
      ...options,
    };
  }

  /** Tunnels one address may hold at once (0: no limit). */
  get maxTunnels(): number {
    return this.#opts.maxTunnels;
  }

  /** Changes the cap on tunnels per address (0: no limit); tunnels already open stay. */
  set maxTunnels(max: number) {
    if (!(Number.isInteger(max) && max >= 0)) throw new RangeError(`maxTunnelsPerAddr must be a whole number of at least 0, got ${max}`);
    this.#opts.maxTunnels = max;
  }

  /** The key `address` is counted under (see {@link peerKey}). */
  key(address: string): string {
    return peerKey(address, this.#opts.ipv6PrefixLength);
  }

  /**
   * Counts a tunnel for `address` if it is below the cap. Returns the function that
   * gives the slot back (safe to call twice), or undefined when the cap is reached.
   */
  reserveTunnel(address: string): (() => void) | undefined {
    const key = this.key(address);
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
    return this.#tunnels.get(this.key(address)) ?? 0;
  }

  /** Whether `address` is in a cool-down: its connections are to be closed unanswered. */
  isBlocked(address: string): boolean {
    return (this.#failures.get(this.key(address))?.blockedUntil ?? 0) > this.#opts.now();
  }

  /**
   * Records a failed handshake from `address`. Returns true when this failure starts a
   * cool-down (the caller logs it once); failures during a cool-down are ignored.
   */
  recordFailure(address: string): boolean {
    const { maxFailures, windowMs } = this.#opts;
    if (maxFailures === 0) return false;
    const now = this.#opts.now();
    const current = this.#failures.get(this.key(address));
    if (current && current.blockedUntil > now) return false;
    const entry = this.#entry(address, now);
    entry.times = entry.times.filter((t) => t > now - windowMs);
    entry.times.push(now);
    const blocks = entry.times.length >= maxFailures;
    if (blocks) {
      entry.times = [];
      entry.blockedUntil = now + windowMs;
    }
    return blocks;
  }

  /**
   * The failure entry of `address`, created if need be, moved to the end of the map and
   * kept `windowMs` from now. Window and cool-down have the same length, so the map
   * stays ordered by expiry; past `maxTracked` the entry that expires first goes.
   */
  #entry(address: string, now: number): FailureEntry {
    this.#expire(now);
    const key = this.key(address);
    const entry = this.#failures.get(key) ?? { times: [], blockedUntil: 0, expires: 0, unknown: 0, unknownSince: -Infinity };
    entry.expires = now + this.#opts.windowMs;
    this.#failures.delete(key);
    if (this.#failures.size >= this.#opts.maxTracked) this.#failures.delete(this.#failures.keys().next().value!);
    this.#failures.set(key, entry);
    return entry;
  }

  /**
   * Records a data connection from `address` whose id or token no session has. Returns
   * true when it is past the window's allowance: the caller records it as a failure.
   */
  recordUnknownClaim(address: string): boolean {
    if (this.#opts.maxFailures === 0) return false;
    const now = this.#opts.now();
    const entry = this.#failures.get(this.key(address));
    if (entry && now - entry.unknownSince < this.#opts.windowMs) {
      entry.unknown++;
      return entry.unknown > this.#opts.unknownClaimAllowance;
    }
    // A new window: kept in the failure's entry, which the first failure creates.
    if (this.#opts.unknownClaimAllowance === 0) return true;
    const fresh = this.#entry(address, now);
    fresh.unknown = 1;
    fresh.unknownSince = now;
    return false;
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
