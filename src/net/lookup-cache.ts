/**
 * A short memo of the system resolver's answers for `net.connect`'s `lookup` option.
 * Every public connection opens one connection to the local service (`localhost` by
 * default) and, off the pool, one to the server by name: each a `getaddrinfo` on libuv's
 * thread pool. Measured on loopback, 5,000 short connections: the client spent 652 ms of
 * CPU per 1,000 with `--local-host localhost` against 516 ms with `127.0.0.1`, the lookup
 * being the whole difference. A name is resolved at most once per {@link LOOKUP_TTL_MS}, so
 * an edit of `/etc/hosts` or a DNS change is seen within a second; failures are never kept.
 * Written here rather than taken from `cacheable-lookup`, which queries DNS itself
 * (`dns.resolve*`, with its own TTL and hosts-file logic): the need is only to ask the
 * system's resolver, as `net.connect` does, less often.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import { type LookupFunction, isIPv4 } from 'node:net';
import { monotonicMs, nodeDns } from '../protocol/on-demand.js';

/** How long an answer is reused, ms. */
export const LOOKUP_TTL_MS = 1000;

/** The resolver a cache asks (`dns.lookup`'s signature with options). */
export type Resolver = (
  hostname: string,
  options: LookupOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

interface Entry {
  at: number;
  address: string | LookupAddress[];
  family: number | undefined;
}

/**
 * A `lookup` for `net.connect` that reuses an answer for `ttlMs`. `resolve` and `now` are
 * injected by tests; by default `dns.lookup` (`dns` loaded at the first lookup) and `monotonicMs`.
 */
export function cachedLookup(
  ttlMs = LOOKUP_TTL_MS,
  resolve: Resolver = (hostname, options, callback) => nodeDns().lookup(hostname, options, callback),
  now: () => number = monotonicMs,
): LookupFunction {
  const answers = new Map<string, Entry>();
  return ((hostname: string, options: LookupOptions, callback: (...args: unknown[]) => void) => {
    const key = `${hostname}\0${options.family ?? 0}\0${options.all ? 1 : 0}\0${options.hints ?? 0}\0${String(options.order ?? options.verbatim ?? '')}`;
    const hit = answers.get(key);
    if (hit && now() - hit.at < ttlMs) {
      process.nextTick(callback, null, hit.address, hit.family);
      return;
    }
    resolve(hostname, options, (err, address, family) => {
      if (err) answers.delete(key);
      // Bounded by the names one process connects to (the server, the local services).
      else answers.set(key, { at: now(), address, family });
      callback(err, address, family);
    });
  }) as LookupFunction;
}

/** The process's cache, used by every connection to the server and to the local service. */
export const sharedLookup: LookupFunction = cachedLookup();

/**
 * Asks the resolver for `host` once through {@link sharedLookup}, the answer unused, so that
 * what a first lookup costs (loading `dns`, starting libuv's thread pool, the resolver's
 * first read of its configuration) is paid before a visitor waits on it. Nothing for an
 * address, which is never looked up. `lookup` is injected by tests.
 */
export function warmLookup(host: string, lookup: LookupFunction = sharedLookup): void {
  if (!isAddress(host)) lookup(host, {}, () => {});
}

/**
 * Whether `host` is an IP address: IPv4 by `net.isIPv4`, IPv6 by its colon (no name has
 * one). Not `net.isIP`: for a name it runs the IPv6 pattern, a regular expression V8
 * compiles to bytecode at its first run and to machine code at its second. `dns.lookup`
 * runs it once for the name anyway; a call here made that one the second compile: 0.3 MB
 * of an idle client's memory for a question a colon answers.
 */
function isAddress(host: string): boolean {
  return host.includes(':') || isIPv4(host);
}
