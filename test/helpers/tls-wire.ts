/**
 * Reading a TLS 1.3 handshake off the wire, as a relay sees it: whether a connection
 * is TLS at all, and whether the server resumed a session (its ServerHello, sent in
 * the clear, carries the `pre_shared_key` extension only when it accepts a ticket).
 */

/** TLS record type of a handshake. */
const HANDSHAKE = 0x16;
/** Handshake message type of a ServerHello. */
const SERVER_HELLO = 2;
/** Extension type `pre_shared_key` (RFC 8446 4.2.11). */
const PRE_SHARED_KEY = 41;

/** Whether `bytes`, the start of what one side sent, is a TLS handshake record. */
export function startsTls(bytes: Buffer): boolean {
  return bytes.length >= 5 && bytes[0] === HANDSHAKE && bytes[1] === 3;
}

/**
 * Whether the server accepted a session to resume: its ServerHello (the first record of
 * `bytes`, the start of what the server sent) carries `pre_shared_key`. Throws if
 * `bytes` do not start with a ServerHello.
 */
export function serverResumed(bytes: Buffer): boolean {
  if (!startsTls(bytes)) throw new Error(`not a TLS handshake record: ${bytes.subarray(0, 8).toString('hex')}`);
  const record = bytes.subarray(5, 5 + bytes.readUInt16BE(3));
  if (record[0] !== SERVER_HELLO) throw new Error(`not a ServerHello: handshake type ${record[0]}`);
  // Handshake header (4), legacy_version (2), random (32), session id (1 + its length),
  // cipher suite (2), compression method (1), then the extensions (2 + their length).
  let at = 4 + 2 + 32;
  at += 1 + record[at]!;
  at += 2 + 1;
  const end = at + 2 + record.readUInt16BE(at);
  for (at += 2; at < end; at += 4 + record.readUInt16BE(at + 2)) {
    if (record.readUInt16BE(at) === PRE_SHARED_KEY) return true;
  }
  return false;
}
