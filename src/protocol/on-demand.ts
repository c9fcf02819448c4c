/**
 * Node's `crypto`, `tls`, `util` and `dns`, loaded when first used rather than when a module
 * that may use them is imported. Loading them costs some 15 ms of a start (crypto alone 8 ms:
 * its ES module facade reads every export, webcrypto included), and a server without TLS
 * needs neither before its first client (then `crypto`, for ids), a client without TLS
 * or a secret neither at all. `process.getBuiltinModule` (Node 20.16, 22.3) returns the
 * module as `require` would; it is kept here after the first call, so the server's id per
 * visitor costs a property read. `util` is loaded with Node, but the ES facade an import
 * builds (and a bundle's copy of its exports) reads its lazy exports, `TextDecoder` and
 * `parseArgs` among them, which load some 30 modules more (worker_threads, streams).
 * `dns` (1.2 ms and 50 KB of a start, with its resolver classes) only when a name is
 * looked up: never for a server and a local service given as addresses. And a clock for
 * intervals that loads nothing ({@link monotonicMs}).
 */
import type * as Crypto from 'node:crypto';
import type * as Dns from 'node:dns';
import type * as Tls from 'node:tls';
import type * as Util from 'node:util';

let crypto: typeof Crypto | undefined;
let tls: typeof Tls | undefined;
let util: typeof Util | undefined;
let dns: typeof Dns | undefined;

/** Node's `crypto` module, loaded on the first call. */
export function nodeCrypto(): typeof Crypto {
  return (crypto ??= process.getBuiltinModule('node:crypto'));
}

/** Node's `tls` module, loaded on the first call. */
export function nodeTls(): typeof Tls {
  return (tls ??= process.getBuiltinModule('node:tls'));
}

/** Node's `util` module, without reading its lazy exports. */
export function nodeUtil(): typeof Util {
  return (util ??= process.getBuiltinModule('node:util'));
}

/** Node's `dns` module, loaded on the first call. */
export function nodeDns(): typeof Dns {
  return (dns ??= process.getBuiltinModule('node:dns'));
}

/** A random UUID (`crypto.randomUUID`), `crypto` loaded on the first call. */
export function randomId(): string {
  return nodeCrypto().randomUUID();
}

/**
 * Milliseconds on Node's monotonic clock (`process.hrtime.bigint`, from an arbitrary
 * origin): for intervals and deadlines, as `performance.now()` is used elsewhere. The
 * `performance` global loads `perf_hooks` at its first read (seven modules: 128 KB of
 * allocation and some 0.6 MB of an idle client's resident memory, bench/README.md), which
 * neither a client nor a server needs for anything else.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
