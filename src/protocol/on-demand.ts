/**
 * Node's `crypto` and `tls`, loaded when first used rather than when a module that may
 * use them is imported. Loading them costs some 15 ms of a start (crypto alone 8 ms:
 * its ES module facade reads every export, webcrypto included), and a server without TLS
 * needs neither before its first client (then `crypto`, for ids), a client without TLS
 * or a secret neither at all. `process.getBuiltinModule` (Node 20.16, 22.3) returns the
 * module as `require` would; it is kept here after the first call, so the server's id per
 * visitor costs a property read.
 */
import type * as Crypto from 'node:crypto';
import type * as Tls from 'node:tls';

let crypto: typeof Crypto | undefined;
let tls: typeof Tls | undefined;

/** Node's `crypto` module, loaded on the first call. */
export function nodeCrypto(): typeof Crypto {
  return (crypto ??= process.getBuiltinModule('node:crypto'));
}

/** Node's `tls` module, loaded on the first call. */
export function nodeTls(): typeof Tls {
  return (tls ??= process.getBuiltinModule('node:tls'));
}

/** A random UUID (`crypto.randomUUID`), `crypto` loaded on the first call. */
export function randomId(): string {
  return nodeCrypto().randomUUID();
}
