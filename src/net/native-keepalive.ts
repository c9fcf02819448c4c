/**
 * Loads `net-keepalive` (per-socket TCP options through ffi-rs, a native module), on
 * demand: `require`d from the package's dependencies, outside the CLI bundle. The
 * single-file executable has no dependencies on disk: its build (`scripts/build-exe.ts`)
 * puts in this module's place one that bundles `net-keepalive` and loads ffi-rs's
 * native part from the executable itself.
 */
import { createRequire } from 'node:module';

/** The `net-keepalive` module. */
export type NetKeepalive = typeof import('net-keepalive');

/** `net-keepalive`, loaded now; throws if it cannot load (a missing or foreign native module). */
export function requireNetKeepalive(): NetKeepalive {
  return createRequire(import.meta.url)('net-keepalive') as NetKeepalive;
}
