/**
 * Loads `net-keepalive` (per-socket TCP options through ffi-rs, a native module), and
 * ffi-rs itself, on demand: `require`d from the package's dependencies, outside the CLI bundle. The
 * single-file executable has no dependencies on disk: its build (`scripts/build-exe.ts`)
 * puts in this module's place one that bundles `net-keepalive` and loads ffi-rs's
 * native part from the executable itself.
 */
import { createRequire } from 'node:module';

/** The `ffi-rs` module (calls into libc: the public listeners' pause). */
export type FfiRs = typeof import('ffi-rs');

/** `ffi-rs`, the foreign-function module `net-keepalive` is built on, loaded now; throws if it cannot load. */
export function requireFfiRs(): FfiRs {
  return createRequire(import.meta.url)('ffi-rs') as FfiRs;
}

/** The `net-keepalive` module. */
export type NetKeepalive = typeof import('net-keepalive');

/** `net-keepalive`, loaded now; throws if it cannot load (a missing or foreign native module). */
export function requireNetKeepalive(): NetKeepalive {
  return createRequire(import.meta.url)('net-keepalive') as NetKeepalive;
}
